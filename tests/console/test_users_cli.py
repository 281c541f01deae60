"""`ganyun users ...` as an administrator runs it: real subprocesses, then the real sign-in."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console import auth
from console.settings import ThrottleSettings
from inventory.config import load_config
from inventory.scope import Scope
from inventory.store import open_store

GANYUN = Path(sys.executable).with_name("ganyun")


class Admin:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config_file = directory / "ganyun.yaml"
        self.config_file.write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GANYUN_LANG": "en", "GANYUN_CONFIG": str(self.config_file)}
        return subprocess.run([str(GANYUN), "users", *args], input=stdin, capture_output=True, text=True,
                              env=env, cwd=self.dir, timeout=120, check=False)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def refused(self, *args: str, stdin: str | None = None) -> str:
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ganyun: "), proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr

    def sign_in(self, name: str, password: str) -> auth.Identity:
        store = open_store(load_config(self.config_file).database_url)
        try:
            return auth.authenticate(store, name, password, "192.0.2.10", ThrottleSettings(free_failures=100))
        finally:
            store.dispose()

    def listing(self) -> dict[str, dict[str, object]]:
        return {row["name"]: row for row in json.loads(self.ok("list", "--json"))}

    def audit(self) -> list[dict[str, object]]:
        from security import audit

        store = open_store(load_config(self.config_file).database_url)
        try:
            _, rows = audit.search(store, action="users.", limit=1000)
        finally:
            store.dispose()
        return sorted((r for r in rows if str(r["action"]).startswith("users.")), key=lambda r: r["seq"])


@pytest.fixture()
def admin(tmp_path: Path) -> Admin:
    return Admin(tmp_path)


def test_add_needs_a_scope_and_never_defaults_to_the_city(admin):
    assert "--city" in admin.refused("add", "wang", "--role", "operator")
    assert "exclude" in admin.refused("add", "wang", "--role", "operator", "--city", "--scope", "定南县")
    admin.refused("add", "wang", "--role", "superuser", "--city")
    admin.refused("add", "bad name", "--role", "operator", "--city")
    admin.refused("add", "wang", "--role", "operator", "--scope", "定南县\u0007")
    assert admin.listing() == {}


def test_add_generated_and_stdin_passwords_then_sign_in(admin):
    out = admin.ok("add", "zhang", "--role", "security_officer", "--city")
    generated = out.strip().splitlines()[-1]
    assert len(generated) >= 20 and "zhang" not in generated
    identity = admin.sign_in("zhang", generated)
    assert (identity.role, identity.scope) == ("security_officer", Scope.city_wide())

    admin.ok("add", "dn.ops", "--role", "operator", "--scope", "定南县", "--scope", "市人社局", "--password-stdin",
             stdin="county-password-1\n")
    county = admin.sign_in("dn.ops", "county-password-1")
    assert county.scope == Scope(departments=("定南县", "市人社局"))
    assert "already exists" in admin.refused("add", "dn.ops", "--role", "operator", "--city")
    assert "no password" in admin.refused("add", "li", "--role", "operator", "--city", "--password-stdin", stdin="")
    assert "at least" in admin.refused("add", "li", "--role", "operator", "--city", "--password-stdin", stdin="short\n")

    rows = admin.listing()
    assert rows["dn.ops"]["scope"] == {"city": False, "departments": ["定南县", "市人社局"]}
    assert rows["zhang"]["scope"] == {"city": True, "departments": []}
    # The passwords are nowhere but in the hands of who ran the command: not in the database.
    database = (admin.dir / "ganyun.db").read_bytes() + b"".join(
        p.read_bytes() for p in admin.dir.glob("ganyun.db-*")
    )
    assert generated.encode() not in database and b"county-password-1" not in database


def test_role_scope_disable_and_reset_password(admin):
    admin.ok("add", "li", "--role", "planner", "--scope", "市人社局", "--password-stdin", stdin="first-password-1\n")

    admin.ok("set-role", "li", "auditor")
    admin.refused("set-role", "li", "root")
    assert "no account" in admin.refused("set-role", "ghost", "auditor")
    assert admin.sign_in("li", "first-password-1").role == "auditor"

    admin.ok("set-scope", "li", "--scope", "定南县")
    admin.refused("set-scope", "li")
    assert admin.sign_in("li", "first-password-1").scope == Scope.of(["定南县"])
    admin.ok("set-scope", "li", "--city")
    assert admin.listing()["li"]["scope"] == {"city": True, "departments": []}

    admin.ok("reset-password", "li", "--password-stdin", stdin="second-password-2\n")
    with pytest.raises(auth.LoginError):
        admin.sign_in("li", "first-password-1")
    assert admin.sign_in("li", "second-password-2").name == "li"
    generated = admin.ok("reset-password", "li").strip().splitlines()[-1]
    assert admin.sign_in("li", generated).name == "li"

    admin.ok("disable", "li")
    assert admin.listing()["li"]["active"] is False
    with pytest.raises(auth.LoginError):
        admin.sign_in("li", generated)


def test_every_users_command_is_in_the_audit_log_with_the_os_user(admin):
    admin.ok("add", "li", "--role", "planner", "--city", "--password-stdin", stdin="first-password-1\n")
    admin.ok("set-role", "li", "operator")
    admin.ok("set-scope", "li", "--scope", "定南县")
    admin.ok("reset-password", "li", "--password-stdin", stdin="second-password-2\n")
    admin.ok("disable", "li")
    admin.ok("list")
    admin.refused("add", "wang", "--role", "operator")  # refused: nothing changed, nothing logged
    entries = admin.audit()
    assert [e["action"] for e in entries] == [
        "users.add", "users.set_role", "users.set_scope", "users.reset_password", "users.disable", "users.list",
    ]
    assert {e["actor"] for e in entries} == {f"cli:{getpass.getuser()}"}
    assert entries[1]["details"] == {"name": "li", "role": "operator", "was": "planner"}
    assert entries[2]["details"]["scope"] == {"city": False, "departments": ["定南县"]}
    text = json.dumps(entries, ensure_ascii=False)
    assert "first-password-1" not in text and "second-password-2" not in text
    verify = subprocess.run([str(GANYUN), "--config", str(admin.config_file), "audit", "verify"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert verify.returncode == 0, verify.stderr
