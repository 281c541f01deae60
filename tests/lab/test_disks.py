"""Real bytes for the migration engineer: lazily made, deterministic, in the asked format."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import disks

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


def test_appdata_is_made_once_and_is_deterministic(tmp_path: Path) -> None:
    root = disks.ensure_appdata(tmp_path, "gov-huawei", "srv-1", system="社会保险经办系统", role="db")
    assert root == tmp_path / "appdata" / "gov-huawei" / "srv-1"
    conf = (root / "app.conf").read_text(encoding="utf-8")
    assert "社会保险经办系统" in conf and "srv-1" in conf
    records = (root / "data" / "records.csv").read_text()
    (root / "data" / "records.csv").write_text("changed by the app\n")
    assert disks.ensure_appdata(tmp_path, "gov-huawei", "srv-1") == root
    assert (root / "data" / "records.csv").read_text() == "changed by the app\n", "never overwritten"
    other = disks.ensure_appdata(tmp_path / "b", "gov-huawei", "srv-1")
    assert (other / "data" / "records.csv").read_text() == records
    assert records != (disks.ensure_appdata(tmp_path, "gov-huawei", "srv-2") / "data" / "records.csv").read_text()


def test_content_is_deterministic_and_labelled() -> None:
    a = disks.content("server gov-huawei/x")
    assert a == disks.content("server gov-huawei/x") and a != disks.content("server gov-huawei/y")
    assert a.startswith(b"GANYUN-LAB-DISK server gov-huawei/x\n") and len(a) == disks.CONTENT_BYTES


@needs_qemu
@pytest.mark.parametrize("fmt", ["qcow2", "raw", "vmdk"])
def test_make_disk_in_each_format(tmp_path: Path, fmt: str) -> None:
    path = disks.ensure_image_file(tmp_path, "county-h3c", "img-1", fmt)
    assert path == tmp_path / "images" / "county-h3c" / f"img-1.{fmt}"
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True).stdout)
    assert info["format"] == fmt and info["virtual-size"] == disks.DISK_BYTES
    raw = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", str(path), str(raw)], check=True)
    assert raw.read_bytes()[: disks.CONTENT_BYTES] == disks.content("image county-h3c/img-1")


@needs_qemu
def test_server_disk_starts_from_its_uploaded_image(tmp_path: Path) -> None:
    base = disks.make_disk(tmp_path / "up.raw", "raw", "uploaded")
    disk = disks.ensure_server_disk(tmp_path, "xc-kunpeng", "srv-9", (base, "raw"))
    same = subprocess.run(
        ["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(base), str(disk)], capture_output=True
    )
    assert same.returncode == 0, same.stdout
    assert disks.ensure_server_disk(tmp_path, "xc-kunpeng", "srv-9") == disk
