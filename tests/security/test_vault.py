"""The SM4-GCM credential vault and its CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from inventory.config import GanyunConfig, parse_config
from inventory.credentials import provider_spec
from providers.errors import ConfigError, CryptoError
from security.vault import Vault, VaultCredentials, vault_mac

SECRET = "Gz-Cloud#2026!pw"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GanyunConfig:
    monkeypatch.delenv("GANYUN_VAULT_KEY", raising=False)
    data = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "providers": [{"name": "hw-gov", "driver": "openstack", "credentials": "vault:hw-gov"}],
    }
    (tmp_path / "ganyun.yaml").write_text(json.dumps(data), encoding="utf-8")
    return parse_config(data, base_dir=str(tmp_path))


def test_round_trip_and_config_reference(config: GanyunConfig, tmp_path: Path) -> None:
    Vault.open(config, create=True).set("hw-gov", "admin", SECRET)
    assert Vault.open(config).get("hw-gov") == ("admin", SECRET)
    spec = provider_spec(config.providers[0], VaultCredentials(config))
    assert (spec.key, spec.secret) == ("admin", SECRET)
    assert SECRET not in repr(spec)
    raw = (tmp_path / "vault.json").read_text()
    assert SECRET not in raw and "admin" not in raw and '"cipher": "SM4-GCM"' in raw
    assert os.stat(tmp_path / "vault.json").st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "vault.key").st_mode & 0o777 == 0o600


def test_vault_references_need_a_vault_and_env_references_never_open_one(
    config: GanyunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # inventory.credentials does not import security: a vault reference without a vault is refused.
    with pytest.raises(ConfigError, match="needs the vault"):
        provider_spec(config.providers[0])
    monkeypatch.setenv("HW_KEY", "env-admin")
    monkeypatch.setenv("HW_SECRET", SECRET)
    by_env = config.providers[0].model_copy(update={"credentials": "env:HW"})
    spec = provider_spec(by_env, VaultCredentials(config))
    assert (spec.key, spec.secret) == ("env-admin", SECRET)
    assert not (tmp_path / "vault.json").exists() and not (tmp_path / "vault.key").exists()


def test_wrong_key_fails_with_one_clear_message(config: GanyunConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    Vault.open(config, create=True).set("hw-gov", "admin", SECRET)
    monkeypatch.setenv("GANYUN_VAULT_KEY", "00" * 16)
    with pytest.raises(CryptoError, match="wrong key") as info:
        Vault.open(config)
    assert SECRET not in str(info.value)


def test_key_from_environment(config: GanyunConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GANYUN_VAULT_KEY", "ab" * 16)
    Vault.open(config).set("hw-gov", "admin", SECRET)
    assert not (tmp_path / "vault.key").exists()
    assert Vault.open(config).get("hw-gov") == ("admin", SECRET)
    monkeypatch.setenv("GANYUN_VAULT_KEY", "not-hex")
    with pytest.raises(ConfigError, match="not hex"):
        Vault.open(config)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_with_loose_permissions_is_refused(config: GanyunConfig, tmp_path: Path, mode: int) -> None:
    Vault.open(config, create=True).set("hw-gov", "admin", SECRET)
    os.chmod(tmp_path / "vault.key", mode)
    with pytest.raises(ConfigError, match="0600"):
        Vault.open(config)


def test_tampered_entry_fails_authentication(config: GanyunConfig, tmp_path: Path) -> None:
    vault = Vault.open(config, create=True)
    vault.set("hw-gov", "admin", SECRET)
    vault.set("ali-gov", "ak", "other-secret")
    data = json.loads((tmp_path / "vault.json").read_text())
    # Swapping two sealed entries must not hand one provider the other's credentials.
    data["entries"]["hw-gov"], data["entries"]["ali-gov"] = data["entries"]["ali-gov"], data["entries"]["hw-gov"]
    (tmp_path / "vault.json").write_text(json.dumps(data))
    with pytest.raises(CryptoError, match="MAC does not match"):
        Vault.open(config)
    # Even with the whole-file MAC and its anchor redone (by a holder of the key), each entry's own name,
    # bound as associated data, refuses the swap.
    data["mac"] = vault_mac(bytes.fromhex((tmp_path / "vault.key").read_text()), data)
    (tmp_path / "vault.json").write_text(json.dumps(data))
    (tmp_path / "vault.key.anchor").write_text(json.dumps({"generation": data["generation"], "mac": data["mac"]}))
    with pytest.raises(CryptoError, match="authentication"):
        Vault.open(config).get("hw-gov")


def test_rotate_reseals_under_a_new_key(config: GanyunConfig, tmp_path: Path) -> None:
    vault = Vault.open(config, create=True)
    vault.set("hw-gov", "admin", SECRET)
    old_key = (tmp_path / "vault.key").read_text()
    old_blob = json.loads((tmp_path / "vault.json").read_text())["entries"]["hw-gov"]["sealed"]
    vault.rotate()
    assert (tmp_path / "vault.key").read_text() != old_key
    assert json.loads((tmp_path / "vault.json").read_text())["entries"]["hw-gov"]["sealed"] != old_blob
    assert Vault.open(config).get("hw-gov") == ("admin", SECRET)
    assert not list(tmp_path.glob("*.old"))


def test_cli_set_get_list_rotate(
    config: GanyunConfig, tmp_path: Path, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    cfg = str(tmp_path / "ganyun.yaml")
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out, err = cli("--config", cfg, "vault", "set", "hw-gov", "--key", "admin", "--secret-stdin")
    assert code == 0, err
    code, out, err = cli("--config", cfg, "vault", "get", "hw-gov", "--json")
    assert code == 0 and json.loads(out) == {"name": "hw-gov", "key": "admin", "secret_set": True}
    code, out, err = cli("--config", cfg, "vault", "list", "--json")
    assert code == 0 and [e["name"] for e in json.loads(out)] == ["hw-gov"]
    code, out, err = cli("--config", cfg, "vault", "rotate")
    assert code == 0
    code, out, err = cli("--config", cfg, "vault", "get", "nope")
    assert code == 2 and "nope" in err
    os.chmod(tmp_path / "vault.key", 0o644)
    code, out, err = cli("--config", cfg, "vault", "list")
    assert code == 2 and "0600" in err and "Traceback" not in err
    os.chmod(tmp_path / "vault.key", 0o600)
    assert Vault.open(config).get("hw-gov") == ("admin", SECRET)
    # The actions went to the audit log, and the secret did not.
    from security import audit

    total, rows = audit.search(audit.store_for(config), action="vault")
    assert total == 2 and {r["action"] for r in rows} == {"vault.set", "vault.rotate"}
    everything = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir() if p.is_file())
    assert SECRET not in everything
