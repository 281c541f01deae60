from __future__ import annotations

import subprocess
import sys

import pytest

from inventory.config import load_config, parse_config
from providers.errors import ConfigError


def test_valid_config_resolves_relative_sqlite_path(tmp_path):
    config = parse_config({"database": "sqlite:///x/ganyun.db"}, base_dir=str(tmp_path))
    assert config.database_url == f"sqlite:///{tmp_path / 'x' / 'ganyun.db'}"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"providers": [{"name": "a", "driver": "openstack", "credentials": "hunter2"}]}, "providers.0.credentials"),
        ({"providers": [{"name": "a", "driver": "openstack", "pool": "gold"}]}, "providers.0.pool"),
        ({"providers": [{"name": "a", "driver": "x"}, {"name": "a", "driver": "y"}]}, "duplicate name(s) a"),
        (
            {
                "providers": [{"name": "a", "driver": "x", "center": "moon"}],
                "centers": [{"id": "gz", "name": "n", "role": "production", "site": "s"}],
            },
            "unknown center 'moon'",
        ),
        ({"centers": [{"id": "gz", "name": "n", "role": "backup", "site": "s"}]}, "centers.0.role"),
        ({"databse": "sqlite://"}, "databse: Extra inputs are not permitted"),
        ({"capacity": {"overcommit": {"default": {"cpu": -1}}}}, "capacity.overcommit.default.cpu"),
    ],
)
def test_bad_fields_get_one_line_each(data, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert expected in str(info.value)


def test_inline_secret_is_never_echoed(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config({"providers": [{"name": "a", "driver": "openstack", "credentials": "S3cr3t!"}]})
    assert "S3cr3t!" not in str(info.value)


def test_broken_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [\n  - name: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def _ganyun(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "console", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_cli_bad_config_exits_2_with_one_line_per_field_and_no_traceback(tmp_path):
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text(
        "providers:\n  - {name: a, driver: openstack, credentials: plain}\n  - {name: b, driver: openstack, pool: x}\n",
        encoding="utf-8",
    )
    result = _ganyun("--config", str(cfg), "sync")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("providers.0.credentials" in line for line in lines)
    assert any("providers.1.pool" in line for line in lines)


def test_cli_reads_ganyun_config_env(tmp_path):
    import os

    cfg = tmp_path / "other.yaml"
    cfg.write_text("database: sqlite:///inv.db\nproviders: []\n", encoding="utf-8")
    env = {**os.environ, "GANYUN_CONFIG": str(cfg)}
    result = _ganyun("inventory", "list", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "inv.db").exists()
