"""The lab over HTTP, through libcloud's own OpenStack driver (the adapter is not needed here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime

import pytest
import requests
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError, LibcloudError, MalformedResponseError

from lab.seed import build_estate
from tests.lab.conftest import Lab, call

pytestmark = pytest.mark.xdist_group("lab-server")


def _estate(lab: Lab):
    spec = json.loads((lab.dir / "lab.json").read_text())
    return build_estate(spec["scale"], seed=spec["seed"], now=datetime.fromisoformat(spec["now"]))


def test_libcloud_lists_every_kind_of_every_cloud(clean_faults: Lab) -> None:
    lab = clean_faults
    estate = _estate(lab)
    for cloud in estate.clouds:
        driver = lab.driver(cloud.name)
        nodes = driver.list_nodes()
        assert sorted(n.id for n in nodes) == sorted(s.id for s in cloud.servers)
        assert len(driver.list_sizes()) == len(cloud.flavors)
        assert len(driver.list_images()) == len(cloud.images)
        assert len(driver.list_volumes()) == len(cloud.volumes)
        assert len(driver.ex_list_networks()) == len(cloud.networks)
        assert len(driver.ex_list_snapshots()) == len(cloud.snapshots)
        node = nodes[0]
        assert set(node.extra["metadata"]) >= {"department", "system", "mlps_level", "owner"}
        assert node.extra["hypervisor_hostname"] and node.extra["availability_zone"]
        assert node.private_ips and node.created_at is not None
        size = driver.list_sizes()[0]
        assert size.extra["capabilities:cpu_info:arch"] == cloud.arch


def test_conventions_the_adapter_relies_on(clean_faults: Lab) -> None:
    lab = clean_faults
    hv = call(lab, "xc-kunpeng", "GET", "compute/v2.1/os-hypervisors/detail").json()["hypervisors"][0]
    cpu = json.loads(hv["cpu_info"])
    assert cpu["arch"] == "aarch64" and cpu["vendor"] == "HiSilicon" and cpu["model"] == "Kunpeng-920"
    assert hv["vcpus_used"] > 0 and hv["running_vms"] > 0 and hv["service"]["host"] == hv["hypervisor_hostname"]
    uptime = call(lab, "xc-kunpeng", "GET", f"compute/v2.1/os-hypervisors/{hv['id']}/uptime").json()
    assert "load average:" in uptime["hypervisor"]["uptime"]
    aggs = call(lab, "xc-kunpeng", "GET", "compute/v2.1/os-aggregates").json()["aggregates"]
    assert any(hv["hypervisor_hostname"] in a["hosts"] and a["metadata"]["rack"] for a in aggs)
    specs = call(lab, "xc-kunpeng", "GET", "compute/v2.1/flavors/c4m8/os-extra_specs").json()["extra_specs"]
    assert specs["capabilities:cpu_info:vendor"] == "Kunpeng"
    image = call(lab, "xc-kunpeng", "GET", "image/v2/images").json()["images"][0]
    assert image["architecture"] == "aarch64" and image["os_distro"] in {"kylin", "uos", "openeuler"}
    root = lab.provider("xc-kunpeng")["options"]["ex_force_auth_url"].rsplit("/", 2)[0]
    exposition = requests.get(f"{root}/_exporter/xc-kunpeng/metrics", timeout=10).text
    assert exposition.count("libvirt_domain_info_meta{") == sum(
        s["status"] == "ACTIVE" for s in call(lab, "xc-kunpeng", "GET", "compute/v2.1/servers/detail").json()["servers"]
    )


def test_cinder_encryption_and_neutron_rules(clean_faults: Lab) -> None:
    lab = clean_faults
    driver = lab.driver("xc-hygon")
    base = driver._get_volume_connection()
    types = base.request("/types").object["volume_types"]
    ciphers = {t["name"]: base.request(f"/types/{t['id']}/encryption").object.get("cipher") for t in types}
    assert ciphers == {"sata": None, "ssd": None, "ssd-luks": "aes-xts-plain64", "ssd-sm4": "sm4-xts"}
    vols = base.request("/volumes/detail").object["volumes"]
    assert {v["encrypted"] for v in vols} == {True, False}
    groups = call(lab, "gov-huawei", "GET", "network/v2.0/security-groups").json()["security_groups"]
    world = {
        r["port_range_min"] for g in groups for r in g["security_group_rules"] if r["remote_ip_prefix"] == "0.0.0.0/0"
    }
    assert {22, 3306, 3389} <= world
    node = driver.list_nodes()[0]
    ports = call(lab, "xc-hygon", "GET", f"network/v2.0/ports?device_id={node.id}").json()["ports"]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == node.private_ips


def test_wrong_password_is_refused(clean_faults: Lab) -> None:
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    options = clean_faults.provider("gov-huawei")["options"]
    driver = get_driver(Provider.OPENSTACK)("ganyun", "not-the-password", api_version="2.2", **options)
    with pytest.raises(InvalidCredsError):
        driver.list_nodes()
    resp = call(
        clean_faults, "gov-huawei", "GET", "compute/v2.1/servers/detail", headers={"X-Auth-Token": "gAAAA1.bad"}
    )
    assert resp.status_code == 401


def test_server_pagination_really_paginates(clean_faults: Lab) -> None:
    lab = clean_faults
    driver = lab.driver("gov-huawei")
    pages, ids, path = 0, [], "compute/v2.1/servers/detail?limit=7"
    while path:
        body = call(lab, "gov-huawei", "GET", path).json()
        pages += 1
        ids += [s["id"] for s in body["servers"]]
        assert len(body["servers"]) <= 7
        nxt = [link["href"] for link in body.get("servers_links", []) if link["rel"] == "next"]
        path = nxt[0].split("/gov-huawei/", 1)[1] if nxt else ""
    assert pages == -(-60 // 7)
    assert len(ids) == len(set(ids)) == 60
    # libcloud's own paginator follows the same links
    got = driver._paginated_request("/servers/detail", "servers", driver.connection, params={"limit": 7})
    assert [s["id"] for s in got["servers"]] == ids
    assert sorted(ids) == sorted(n.id for n in driver.list_nodes())


def test_glance_and_hypervisor_pagination(clean_faults: Lab) -> None:
    lab = clean_faults
    first = call(lab, "gov-inspur", "GET", "image/v2/images?limit=4").json()
    assert len(first["images"]) == 4 and "marker=" in first["next"]
    rest = call(lab, "gov-inspur", "GET", "image" + first["next"]).json()
    assert len(rest["images"]) == 2 and "next" not in rest
    hv = call(lab, "gov-inspur", "GET", "compute/v2.1/os-hypervisors/detail?limit=2").json()
    assert len(hv["hypervisors"]) == 2 and hv["hypervisors_links"][0]["rel"] == "next"
    bad = call(lab, "gov-inspur", "GET", "compute/v2.1/servers/detail?marker=nope")
    assert bad.status_code == 400


# --------------------------------------------------------------------------- faults


def test_http500_every_call_and_a_fraction(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("county-h3c", http500=None)
    with pytest.raises(BaseHTTPError) as info:
        lab.driver("county-h3c").list_nodes()
    assert info.value.code == 500
    assert len(lab.driver("gov-huawei").list_nodes()) == 60, "the other clouds are unaffected"
    lab.faults("county-h3c", clear=True, http500="0.5")
    codes = [call(lab, "county-h3c", "GET", "compute/v2.1/flavors").status_code for _ in range(10)]
    assert codes.count(500) == 5 and codes.count(200) == 5


def test_timeout_garbage_unauthorized_truncated(clean_faults: Lab) -> None:
    import requests

    lab = clean_faults
    lab.faults("county-h3c", timeout="3")
    with pytest.raises((requests.exceptions.Timeout, LibcloudError, OSError)):
        lab.driver("county-h3c", timeout=1).list_nodes()
    lab.faults("county-h3c", clear=True, garbage=None)
    with pytest.raises((MalformedResponseError, ValueError)):
        lab.driver("county-h3c").list_nodes()
    lab.faults("county-h3c", clear=True, unauthorized=None)
    with pytest.raises(InvalidCredsError):
        lab.driver("county-h3c").list_nodes()
    lab.faults("county-h3c", clear=True, truncated=None)
    first = call(lab, "county-h3c", "GET", "compute/v2.1/servers/detail")
    assert first.status_code == 200 and first.json()["servers_links"][0]["rel"] == "next"
    with pytest.raises((MalformedResponseError, ValueError)):
        lab.driver("county-h3c").list_nodes()


def test_forbidden_and_missing_kinds_leave_the_rest_readable(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("xc-hygon", forbidden="hypervisors,volumes", missing="networks")
    assert call(lab, "xc-hygon", "GET", "compute/v2.1/os-hypervisors/detail").status_code == 403
    assert call(lab, "xc-hygon", "GET", "compute/v2.1/os-aggregates").status_code == 403
    assert call(lab, "xc-hygon", "GET", "network/v2.0/networks").status_code == 404
    driver = lab.driver("xc-hygon")
    with pytest.raises(BaseHTTPError):
        driver.list_volumes()
    assert len(driver.list_nodes()) == 25


def test_latency_is_added_to_each_request(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("gov-inspur", latency_ms="400")
    # A lower bound only: a loaded machine can make this slower, never faster.
    start = time.monotonic()
    assert call(lab, "gov-inspur", "GET", "compute/v2.1/flavors").status_code == 200
    assert time.monotonic() - start >= 0.8  # the token request and the call both wait
    status = lab.faults("gov-inspur")
    assert status["gov-inspur"]["latency_ms"] == 400


# --------------------------------------------------------------------------- mutations


def _wait_status(driver, node_id: str, want: str) -> dict:
    for _ in range(100):
        server = driver.connection.request(f"/servers/{node_id}").object["server"]
        if server["status"] == want:
            return server
        time.sleep(0.05)
    raise AssertionError(f"server {node_id} never became {want}: {server['status']}")


def test_create_act_and_delete_a_server(clean_faults: Lab) -> None:
    lab = clean_faults
    driver = lab.driver("xc-kunpeng")
    size = next(s for s in driver.list_sizes() if s.id == "c4m8")
    image = next(i for i in driver.list_images() if i.extra["os_distro"] == "openeuler")
    meta = {"department": "市人社局", "system": "社会保险经办系统", "mlps_level": "3", "owner": "张伟"}
    node = driver.create_node(name="sbjb-app-99", size=size, image=image, ex_metadata=meta)
    assert node.state == "pending"
    server = _wait_status(driver, node.id, "ACTIVE")
    assert server["metadata"] == meta and server["OS-EXT-SRV-ATTR:hypervisor_hostname"]
    assert driver.ex_stop_node(node)
    _wait_status(driver, node.id, "SHUTOFF")
    with pytest.raises(BaseHTTPError) as info:
        driver.ex_stop_node(node)
    assert info.value.code == 409
    assert driver.ex_start_node(node)
    resp = call(lab, "xc-kunpeng", "POST", f"compute/v2.1/servers/{node.id}/metadata", json={"metadata": {"wave": "1"}})
    assert resp.json()["metadata"]["wave"] == "1" and resp.json()["metadata"]["owner"] == "张伟"
    assert driver.destroy_node(node)
    assert node.id not in {n.id for n in driver.list_nodes()}


def test_boot_error_and_no_valid_host(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("xc-hygon", boot_error=None)
    driver = lab.driver("xc-hygon")
    size = next(s for s in driver.list_sizes() if s.id == "c2m4")
    image = driver.list_images()[0]
    node = driver.create_node(name="boot-error-01", size=size, image=image)
    server = _wait_status(driver, node.id, "ERROR")
    assert "fault" in server
    driver.destroy_node(node)


def test_image_upload_download_round_trip(clean_faults: Lab) -> None:
    lab = clean_faults
    payload = bytes(range(256)) * 4096
    created = call(lab, "gov-inspur", "POST", "image/v2/images",
                   json={"name": "upload-test", "disk_format": "raw", "container_format": "bare",
                         "architecture": "x86_64", "os_distro": "centos"})  # fmt: skip
    assert created.status_code == 201 and created.json()["status"] == "queued"
    image_id = created.json()["id"]
    put = call(lab, "gov-inspur", "PUT", f"image/v2/images/{image_id}/file", data=payload,
               headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert put.status_code == 204
    meta = call(lab, "gov-inspur", "GET", f"image/v2/images/{image_id}").json()
    import hashlib

    assert meta["status"] == "active" and meta["size"] == len(payload)
    assert meta["checksum"] == hashlib.md5(payload).hexdigest()
    assert call(lab, "gov-inspur", "GET", f"image/v2/images/{image_id}/file").content == payload
    assert (lab.dir / "images" / "gov-inspur" / f"{image_id}.raw").read_bytes() == payload
    assert call(lab, "gov-inspur", "DELETE", f"image/v2/images/{image_id}").status_code == 204
    assert call(lab, "gov-inspur", "GET", f"image/v2/images/{image_id}").status_code == 404


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_create_image_copies_the_server_disk(clean_faults: Lab) -> None:
    lab = clean_faults
    driver = lab.driver("gov-huawei")
    node = next(n for n in driver.list_nodes() if n.name.startswith("sbjb-app"))
    image = driver.create_image(node, "sbjb-app-snap")
    assert image.extra["status"] == "active"
    disk = lab.dir / "disks" / "gov-huawei" / f"{node.id}.qcow2"
    copy = lab.dir / "images" / "gov-huawei" / f"{image.id}.qcow2"
    assert disk.exists() and copy.exists()
    same = subprocess.run(["qemu-img", "compare", str(disk), str(copy)], capture_output=True)
    assert same.returncode == 0, same.stdout
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(copy)], capture_output=True).stdout)
    assert info["format"] == "qcow2"
    meta = call(lab, "gov-huawei", "GET", f"image/v2/images/{image.id}").json()
    assert meta["instance_uuid"] == node.id and meta["os_distro"] == "centos" and meta["architecture"] == "x86_64"
    downloaded = call(lab, "gov-huawei", "GET", f"image/v2/images/{image.id}/file").content
    assert downloaded == copy.read_bytes()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_seeded_image_file_is_made_lazily_in_its_format(clean_faults: Lab) -> None:
    lab = clean_faults
    image = next(i for i in call(lab, "county-h3c", "GET", "image/v2/images").json()["images"])
    path = lab.dir / "images" / "county-h3c" / f"{image['id']}.vmdk"
    assert image["disk_format"] == "vmdk" and not path.exists()
    body = call(lab, "county-h3c", "GET", f"image/v2/images/{image['id']}/file").content
    assert path.read_bytes() == body
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True).stdout)
    assert info["format"] == "vmdk"


def test_changes_since_reports_changed_and_deleted_servers(clean_faults: Lab) -> None:
    from datetime import UTC, datetime, timedelta

    lab = clean_faults
    driver = lab.driver("gov-inspur")
    since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="seconds")
    assert (
        call(lab, "gov-inspur", "GET", "compute/v2.1/servers/detail", params={"changes-since": since}).json()["servers"]
        == []
    )
    size = next(s for s in driver.list_sizes() if s.id == "c2m4")
    node = driver.create_node(name="delta-01", size=size, image=driver.list_images()[0])
    touched = next(n for n in driver.list_nodes() if n.id != node.id)
    call(lab, "gov-inspur", "POST", f"compute/v2.1/servers/{touched.id}/metadata", json={"metadata": {"wave": "2"}})
    driver.destroy_node(node)
    got = call(lab, "gov-inspur", "GET", "compute/v2.1/servers/detail", params={"changes-since": since}).json()[
        "servers"
    ]
    statuses = {s["id"]: s["status"] for s in got}
    assert set(statuses) == {touched.id, node.id}
    assert statuses[node.id] == "DELETED" and statuses[touched.id] != "DELETED"
    assert len(driver.list_nodes()) == 45, "a full listing never shows the deleted one"
    assert (
        call(lab, "gov-inspur", "GET", "compute/v2.1/servers/detail", params={"changes-since": "yesterday"}).status_code
        == 400
    )


def test_cinder_time_filters_need_v3_and_microversion_3_60(lab: Lab) -> None:
    from tests.lab.conftest import call

    cloud = build_estate("small").cloud("county-h3c")
    project = cloud.project_id
    window = {"created_at": "gte:2000-01-01T00:00:00Z"}
    v360 = {"OpenStack-API-Version": "volume 3.60"}
    everything = call(lab, "county-h3c", "GET", f"volume/v3/{project}/volumes/detail", params=window, headers=v360)
    assert everything.status_code == 200
    assert {v["id"] for v in everything.json()["volumes"]} == {v.id for v in cloud.volumes}
    future = call(
        lab,
        "county-h3c",
        "GET",
        f"volume/v3/{project}/volumes/detail",
        params={"updated_at": "gte:2999-01-01T00:00:00Z"},
        headers=v360,
    )
    assert future.json()["volumes"] == []
    for path, headers in ((f"volume/v3/{project}/volumes/detail", {}), (f"volume/v2/{project}/volumes/detail", v360)):
        assert call(lab, "county-h3c", "GET", path, params=window, headers=headers).status_code == 400


def test_neutron_fields_project_every_page(lab: Lab) -> None:
    from tests.lab.conftest import call

    params = {"fields": ["device_id", "security_groups"], "limit": 2}
    first = call(lab, "gov-huawei", "GET", "network/v2.0/ports", params=params).json()
    assert first["ports"] and all(set(p) <= {"device_id", "security_groups"} for p in first["ports"])
    nxt = next(link["href"] for link in first["ports_links"] if link["rel"] == "next")
    second = call(lab, "gov-huawei", "GET", "network/v2.0/ports?" + nxt.split("?", 1)[1]).json()
    assert second["ports"] and all(set(p) <= {"device_id", "security_groups"} for p in second["ports"])
