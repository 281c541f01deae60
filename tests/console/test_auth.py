from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from console import accounts, auth, passwords
from console.account_models import User
from console.settings import ThrottleSettings
from inventory.config import parse_config
from inventory.scope import Scope
from inventory.store import open_store
from providers.errors import ConfigError
from tests.lab.running import read_accounts

THROTTLE = ThrottleSettings()


@pytest.fixture()
def store(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'u.db'}")


def _login(store, name, password, address="10.0.0.1"):
    return auth.authenticate(store, name, password, address, THROTTLE)


def test_password_is_stored_as_scrypt_hash_and_verifies(store):
    accounts.save_local(store, "li.ming", "planner", Scope.city_wide(), "a-long-password")
    with store.session() as s:
        row = s.get(User, "li.ming")
        assert row.password_hash.startswith("scrypt$") and "a-long-password" not in row.password_hash
    assert _login(store, "li.ming", "a-long-password").role == "planner"
    assert not passwords.verify_password("wrong", row.password_hash)


def test_unknown_disabled_and_wrong_password_fail_alike(store):
    accounts.save_local(store, "li.ming", "planner", Scope.city_wide(), "a-long-password")
    accounts.save_local(store, "gone", "planner", Scope.city_wide(), "a-long-password")
    accounts.set_active(store, "gone", False)
    errors = []
    for name, password in (("li.ming", "nope-nope-nope"), ("nobody", "nope-nope-nope"), ("gone", "a-long-password")):
        with pytest.raises(auth.LoginError) as info:
            _login(store, name, password, address=None)
        errors.append((str(info.value), info.value.reason))
    assert errors == [("sign-in failed", "invalid")] * 3


def test_roles_names_scopes_and_short_passwords_are_refused(store):
    with pytest.raises(ConfigError, match="role"):
        accounts.save_local(store, "x", "superuser", Scope.city_wide(), "a-long-password")
    with pytest.raises(ConfigError, match="at least"):
        accounts.save_local(store, "x", "operator", Scope.city_wide(), "short")
    with pytest.raises(ConfigError, match="scope"):
        accounts.save_local(store, "x", "operator", Scope(), "a-long-password")
    with pytest.raises(ConfigError, match="account name"):
        accounts.save_local(store, "x y", "operator", Scope.city_wide(), "a-long-password")
    with pytest.raises(ConfigError, match="control"):
        Scope.of(["定南县\n市人社局"])
    assert accounts.list_accounts(store) == []


def test_oidc_scope_comes_from_the_configured_claim():
    oidc = {"scope_claim": "depts", "city_scope_value": "全市"}
    assert auth.oidc_scope({"depts": ["定南县", "市人社局", "定南县"]}, oidc) == Scope.of(["市人社局", "定南县"])
    assert auth.oidc_scope({"depts": "全市"}, oidc) == Scope.city_wide()
    assert auth.oidc_scope({"depts": ["定南县\u0000x", 7]}, oidc).empty  # malformed values grant nothing
    assert auth.oidc_scope({}, oidc).empty


def test_lab_accounts_one_per_role_city_wide_in_a_0600_file(tmp_path):
    config = parse_config({"database": "sqlite:///inv.db"}, base_dir=str(tmp_path))
    path = auth.create_lab_accounts(tmp_path, config)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lab_accounts = read_accounts(Path(path))
    assert sorted(lab_accounts) == sorted(auth.ROLES)
    store = open_store(config.database_url)
    for username, password in lab_accounts.items():
        identity = _login(store, username, password)
        assert identity.role == username and identity.scope == Scope.city_wide()


def test_oidc_settings_validate_and_map_roles(tmp_path, monkeypatch):
    oidc = {
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
        "client_id": "ganyun", "client_secret": "env:GY_OIDC", "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "role_claim": "groups", "role_map": {"yunwei": "operator", "shenji": "auditor"},
    }
    config = parse_config({"console": {"oidc": oidc}}, base_dir=str(tmp_path))
    settings = auth.oidc_settings(config)
    assert settings is not None
    assert auth.oidc_role({"groups": ["shenji", "yunwei"]}, settings) == "operator"
    assert auth.oidc_role({"groups": ["other"]}, settings) is None
    assert auth.oidc_settings(parse_config({}, base_dir=str(tmp_path))) is None
    inline = parse_config({"console": {"oidc": {**oidc, "client_secret": "s3cret"}}}, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="client_secret"):
        auth.oidc_settings(inline)
    with pytest.raises(ConfigError, match="GY_OIDC"):
        auth.write_streamlit_secrets(config, tmp_path / "s")
    monkeypatch.setenv("GY_OIDC", "the-client-secret")
    path = auth.write_streamlit_secrets(config, tmp_path / "s")
    assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "[auth]" in text and 'client_secret = "the-client-secret"' in text and "cookie_secret" in text
