"""What a migration meets in a real OpenStack, in the lab: Glance and Nova that take their time
and sometimes fail, placement requests Nova honours (or refuses), floating IPs on the shared
extranet, and a server's application data present once the server is read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lab import control
from lab.seed import EXTRANET_NAME
from tests.lab.conftest import Lab, call

pytestmark = pytest.mark.xdist_group("lab-server")


def _server(lab: Lab, cloud: str, server_id: str) -> dict[str, Any]:
    return dict(call(lab, cloud, "GET", f"compute/v2.1/servers/{server_id}").json()["server"])


def _image(lab: Lab, cloud: str, image_id: str) -> dict[str, Any]:
    return dict(call(lab, cloud, "GET", f"image/v2/images/{image_id}").json())


def _boot(lab: Lab, cloud: str, name: str, **extra: Any) -> str:
    image = next(i for i in call(lab, cloud, "GET", "image/v2/images").json()["images"] if i["os_distro"] == "kylin")
    body: dict[str, Any] = {"server": {"name": name, "flavorRef": "c2m4", "imageRef": image["id"], **extra}}
    hints = body["server"].pop("hints", None)
    if hints:
        body["os:scheduler_hints"] = hints
    resp = call(lab, cloud, "POST", "compute/v2.1/servers", json=body)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


def _until(lab: Lab, cloud: str, server_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = _server(lab, cloud, server_id)
        if server["status"] == status:
            return server
        time.sleep(0.05)
    raise AssertionError(f"{server_id} is still {server['status']}, not {status}")


def test_snapshot_goes_queued_saving_active_over_the_configured_time(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("gov-huawei", image_seconds=1.5)
    server = next(s for s in call(lab, "gov-huawei", "GET", "compute/v2.1/servers").json()["servers"])
    started = time.monotonic()
    resp = call(lab, "gov-huawei", "POST", f"compute/v2.1/servers/{server['id']}/action",
                json={"createImage": {"name": "slow-snap"}})  # fmt: skip
    assert resp.status_code == 202
    image_id = resp.json()["image_id"]
    seen = []
    while time.monotonic() - started < 5:
        status = _image(lab, "gov-huawei", image_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "active":
            break
        time.sleep(0.05)
    assert seen == ["queued", "saving", "active"]
    assert time.monotonic() - started >= 1.5
    # Nova refuses to boot from an image Glance has not finished.
    call(lab, "gov-huawei", "DELETE", f"image/v2/images/{image_id}")


def test_a_share_of_images_ends_killed_and_loses_its_data(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("gov-inspur", image_failures=0.5)
    outcomes = []
    for n in range(4):
        created = call(lab, "gov-inspur", "POST", "image/v2/images",
                       json={"name": f"flaky-{n}", "disk_format": "raw", "architecture": "x86_64"}).json()  # fmt: skip
        put = call(lab, "gov-inspur", "PUT", f"image/v2/images/{created['id']}/file", data=b"x" * 1024,
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert put.status_code == 204
        meta = _image(lab, "gov-inspur", created["id"])
        outcomes.append(meta["status"])
        if meta["status"] == "killed":
            assert meta["size"] is None
            assert not (lab.dir / "images" / "gov-inspur" / f"{created['id']}.raw").exists()
        call(lab, "gov-inspur", "DELETE", f"image/v2/images/{created['id']}")
    assert outcomes == ["active", "killed", "active", "killed"]


def test_slow_and_flaky_boots(clean_faults: Lab) -> None:
    lab = clean_faults
    lab.faults("xc-kunpeng", boot_seconds=1.0, boot_failures=0.5)
    started = time.monotonic()
    first, second = _boot(lab, "xc-kunpeng", "slow-01"), _boot(lab, "xc-kunpeng", "slow-02")
    assert _server(lab, "xc-kunpeng", first)["status"] == "BUILD"
    _until(lab, "xc-kunpeng", first, "ACTIVE")
    assert time.monotonic() - started >= 1.0
    failed = _until(lab, "xc-kunpeng", second, "ERROR")
    assert "fault" in failed
    for server_id in (first, second):
        call(lab, "xc-kunpeng", "DELETE", f"compute/v2.1/servers/{server_id}")


def test_nova_honours_zone_forced_host_and_hints(clean_faults: Lab) -> None:
    lab = clean_faults
    hosts = call(lab, "xc-hygon", "GET", "compute/v2.1/os-hypervisors/detail").json()["hypervisors"]
    aggregates = call(lab, "xc-hygon", "GET", "compute/v2.1/os-aggregates").json()["aggregates"]
    zone_of = {h: a["availability_zone"] for a in aggregates for h in a["hosts"]}
    target = hosts[-1]["hypervisor_hostname"]
    forced = _boot(lab, "xc-hygon", "placed-01", availability_zone=f"{zone_of[target]}:{target}")
    placed = _until(lab, "xc-hygon", forced, "ACTIVE")
    assert placed["OS-EXT-SRV-ATTR:host"] == target
    assert placed["OS-EXT-AZ:availability_zone"] == zone_of[target]
    apart = _boot(lab, "xc-hygon", "placed-02", hints={"different_host": [forced]})
    assert _until(lab, "xc-hygon", apart, "ACTIVE")["OS-EXT-SRV-ATTR:host"] != target
    beside = _boot(lab, "xc-hygon", "placed-03", hints={"same_host": forced})
    assert _until(lab, "xc-hygon", beside, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == target

    image = next(i for i in call(lab, "xc-hygon", "GET", "image/v2/images").json()["images"])
    body = {"server": {"name": "x", "flavorRef": "c2m4", "imageRef": image["id"], "availability_zone": "no-such-az"}}
    assert call(lab, "xc-hygon", "POST", "compute/v2.1/servers", json=body).status_code == 400
    # An account without the forced-host policy gets 403 for `zone:host`, but the zone alone works.
    lab.faults("xc-hygon", no_forced_host=True)
    body["server"]["availability_zone"] = f"{zone_of[target]}:{target}"
    refused = call(lab, "xc-hygon", "POST", "compute/v2.1/servers", json=body)
    assert refused.status_code == 403 and "forced_host" in refused.text
    zoned = _boot(lab, "xc-hygon", "placed-04", availability_zone=zone_of[target])
    assert _until(lab, "xc-hygon", zoned, "ACTIVE")["OS-EXT-AZ:availability_zone"] == zone_of[target]
    for server_id in (forced, apart, beside, zoned):
        call(lab, "xc-hygon", "DELETE", f"compute/v2.1/servers/{server_id}")


def _extranet(lab: Lab, cloud: str) -> dict[str, Any]:
    nets = call(lab, cloud, "GET", "network/v2.0/networks").json()["networks"]
    return next(n for n in nets if n["name"] == EXTRANET_NAME)


def test_floating_ip_moves_between_clouds_on_the_extranet(clean_faults: Lab) -> None:
    lab = clean_faults
    server = next(s for s in call(lab, "gov-inspur", "GET", "compute/v2.1/servers/detail").json()["servers"])
    port = call(lab, "gov-inspur", "GET", f"network/v2.0/ports?device_id={server['id']}").json()["ports"][0]
    net = _extranet(lab, "gov-inspur")
    created = call(lab, "gov-inspur", "POST", "network/v2.0/floatingips",
                   json={"floatingip": {"floating_network_id": net["id"], "port_id": port["id"]}})  # fmt: skip
    assert created.status_code == 201, created.text
    fip = created.json()["floatingip"]
    address = fip["floating_ip_address"]
    assert fip["status"] == "ACTIVE" and fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    shown = [a for addrs in _server(lab, "gov-inspur", server["id"])["addresses"].values() for a in addrs]
    assert {"addr": address, "OS-EXT-IPS:type": "floating"}.items() <= next(
        a for a in shown if a["addr"] == address
    ).items()
    assert call(lab, "gov-inspur", "GET", f"network/v2.0/floatingips?port_id={port['id']}").json()["floatingips"]

    # The same address on another cloud: taken until gov-inspur releases it.
    other = _extranet(lab, "xc-hygon")
    claim = {"floatingip": {"floating_network_id": other["id"], "floating_ip_address": address}}
    assert call(lab, "xc-hygon", "POST", "network/v2.0/floatingips", json=claim).status_code == 409
    detached = call(lab, "gov-inspur", "PUT", f"network/v2.0/floatingips/{fip['id']}",
                    json={"floatingip": {"port_id": None}}).json()["floatingip"]  # fmt: skip
    assert detached["status"] == "DOWN" and detached["port_id"] is None
    shown = [a["addr"] for addrs in _server(lab, "gov-inspur", server["id"])["addresses"].values() for a in addrs]
    assert address not in shown
    assert call(lab, "gov-inspur", "DELETE", f"network/v2.0/floatingips/{fip['id']}").status_code == 204
    moved = call(lab, "xc-hygon", "POST", "network/v2.0/floatingips", json=claim)
    assert moved.status_code == 201 and moved.json()["floatingip"]["floating_ip_address"] == address
    call(lab, "xc-hygon", "DELETE", f"network/v2.0/floatingips/{moved.json()['floatingip']['id']}")

    # Not an external network, not inside it, not a port of this cloud: refused.
    internal = next(n for n in call(lab, "xc-hygon", "GET", "network/v2.0/networks").json()["networks"]
                    if not n["router:external"])  # fmt: skip
    bad = {"floatingip": {"floating_network_id": internal["id"]}}
    assert call(lab, "xc-hygon", "POST", "network/v2.0/floatingips", json=bad).status_code == 400
    bad = {"floatingip": {"floating_network_id": other["id"], "floating_ip_address": "10.1.2.3"}}
    assert call(lab, "xc-hygon", "POST", "network/v2.0/floatingips", json=bad).status_code == 400
    bad = {"floatingip": {"floating_network_id": other["id"], "port_id": port["id"]}}
    assert call(lab, "xc-hygon", "POST", "network/v2.0/floatingips", json=bad).status_code == 404


def test_planted_web_servers_are_published_on_the_extranet(lab: Lab) -> None:
    fips = call(lab, "gov-huawei", "GET", "network/v2.0/floatingips").json()["floatingips"]
    assert fips and all(f["port_id"] for f in fips)
    servers = call(lab, "gov-huawei", "GET", "compute/v2.1/servers/detail").json()["servers"]
    published = {
        s["name"] for s in servers for addrs in s["addresses"].values() for a in addrs
        if a["OS-EXT-IPS:type"] == "floating"
    }  # fmt: skip
    assert published and all("-web-" in name for name in published)


def test_a_servers_application_data_exists_once_it_is_read(lab: Lab) -> None:
    server = call(lab, "county-h3c", "GET", "compute/v2.1/servers").json()["servers"][-1]
    root = lab.dir / "appdata" / "county-h3c" / server["id"]
    assert not root.exists()  # a 100,000-node lab writes nothing up front
    _server(lab, "county-h3c", server["id"])
    assert (root / "VERSION").is_file() and (root / "data" / "records.csv").is_file()


def test_lab_up_options_make_every_cloud_slow_and_flaky(tmp_path: Path) -> None:
    env = {**os.environ, "GANYUN_LANG": "en"}
    ganyun = str(Path(sys.executable).with_name("ganyun"))
    argv = [ganyun, "lab", "up", "--dir", str(tmp_path), "--scale", "small"]
    up = subprocess.run([*argv, "--image-seconds", "20", "--boot-seconds", "5", "--flaky", "0.25"],
                        capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        faults = control.status(tmp_path)["clouds"]
        want = {"image_seconds": 20.0, "boot_seconds": 5.0, "image_failures": 0.25, "boot_failures": 0.25}
        assert faults and all(c["faults"] == want for c in faults.values())
    finally:
        control.down(tmp_path)
    bad = subprocess.run([*argv, "--flaky", "1.5"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
