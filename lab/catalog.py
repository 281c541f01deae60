"""Static facts of the Ganzhou-like estate: centers, clouds, departments, systems, images, hosts.

Names come from the city's digital-government plan (赣州市数字政府建设实施方案); the short
ASCII codes only exist so that VM host names stay valid DNS labels.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALES = ("small", "city", "large")


@dataclass(frozen=True, slots=True)
class CenterSpec:
    id: str
    name: str
    role: str
    site: str


CENTERS: tuple[CenterSpec, ...] = (
    CenterSpec("gz-prod", "赣州政务云生产中心", "production", "ganzhou"),
    CenterSpec("gz-dr", "同城灾备中心", "same-city-dr", "ganzhou"),
    CenterSpec("nc-dr", "异地灾备中心", "remote-dr", "nanchang"),
)
SITE_REGION = {"ganzhou": "ganzhou-1", "nanchang": "nanchang-1"}


@dataclass(frozen=True, slots=True)
class HostModel:
    """One server model: what a hypervisor of this cloud physically offers."""

    arch: str
    cpu_vendor: str  # hypervisor cpu_info vendor string, as libvirt reports it
    flavor_vendor: str  # flavor extra spec capabilities:cpu_info:vendor
    model: str
    sockets: int
    cores: int
    threads: int
    memory_mb: int
    local_gb: int

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores * self.threads


INTEL_6248R = HostModel("x86_64", "GenuineIntel", "Intel", "Intel Xeon Gold 6248R", 2, 24, 2, 786432, 7200)
INTEL_5218 = HostModel("x86_64", "GenuineIntel", "Intel", "Intel Xeon Gold 5218", 2, 16, 2, 524288, 4800)
AMD_7402 = HostModel("x86_64", "AuthenticAMD", "AMD", "AMD EPYC 7402", 2, 24, 2, 524288, 4800)
KUNPENG_920 = HostModel("aarch64", "HiSilicon", "Kunpeng", "Kunpeng-920", 2, 48, 1, 524288, 7200)
HYGON_7285 = HostModel("x86_64", "HygonGenuine", "Hygon", "Hygon C86 7285", 2, 32, 2, 524288, 7200)
PHYTIUM_S2500 = HostModel("aarch64", "Phytium", "Phytium", "Phytium S2500", 2, 64, 1, 524288, 4800)


@dataclass(frozen=True, slots=True)
class CloudSpec:
    name: str
    center: str
    pool: str  # legacy | xinchuang
    host_model: HostModel
    weight: float  # share of the scale's nodes
    county: str = ""  # county clouds mostly run that county's systems


NAMED_CLOUDS: tuple[CloudSpec, ...] = (
    CloudSpec("gov-huawei", "gz-prod", "legacy", INTEL_6248R, 0.30),
    CloudSpec("gov-inspur", "gz-dr", "legacy", INTEL_5218, 0.225),
    CloudSpec("county-h3c", "gz-prod", "legacy", AMD_7402, 0.175),
    CloudSpec("xc-kunpeng", "gz-prod", "xinchuang", KUNPENG_920, 0.175),
    CloudSpec("xc-hygon", "nc-dr", "xinchuang", HYGON_7285, 0.125),
)

# The large scale adds county clouds and more Xinchuang pools: 20 clouds in all.
EXTRA_CLOUDS: tuple[CloudSpec, ...] = (
    CloudSpec("county-ruijin", "gz-prod", "legacy", INTEL_5218, 1.0, "瑞金市"),
    CloudSpec("county-longnan", "gz-dr", "legacy", AMD_7402, 1.0, "龙南市"),
    CloudSpec("county-yudu", "gz-prod", "legacy", INTEL_5218, 1.0, "于都县"),
    CloudSpec("county-xingguo", "gz-dr", "legacy", INTEL_5218, 1.0, "兴国县"),
    CloudSpec("county-ningdu", "gz-prod", "legacy", AMD_7402, 1.0, "宁都县"),
    CloudSpec("county-nankang", "gz-dr", "legacy", INTEL_6248R, 1.0, "南康区"),
    CloudSpec("county-ganxian", "gz-prod", "legacy", INTEL_5218, 1.0, "赣县区"),
    CloudSpec("county-xinfeng", "gz-dr", "legacy", AMD_7402, 1.0, "信丰县"),
    CloudSpec("county-huichang", "nc-dr", "legacy", INTEL_5218, 1.0, "会昌县"),
    CloudSpec("xc-kunpeng-b", "gz-dr", "xinchuang", KUNPENG_920, 1.0),
    CloudSpec("xc-kunpeng-c", "nc-dr", "xinchuang", KUNPENG_920, 1.0),
    CloudSpec("xc-hygon-b", "gz-prod", "xinchuang", HYGON_7285, 1.0),
    CloudSpec("xc-hygon-c", "gz-dr", "xinchuang", HYGON_7285, 1.0),
    CloudSpec("xc-phytium-a", "gz-prod", "xinchuang", PHYTIUM_S2500, 1.0),
    CloudSpec("xc-phytium-b", "nc-dr", "xinchuang", PHYTIUM_S2500, 1.0),
)

# Total nodes per scale; large puts ~5,000 on each of its 20 clouds.
SCALE_NODES = {"small": 200, "city": 3000, "large": 100_000}


@dataclass(frozen=True, slots=True)
class ImageSpec:
    key: str
    name: str
    os_distro: str
    os_version: str
    os_family: str  # for tests and docs only; the API exposes os_distro
    weight: float
    windows: bool = False


LEGACY_IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("centos79", "CentOS-7.9-x86_64", "centos", "7.9", "CentOS", 0.42),
    ImageSpec("centos85", "CentOS-8.5-x86_64", "centos", "8.5", "CentOS", 0.08),
    ImageSpec("rhel79", "RHEL-7.9-x86_64", "rhel", "7.9", "RHEL", 0.14),
    ImageSpec("rhel86", "RHEL-8.6-x86_64", "rhel", "8.6", "RHEL", 0.10),
    ImageSpec("win2016", "Windows-Server-2016", "windows", "2016", "Windows", 0.14, True),
    ImageSpec("win2019", "Windows-Server-2019", "windows", "2019", "Windows", 0.12, True),
)
XINCHUANG_IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("kylin10sp2", "Kylin-Server-V10-SP2", "kylin", "V10 SP2", "Kylin", 0.25),
    ImageSpec("kylin10sp3", "Kylin-Server-V10-SP3", "kylin", "V10 SP3", "Kylin", 0.22),
    ImageSpec("uos20", "UOS-Server-20-1070e", "uos", "20", "UOS", 0.23),
    ImageSpec("openeuler2203", "openEuler-22.03-LTS-SP1", "openeuler", "22.03", "openEuler", 0.30),
)


@dataclass(frozen=True, slots=True)
class FlavorSpec:
    id: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    weight: float


FLAVORS: tuple[FlavorSpec, ...] = (
    FlavorSpec("c2m4", 2, 4096, 40, 0.22),
    FlavorSpec("c4m8", 4, 8192, 80, 0.34),
    FlavorSpec("c4m16", 4, 16384, 100, 0.12),
    FlavorSpec("c8m16", 8, 16384, 100, 0.16),
    FlavorSpec("c8m32", 8, 32768, 200, 0.10),
    FlavorSpec("c16m64", 16, 65536, 200, 0.06),
)


@dataclass(frozen=True, slots=True)
class SystemSpec:
    department: str
    name: str
    code: str
    mlps: int


COUNTY_CODES: dict[str, str] = {
    "章贡区": "zg",
    "南康区": "nk",
    "赣县区": "ganx",
    "信丰县": "xinf",
    "大余县": "dy",
    "上犹县": "sy",
    "崇义县": "cy",
    "安远县": "ay",
    "龙南市": "ln",
    "定南县": "dn",
    "全南县": "qn",
    "宁都县": "nd",
    "于都县": "yd",
    "兴国县": "xg",
    "会昌县": "hc",
    "寻乌县": "xw",
    "石城县": "shc",
    "瑞金市": "rj",
    "赣州经开区": "jkq",
    "蓉江新区": "rjxq",
}

CITY_SYSTEMS: tuple[SystemSpec, ...] = (
    SystemSpec("市行政审批局", "赣服通赣州分厅", "gft", 3),
    SystemSpec("市行政审批局", "赣政通赣州分厅", "gzt", 3),
    SystemSpec("市行政审批局", "一窗式综合受理平台", "ycsl", 3),
    SystemSpec("市行政审批局", "AI智能辅助审批平台", "aisp", 2),
    SystemSpec("市行政审批局", "电子证照库", "dzzz", 3),
    SystemSpec("市12345热线中心", "12345政务热线", "rx12345", 3),
    SystemSpec("市12345热线中心", "数智热线知识库", "rxzs", 2),
    SystemSpec("市城管局", "一网统管平台", "ywtg", 3),
    SystemSpec("市城管局", "数字城管平台", "szcg", 2),
    SystemSpec("市公安局", "雪亮工程视频平台", "xlgc", 4),
    SystemSpec("市公安局", "矛盾纠纷多元化解云平台", "mdjf", 3),
    SystemSpec("市自然资源局", "时空地理信息平台", "skdl", 3),
    SystemSpec("市自然资源局", "不动产登记系统", "bdc", 3),
    SystemSpec("市自然资源局", "国土空间基础信息平台", "gtkj", 3),
    SystemSpec("市住建局", "数字孪生可视平台", "szls", 2),
    SystemSpec("市住建局", "住房公积金管理系统", "gjj", 3),
    SystemSpec("市应急管理局", "综合监测预警平台", "jcyj", 3),
    SystemSpec("市应急管理局", "应急指挥调度系统", "yjzh", 3),
    SystemSpec("市生态环境局", "生态环境监测平台", "hjjc", 2),
    SystemSpec("市交通运输局", "智慧交通平台", "zhjt", 2),
    SystemSpec("市卫健委", "全民健康信息平台", "qmjk", 3),
    SystemSpec("市卫健委", "健康云平台", "jky", 3),
    SystemSpec("市医保局", "医保结算系统", "ybjs", 3),
    SystemSpec("市医保局", "医保智能监管平台", "ybjg", 3),
    SystemSpec("市人社局", "社会保险经办系统", "sbjb", 3),
    SystemSpec("市人社局", "就业创业服务平台", "jycy", 2),
    SystemSpec("市人社局", "人社一体化公共服务平台", "rsgg", 3),
    SystemSpec("市人社局", "劳动保障监察系统", "ldjc", 2),
    SystemSpec("市工信局", "工业互联网平台", "gyhlw", 2),
    SystemSpec("市工信局", "物联网管理平台", "wlw", 2),
    SystemSpec("市工信局", "区块链基础平台", "qkl", 2),
    SystemSpec("市市场监管局", "在线监管平台", "zxjg", 3),
    SystemSpec("市市场监管局", "市场主体登记系统", "sczt", 3),
    SystemSpec("市教育局", "智慧教育平台", "zhjy", 2),
    SystemSpec("市民政局", "社会救助系统", "shjz", 3),
    SystemSpec("市税务局", "电子税务局", "dzsw", 3),
    SystemSpec("市发展改革委", "经济运行数据分析系统", "jjyx", 2),
    SystemSpec("市发展改革委", "政务大数据平台", "zwdsj", 3),
    SystemSpec("市发展改革委", "一体化数据共享交换平台", "sjgx", 3),
    SystemSpec("市财政局", "预算管理一体化系统", "ysgl", 3),
    SystemSpec("市财政局", "政务云密码服务支撑平台", "mmfw", 4),
    SystemSpec("市统计局", "统计数据采集系统", "tjcj", 2),
    SystemSpec("市水利局", "水利监测预警系统", "sljc", 2),
    SystemSpec("市林业局", "森林防火监测系统", "slfh", 2),
    SystemSpec("市农业农村局", "智慧农业平台", "zhny", 1),
    SystemSpec("市文广新旅局", "智慧文旅平台", "zhwl", 1),
    SystemSpec("市文广新旅局", "政府门户网站", "mhwz", 2),
    SystemSpec("市消防救援支队", "消防指挥调度系统", "xfzh", 3),
)

# Every county/district runs a similar set; the names get the county prefix.
COUNTY_SYSTEM_TEMPLATES: tuple[tuple[str, str, int], ...] = (
    ("政务服务平台", "zwfw", 3),
    ("智慧城管平台", "zhcg", 2),
    ("融媒体中心", "rmt", 2),
    ("视频监控平台", "spjk", 3),
    ("门户网站", "mh", 2),
    ("智慧党建平台", "djpt", 1),
)

OWNERS: tuple[str, ...] = (
    "张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "黄敏", "赵强", "吴军", "周婷",
    "徐涛", "孙丽", "钟华", "曾勇", "谢斌", "邱霞", "廖杰", "温晓", "肖鹏", "赖燕",
)  # fmt: skip
