"""`ganyun config import-clouds` on a clouds.yaml naming two lab clouds gives a config that
syncs, with the passwords in the vault only; `ganyun providers test` says which work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inventory.config import load_config
from security.vault import Vault
from tests.lab.running import small_lab

pytestmark = pytest.mark.xdist_group("lab")


def _ganyun(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "console", "--lang", "en", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=300,
    )


def test_import_two_clouds_then_sync_and_test_them(tmp_path: Path) -> None:
    with small_lab(tmp_path / "lab") as lab_config:
        lab = yaml.safe_load(lab_config.read_text(encoding="utf-8"))
        vault = Vault.open(load_config(lab_config))
        first, second = lab["providers"][:2]
        clouds: dict[str, dict] = {}
        secure: dict[str, dict] = {}
        for entry in (first, second):
            user, password = vault.get(entry["name"])
            options = entry["options"]
            clouds[entry["name"]] = {
                "auth": {
                    "auth_url": options["ex_force_auth_url"] + "/v3",
                    "username": user,
                    "project_name": options["ex_tenant_name"],
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": options["ex_force_service_region"],
                "identity_api_version": 3,
            }
            secure[entry["name"]] = {"auth": {"password": password}}
        # The first cloud keeps its password in clouds.yaml, the second in secure.yaml.
        clouds[first["name"]]["auth"]["password"] = secure.pop(first["name"])["auth"]["password"]
        clouds["wrong-password"] = json.loads(json.dumps(clouds[first["name"]]))
        clouds["wrong-password"]["auth"]["password"] = "not-the-password"
        work = tmp_path / "ops"
        work.mkdir()
        (work / "clouds.yaml").write_text(yaml.safe_dump({"clouds": clouds}), encoding="utf-8")
        (work / "secure.yaml").write_text(yaml.safe_dump({"clouds": secure}), encoding="utf-8")
        config = work / "ganyun.yaml"
        config.write_text(
            yaml.safe_dump({"database": "sqlite:///ops.db", "centers": lab["centers"], "vault": lab["vault"]}),
            encoding="utf-8",
        )

        imported = _ganyun(
            config,
            "config",
            "import-clouds",
            str(work / "clouds.yaml"),
            "--cloud",
            first["name"],
            "--cloud",
            second["name"],
        )
        assert imported.returncode == 0, imported.stderr
        written = config.read_text(encoding="utf-8")
        for entry in (first, second):
            assert vault.get(entry["name"])[1] not in written
            assert Vault.open(load_config(config)).get(entry["name"]) == vault.get(entry["name"])
        assert [p["name"] for p in yaml.safe_load(written)["providers"]] == [first["name"], second["name"]]

        sync = _ganyun(config, "sync", "--json")
        assert sync.returncode == 0, sync.stderr
        report = json.loads(sync.stdout)
        assert [(p["provider"], p["status"]) for p in report["providers"]] == [
            (first["name"], "ok"),
            (second["name"], "ok"),
        ]
        assert all(p["counts"]["node"] > 0 for p in report["providers"])

        tested = _ganyun(config, "providers", "test")
        assert tested.returncode == 0, tested.stderr
        lines = tested.stdout.strip().splitlines()
        assert len(lines) == 2 and all(": ok, can list node, host" in line for line in lines)

        assert (
            _ganyun(
                config, "config", "import-clouds", str(work / "clouds.yaml"), "--cloud", "wrong-password"
            ).returncode
            == 0
        )
        tested = _ganyun(config, "providers", "test")
        assert tested.returncode == 1
        lines = tested.stdout.strip().splitlines()
        assert len(lines) == 3
        assert lines[2].startswith("wrong-password: failed (credentials): ")
        assert "not-the-password" not in tested.stdout + tested.stderr

        missing = _ganyun(config, "config", "import-clouds", str(work / "clouds.yaml"), "--cloud", "nope")
        assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


HOSTILE_NAMES = ["../../etc/x", "web{{ 7*7 }}", "a\nb: injected", "$(id)", "`id`", "x;rm -rf /", "=HYPERLINK(1)"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_cloud_name_is_refused_in_one_line_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    config = tmp_path / "ganyun.yaml"
    config.write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    before = config.read_bytes()
    clouds = tmp_path / "clouds.yaml"
    auth = {"auth_url": "http://127.0.0.1:9/v3", "username": "u", "password": "s3cret-pw", "project_name": "p"}
    clouds.write_text(yaml.safe_dump({"clouds": {name: {"auth": auth}}}), encoding="utf-8")
    result = _ganyun(config, "config", "import-clouds", str(clouds))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "not a usable provider name" in result.stderr and "s3cret-pw" not in result.stderr + result.stdout
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clouds.yaml", "ganyun.yaml"]
