from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers import mapping
from providers.base import State


@pytest.mark.parametrize(
    ("raw", "arch"),
    [
        ("x86_64", "x86_64"),
        ("AMD64", "x86_64"),
        ("arm64", "aarch64"),
        ("aarch64", "aarch64"),
        ("loong64", "loongarch64"),
        ("", ""),
        (None, ""),
    ],
)
def test_arch(raw: object, arch: str) -> None:
    assert mapping.normalize_arch(raw) == arch


@pytest.mark.parametrize(
    ("name", "arch"),
    [
        ("openEuler-22.03-LTS-aarch64", "aarch64"),
        ("CentOS-7-x86_64-GenericCloud", "x86_64"),
        ("kylin_v10_arm64.qcow2", "aarch64"),
        ("win2019-std", ""),
    ],
)
def test_arch_from_name(name: str, arch: str) -> None:
    assert mapping.arch_from_text(name) == arch


@pytest.mark.parametrize(
    ("raw", "vendor"),
    [
        ("GenuineIntel", "Intel"),
        ("AuthenticAMD", "AMD"),
        ("HygonGenuine", "Hygon"),
        ("HiSilicon", "Kunpeng"),
        ("Kunpeng", "Kunpeng"),
        ("Phytium", "Phytium"),
        ("Loongson", "Loongson"),
        ("  Shanghai  ", "Zhaoxin"),
        ("Intel", "Intel"),
        ("SomeNewVendor", "SomeNewVendor"),
        ("", ""),
    ],
)
def test_vendor(raw: str, vendor: str) -> None:
    assert mapping.normalize_vendor(raw) == vendor


def test_vendor_only_inferred_when_unambiguous() -> None:
    assert mapping.vendor_from_arch("loongarch64") == "Loongson"
    assert mapping.vendor_from_arch("x86_64") == ""  # Intel, AMD, Hygon or Zhaoxin: not guessed
    assert mapping.vendor_from_arch("aarch64") == ""


@pytest.mark.parametrize(
    ("candidates", "family"),
    [
        (("kylin",), "Kylin"),
        (("neokylin",), "NeoKylin"),
        (("uos",), "UOS"),
        (("UnionTech OS Server 20",), "UOS"),
        (("openeuler",), "openEuler"),
        (("EulerOS 2.0",), "EulerOS"),
        (("centos",), "CentOS"),
        (("rhel",), "RHEL"),
        (("windows",), "Windows"),
        (("win",), "Windows"),
        (("", "Windows Server 2019 DataCenter"), "Windows"),
        ((None, "ubuntu-22.04"), "Ubuntu"),
        (("银河麒麟高级服务器操作系统",), "Kylin"),
        (("",), ""),
    ],
)
def test_os_family(candidates: tuple[object, ...], family: str) -> None:
    assert mapping.normalize_os(*candidates) == family


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("ACTIVE", State.RUNNING),
        ("SHUTOFF", State.STOPPED),
        ("BUILD", State.PENDING),
        ("ERROR", State.ERROR),
        ("PAUSED", State.SUSPENDED),
        ("SUSPENDED", State.SUSPENDED),
        ("DELETED", State.TERMINATED),
        ("in-use", State.RUNNING),
        ("Bound", State.RUNNING),
        ("weird", State.UNKNOWN),
        (None, State.UNKNOWN),
    ],
)
def test_state(word: object, state: State) -> None:
    assert mapping.normalize_state(word) == state


def test_libcloud_node_state_values() -> None:
    from libcloud.compute.types import NodeState

    assert mapping.normalize_state(NodeState.RUNNING) == State.RUNNING
    assert mapping.normalize_state(NodeState.PAUSED) == State.SUSPENDED
    assert mapping.normalize_state(NodeState.STOPPED) == State.STOPPED


def test_cpu_info_and_tags_and_time() -> None:
    assert mapping.parse_cpu_info('{"arch": "aarch64", "vendor": "HiSilicon"}')["vendor"] == "HiSilicon"
    assert mapping.parse_cpu_info("not json") == {} and mapping.parse_cpu_info({"arch": "x"}) == {"arch": "x"}
    assert mapping.string_tags(
        [{"Key": "department", "Value": "市公安局"}, {"TagKey": "system", "TagValue": "雪亮"}]
    ) == {"department": "市公安局", "system": "雪亮"}
    assert mapping.string_tags({"mlps_level": 3, "nested": {"x": 1}}) == {"mlps_level": "3"}
    assert mapping.parse_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert mapping.parse_time("2013-06-24T11:20:13.000000") == datetime(2013, 6, 24, 11, 20, 13, tzinfo=UTC)
    assert mapping.parse_time("garbage") is None


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("Hygon C86 7285 32-core Processor", ("Hygon", "x86_64")),
        ("Kunpeng-920", ("Kunpeng", "aarch64")),
        ("Hi1620", ("Kunpeng", "aarch64")),
        ("Phytium FT-2000+/64", ("Phytium", "aarch64")),
        ("S2500", ("Phytium", "aarch64")),
        ("Loongson-3C5000L", ("Loongson", "loongarch64")),
        ("Loongson-3A4000", ("Loongson", "mips64el")),
        ("ZHAOXIN KaiXian KX-U6780A@2.7GHz", ("Zhaoxin", "x86_64")),
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", ("Intel", "x86_64")),
        ("AMD EPYC 7402 24-Core Processor", ("AMD", "x86_64")),
        ("arm", ("", "aarch64")),  # vSphere's HostCpuPackage.vendor on any ARM server
        ("Acme Quantum 9000", ("", "")),
    ],
)
def test_cpu_platform_from_model_strings(text: str, platform: tuple[str, str]) -> None:
    assert mapping.cpu_platform(text) == platform


def test_cpu_platform_takes_the_first_text_that_names_a_processor() -> None:
    assert mapping.cpu_platform("", None, "unknown", "hygon") == ("Hygon", "x86_64")
