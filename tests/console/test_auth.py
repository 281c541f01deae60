from __future__ import annotations

import os
import stat

import pytest

from console import auth
from inventory.config import parse_config
from inventory.store import open_store
from providers.base import ConfigError


@pytest.fixture()
def store(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'u.db'}")


def test_password_is_stored_as_scrypt_hash_and_verifies(store):
    auth.set_user(store, "li.ming", "a-long-password", "planner")
    with store.session() as s:
        row = s.get(auth.User, "li.ming")
        assert row.password_hash.startswith("scrypt$") and "a-long-password" not in row.password_hash
    assert auth.authenticate(store, "li.ming", "a-long-password").role == "planner"
    assert not auth.verify_password("wrong", row.password_hash)


def test_unknown_user_and_bad_password_give_the_same_error(store):
    auth.set_user(store, "li.ming", "a-long-password", "planner")
    with pytest.raises(auth.LoginError) as bad:
        auth.authenticate(store, "li.ming", "nope")
    with pytest.raises(auth.LoginError) as unknown:
        auth.authenticate(store, "nobody", "nope")
    assert str(bad.value) == str(unknown.value) and bad.value.reason == unknown.value.reason == "invalid"


def test_account_locks_after_repeated_failures(store):
    auth.set_user(store, "op", "a-long-password", "operator")
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(auth.LoginError):
            auth.authenticate(store, "op", "wrong")
    with pytest.raises(auth.LoginError) as locked:
        auth.authenticate(store, "op", "a-long-password")  # even the right password, while locked
    assert locked.value.reason == "locked"


def test_roles_and_short_passwords_are_refused(store):
    with pytest.raises(ConfigError):
        auth.set_user(store, "x", "a-long-password", "superuser")
    with pytest.raises(ConfigError):
        auth.set_user(store, "x", "short", "operator")


def test_lab_accounts_one_per_role_in_a_0600_file(tmp_path):
    config = parse_config({"database": "sqlite:///inv.db"}, base_dir=str(tmp_path))
    path = auth.create_lab_accounts(tmp_path, config)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    accounts = auth.read_accounts(path)
    assert sorted(accounts) == sorted(auth.ROLES)
    store = open_store(config.database_url)
    for username, password in accounts.items():
        assert auth.authenticate(store, username, password).role == username


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
