"""Issue 13, item 8: who did it is not a free-text field.

The real `ganyun` process records the operating-system account as the actor, whatever $USER
or $LOGNAME say, and no option names another one. The two-person rule (requester != approver)
holds on the command line, also across the CLI and the console.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inventory.config import load_config
from inventory.store import open_store
from security.compliance import waivers
from security.compliance.registry import load_checks

GANYUN = str(Path(sys.executable).with_name("ganyun"))
OS_ACCOUNT = pwd.getpwuid(os.getuid()).pw_name
CHECK = "volume_not_sm4"


def ganyun(config: Path, *args: str, wrapper: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    # A caller who sets every variable getpass would believe.
    env = {**os.environ, "GANYUN_LANG": "en", "USER": "mallory", "LOGNAME": "mallory", "LNAME": "mallory",
           "USERNAME": "mallory"}  # fmt: skip
    return subprocess.run([*(wrapper or []), GANYUN, "--config", str(config), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ganyun.yaml"
    path.write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    return path


def request_on_cli(config_file: Path, wrapper: list[str] | None = None) -> int:
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    result = ganyun(config_file, "comply", "waive", CHECK, "--reason", "AES until the SM4 migration",
                    "--expires", expires, wrapper=wrapper)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return int(json.loads(ganyun(config_file, "comply", "waivers", "--json").stdout)[0]["id"])


def request_on_console(config_file: Path, user: str) -> int:
    """What the compliance page does for a signed-in console user."""
    store = open_store(load_config(config_file).database_url)
    data = {"check_id": CHECK, "resource_key": "*", "reason": "accepted for the pilot", "requested_by": f"console:{user}",
            "expires_at": datetime.now(UTC) + timedelta(days=30)}  # fmt: skip
    waiver_id = waivers.request(store, data, set(load_checks()))
    store.dispose()
    return waiver_id


def waiver(config_file: Path, waiver_id: int) -> dict[str, Any]:
    rows = json.loads(ganyun(config_file, "comply", "waivers", "--json").stdout)
    return next(r for r in rows if r["id"] == waiver_id)


def audit_entries(config_file: Path, action: str) -> list[dict[str, Any]]:
    result = ganyun(config_file, "audit", "search", "--action", action, "--json")
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)["entries"]
    return entries


def test_cli_records_the_os_account_not_the_environment(config_file: Path) -> None:
    waiver_id = request_on_cli(config_file)
    assert waiver(config_file, waiver_id)["requested_by"] == f"cli:{OS_ACCOUNT}"
    [entry] = audit_entries(config_file, "comply.waiver.request")
    assert entry["actor"] == f"cli:{OS_ACCOUNT}" and "mallory" not in json.dumps(entry)


def test_requester_cannot_approve_their_own_waiver_on_the_cli(config_file: Path) -> None:
    waiver_id = request_on_cli(config_file)
    result = ganyun(config_file, "comply", "approve", str(waiver_id))
    assert result.returncode == 2 and "cannot approve their own" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert waiver(config_file, waiver_id)["state"] == "requested"
    assert audit_entries(config_file, "comply.waiver.approve") == []


def test_no_option_names_another_actor(config_file: Path) -> None:
    waiver_id = request_on_cli(config_file)
    for command in ("waive", "approve", "reject", "revoke"):
        args = [CHECK, "--reason", "x" * 10, "--expires", "2030-01-01"] if command == "waive" else [str(waiver_id)]
        result = ganyun(config_file, "comply", command, *args, "--by", "bob")
        assert result.returncode == 2 and "--by" in result.stderr, (command, result.stderr)
    assert waiver(config_file, waiver_id)["state"] == "requested"


def test_same_name_on_the_console_is_the_same_person(config_file: Path) -> None:
    waiver_id = request_on_console(config_file, OS_ACCOUNT)
    result = ganyun(config_file, "comply", "approve", str(waiver_id))
    assert result.returncode == 2 and "cannot approve their own" in result.stderr
    assert waiver(config_file, waiver_id)["state"] == "requested"


def test_another_person_approves_and_is_recorded_as_the_os_account(config_file: Path) -> None:
    waiver_id = request_on_console(config_file, "carol")
    result = ganyun(config_file, "comply", "approve", str(waiver_id))
    assert result.returncode == 0, result.stderr
    row = waiver(config_file, waiver_id)
    assert (row["state"], row["requested_by"], row["approver"]) == ("approved", "console:carol", f"cli:{OS_ACCOUNT}")
    [entry] = audit_entries(config_file, "comply.waiver.approve")
    assert entry["actor"] == f"cli:{OS_ACCOUNT}" and entry["details"]["id"] == waiver_id


# Sets the kernel's audit login uid, as pam_loginuid does at login, then runs ganyun in the same
# process: what `su`/`sudo` to another account after logging in as `nobody` would look like.
LOGIN_AS_NOBODY = ["sh", "-c", 'echo 65534 > /proc/self/loginuid && exec "$0" "$@"']


def test_the_person_who_logged_in_is_the_actor_after_su_or_sudo(config_file: Path) -> None:
    probe = subprocess.run([*LOGIN_AS_NOBODY, "cat", "/proc/self/loginuid"], capture_output=True, text=True,
                           check=False)  # fmt: skip
    if probe.returncode != 0 or probe.stdout.strip() != "65534":
        pytest.skip("cannot set the audit login uid here (needs CAP_AUDIT_CONTROL)")
    nobody = pwd.getpwuid(65534).pw_name
    waiver_id = request_on_cli(config_file, wrapper=LOGIN_AS_NOBODY)
    assert waiver(config_file, waiver_id)["requested_by"] == f"cli:{nobody}"
    [entry] = audit_entries(config_file, "comply.waiver.request")
    assert entry["actor"] == f"cli:{nobody}" and entry["details"]["os_account"] == OS_ACCOUNT
    # The same person, now as themselves (another account), still cannot approve.
    result = ganyun(config_file, "comply", "approve", str(waiver_id), wrapper=LOGIN_AS_NOBODY)
    assert result.returncode == 2 and "cannot approve their own" in result.stderr
    # Someone else logged in (here: the account running the tests) may.
    assert ganyun(config_file, "comply", "approve", str(waiver_id)).returncode == 0
