"""Issue 13, item 2: the audit log catches a database insider.

The insider writes the database with plain SQL (the sqlite3 module, and psycopg on a real
PostgreSQL) and can compute SM3, but cannot touch the files beside the configuration: the audit
key, the head file, the witness. Every forgery must make the real `ganyun audit verify` exit 1
naming the first entry nothing outside the database vouches for; an honest log exits 0.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import pwd
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.config import GanyunConfig, load_config
from security import audit
from security.audit_key import load_key
from tests.pg import pg_bindir, throwaway_cluster

GANYUN = str(Path(sys.executable).with_name("ganyun"))
ENTRIES = 8


def ganyun(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_LANG": "en"}
    return subprocess.run([GANYUN, "--config", str(config), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)  # fmt: skip


def verify_cli(config: Path) -> dict[str, Any]:
    """`ganyun audit verify --json` as a real process; its exit code is checked against the answer."""
    result = ganyun(config, "audit", "verify", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == (0 if answer["ok"] else 1), (result.returncode, answer)
    return answer


def assert_caught(config: Path, first_bad: int, problem: str) -> None:
    answer = verify_cli(config)
    assert (answer["ok"], answer["first_bad"], answer["problem"]) == (False, first_bad, problem), answer
    text = ganyun(config, "audit", "verify")  # the human form names the entry too, in one line
    assert text.returncode == 1 and f"#{first_bad}" in text.stderr and "Traceback" not in text.stderr


def write_config(directory: Path, database: str, **audit_section: str) -> Path:
    data: dict[str, Any] = {"database": database}
    if audit_section:
        data["audit"] = audit_section
    path = directory / "ganyun.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def fill(config_file: Path, n: int = ENTRIES) -> GanyunConfig:
    config = load_config(config_file)
    for i in range(n):
        audit.append_action(config, "cli:ops", "sync", {"run": i})
    return config


# --------------------------------------------------------------------------- the insider's SQL


class Insider:
    """Plain SQL on the audit tables through any DB-API connection, as a DBA would write it."""

    COLUMNS = "seq, at, actor, action, details, prev_hash, hash"

    def __init__(self, connect: Callable[[], Any], placeholder: str) -> None:
        self.connect, self.ph = connect, placeholder

    def _run(self, sql: str, *params: Any) -> list[Any]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("?", self.ph), params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def entries(self) -> list[Any]:
        return self._run(f"SELECT {self.COLUMNS} FROM audit_log ORDER BY seq")

    def rewrite_from(self, first: int, details: str = '{"run": "forged"}') -> None:
        """Change entry `first` and recompute the chain after it: every hash is right again."""
        rows = self.entries()
        prev = rows[first - 2][6] if first > 1 else audit.GENESIS
        for seq, at, actor, action, _details, _prev, _hash in rows[first - 1 :]:
            digest = audit.entry_hash(seq, at, actor, action, details, prev)
            self._run("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                      details, prev, digest, seq)  # fmt: skip
            prev = digest

    def append(self, count: int) -> None:
        seq, *_rest, prev = self.entries()[-1]
        for _ in range(count):
            seq += 1
            at, details = "2026-01-01T00:00:00.000000+00:00", '{"granted": "admin"}'
            digest = audit.entry_hash(seq, at, "cli:ops", "users.set-role", details, prev)
            self._run(f"INSERT INTO audit_log ({self.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      seq, at, "cli:ops", "users.set-role", details, prev, digest)  # fmt: skip
            prev = digest

    def delete_entries_from(self, first: int) -> None:
        self._run("DELETE FROM audit_log WHERE seq >= ?", first)

    def delete_checkpoints_from(self, first: int) -> None:
        self._run("DELETE FROM audit_checkpoints WHERE seq >= ?", first)


def sqlite_insider(config: GanyunConfig) -> Insider:
    path = config.database_url.removeprefix("sqlite:///")
    return Insider(lambda: sqlite3.connect(path), "?")


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, GanyunConfig, Insider]:
    config_file = write_config(tmp_path, "sqlite:///ganyun.db")
    config = fill(config_file)
    assert verify_cli(config_file)["entries"] == ENTRIES
    return config_file, config, sqlite_insider(config)


# --------------------------------------------------------------------------- each forgery, on SQLite


def test_honest_log_passes(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, _config, _insider = logged
    answer = verify_cli(config_file)
    assert answer["ok"] and answer["last_seq"] == ENTRIES and answer["checkpoints"] == ENTRIES
    text = ganyun(config_file, "audit", "verify", "--all-signatures")
    assert text.returncode == 0 and f"{ENTRIES} entries" in text.stdout


def test_tail_rewritten_with_later_checkpoints_deleted(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, _config, insider = logged
    insider.rewrite_from(5)
    insider.delete_checkpoints_from(5)
    assert_caught(config_file, 5, "unsigned")


def test_entries_appended_with_a_correct_chain_and_no_checkpoint(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, _config, insider = logged
    insider.append(2)
    assert_caught(config_file, ENTRIES + 1, "unsigned")


def test_whole_chain_recomputed_and_every_checkpoint_deleted(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, _config, insider = logged
    insider.rewrite_from(1)
    insider.delete_checkpoints_from(1)
    assert_caught(config_file, 1, "unsigned")


def test_head_file_removed_and_tail_cut_off(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, config, insider = logged
    audit.head_path(config).unlink()
    insider.delete_entries_from(6)
    insider.delete_checkpoints_from(6)
    assert_caught(config_file, 6, "no_head")


def test_tail_cut_off_with_its_checkpoints(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, _config, insider = logged
    insider.delete_entries_from(7)
    insider.delete_checkpoints_from(7)
    assert_caught(config_file, 7, "truncated")


def test_signed_checkpoint_moved_onto_a_forged_entry(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    """An old signature copied onto the rewritten tail signs another (seq, hash): refused."""
    config_file, _config, insider = logged
    insider.rewrite_from(ENTRIES)
    forged_hash = insider.entries()[-1][6]
    insider._run("UPDATE audit_checkpoints SET entry_hash = ? WHERE seq = ?", forged_hash, ENTRIES)
    assert_caught(config_file, ENTRIES, "bad_signature")


def test_log_with_entries_and_no_head_file_fails(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    config_file, config, _insider = logged
    audit.head_path(config).unlink()
    assert_caught(config_file, ENTRIES + 1, "no_head")


def test_head_must_equal_the_entry_at_its_seq(logged: tuple[Path, GanyunConfig, Insider]) -> None:
    """Someone who stole the audit key (but cannot write the head file) re-signs a rewritten tail."""
    config_file, config, insider = logged
    insider.rewrite_from(4)
    _resign_checkpoints(config, insider)
    assert_caught(config_file, ENTRIES, "head_mismatch")


def _resign_checkpoints(config: GanyunConfig, insider: Insider) -> None:
    key = load_key(audit.key_path(config), create=False)
    assert key is not None
    for seq, *_rest, digest in insider.entries():
        signature = key.sign(audit.checkpoint_message(seq, digest)).hex()
        insider._run("UPDATE audit_checkpoints SET entry_hash = ?, signature = ? WHERE seq = ?", digest, signature, seq)


def _rewrite_head(config: GanyunConfig, insider: Insider) -> None:
    key = load_key(audit.key_path(config), create=False)
    assert key is not None
    seq, *_rest, digest = insider.entries()[-1]
    head = {"seq": seq, "hash": digest, "public_key": key.public_hex(),
            "signature": key.sign(audit.checkpoint_message(seq, digest)).hex()}  # fmt: skip
    audit.head_path(config).write_text(json.dumps(head), encoding="utf-8")


# --------------------------------------------------------------------------- the witness


def test_witness_file_catches_a_forger_holding_the_key_and_the_head_file(tmp_path: Path) -> None:
    witness = tmp_path / "witness" / "audit.log"
    witness.parent.mkdir()
    config_file = write_config(tmp_path, "sqlite:///ganyun.db", witness=str(witness))
    config = fill(config_file)
    assert len(witness.read_text().splitlines()) == ENTRIES
    assert (answer := verify_cli(config_file))["ok"] and answer["witnessed"] == ENTRIES
    insider = sqlite_insider(config)
    insider.rewrite_from(3)
    _resign_checkpoints(config, insider)
    _rewrite_head(config, insider)
    assert_caught(config_file, 3, "witness_mismatch")


def test_witness_file_catches_a_tail_cut_with_the_head_file_rewritten(tmp_path: Path) -> None:
    witness = tmp_path / "witness.log"
    config_file = write_config(tmp_path, "sqlite:///ganyun.db", witness=str(witness))
    config = fill(config_file)
    insider = sqlite_insider(config)
    insider.delete_entries_from(6)
    insider.delete_checkpoints_from(6)
    _rewrite_head(config, insider)
    assert_caught(config_file, 6, "witness_truncated")


@pytest.fixture
def syslog_receiver(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A UDP syslog receiver that writes each message as a line, as rsyslog's imudp + omfile would."""
    out = tmp_path / "syslog" / "ganyun.log"
    out.parent.mkdir()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        with out.open("a", encoding="utf-8") as handle:
            while not stop.is_set():
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    continue
                handle.write(data.decode("utf-8", "replace").rstrip("\x00\n") + "\n")
                handle.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], out
    stop.set()
    thread.join()
    sock.close()


def _wait_for_lines(path: Path, count: int) -> list[str]:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{path}: {count} syslog lines expected")


def test_syslog_witness_read_back_from_the_receivers_file(tmp_path: Path, syslog_receiver: tuple[int, Path]) -> None:
    port, received = syslog_receiver
    config_file = write_config(tmp_path, "sqlite:///ganyun.db", witness=f"syslog://127.0.0.1:{port}",
                               witness_file=str(received))  # fmt: skip
    config = fill(config_file)
    lines = _wait_for_lines(received, ENTRIES)
    assert lines[0].startswith("<86>") and " ganyun-audit: ganyun-audit-head {" in lines[0]
    # Anyone may send a datagram: a line not signed by the audit key is ignored, with a note.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoof:
        spoof.sendto(b'<86>ganyun-audit: ganyun-audit-head {"seq": 3, "hash": "00", "public_key": "04", '
                     b'"signature": "00"}', ("127.0.0.1", port))  # fmt: skip
    _wait_for_lines(received, ENTRIES + 1)
    answer = verify_cli(config_file)
    assert answer["ok"] and answer["witnessed"] == ENTRIES
    assert any("1 witness line(s) ignored" in w for w in answer["warnings"])
    insider = sqlite_insider(config)
    insider.rewrite_from(5)
    _resign_checkpoints(config, insider)
    _rewrite_head(config, insider)
    assert_caught(config_file, 5, "witness_mismatch")


@pytest.mark.parametrize(
    ("witness", "message"),
    [("http://10.0.0.1/log", "audit.witness: must be a file path"), ("syslog://10.0.0.1", "audit.witness: "),
     ("unix://dev/log", "audit.witness: ")],
)  # fmt: skip
def test_bad_witness_config_names_the_field(tmp_path: Path, witness: str, message: str) -> None:
    config_file = write_config(tmp_path, "sqlite:///ganyun.db", witness=witness)
    result = ganyun(config_file, "audit", "verify")
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL binaries missing (make install)")
def test_forgeries_on_postgresql(tmp_path: Path) -> None:
    import psycopg

    with throwaway_cluster() as url:
        config_file = write_config(tmp_path, url)
        config = fill(config_file)
        assert verify_cli(config_file)["ok"]
        insider = Insider(lambda: psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")), "%s")
        insider.append(1)
        assert_caught(config_file, ENTRIES + 1, "unsigned")
        insider.delete_entries_from(ENTRIES + 1)
        assert verify_cli(config_file)["ok"]
        insider.rewrite_from(2)
        insider.delete_checkpoints_from(2)
        assert_caught(config_file, 2, "unsigned")
        audit.store_for(config).dispose()


# --------------------------------------------------------------------------- every change is logged


def _entries(config_file: Path, action: str) -> list[dict[str, Any]]:
    result = ganyun(config_file, "audit", "search", "--action", action, "--json")
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)["entries"]
    return entries


def _os_actor() -> str:
    return "cli:" + pwd.getpwuid(os.getuid()).pw_name


def test_certs_issue_is_logged(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, "sqlite:///ganyun.db")
    result = ganyun(config_file, "certs", "issue", "--cn", "oa.gz.gov.cn", "--san", "10.1.2.3",
                    "--ca-dir", str(tmp_path / "ca"), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    [entry] = _entries(config_file, "certs.issue")
    assert entry["actor"] == _os_actor()
    assert entry["details"]["subject"] == json.loads(result.stdout)["subject"]
    assert entry["details"]["sans"] == ["10.1.2.3"] and entry["details"]["ca_created"] is True
    assert verify_cli(config_file)["ok"]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.xdist_group("dr_audit")
@pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL binaries missing (make install)")
def test_drill_run_is_logged() -> None:
    from tests.playbooks.dr.conftest import lab_in_tempdir

    with lab_in_tempdir("ganyun-dr-audit-", remote_delay_s=0.2) as lab:
        result = ganyun(lab.config_file, "drill", "run", "--scenario", "switchover", "--yes", "--json")
        report = json.loads(result.stdout)
        assert result.returncode == (0 if report["passed"] else 1), result.stderr
        [entry] = _entries(lab.config_file, "drill.run")
        assert entry["actor"] == _os_actor()
        assert entry["details"]["run_id"] == report["run_id"] and entry["details"]["status"] == report["status"]
        assert verify_cli(lab.config_file)["ok"]


# Every CLI command, by what it does: a command that changes something must reach record_action.
# A command added later fails test_every_command_is_classified until it is put in one of these.
CHANGES = {
    "sync", "migrate plan", "migrate run", "migrate rollback", "migrate finalize", "drill run",
    "certs issue", "certs scan", "certs collect", "comply audit", "comply waive", "comply approve",
    "comply reject", "comply revoke", "comply evidence add", "vault set", "vault rotate",
    "users add", "users set-role", "users set-scope", "users disable", "users enable", "users reset-password",
    "api token create", "api token revoke", "config import-clouds",
}  # fmt: skip
READS = {
    "version", "inventory list", "inventory show", "inventory ansible", "capacity report", "capacity headroom",
    "migrate assess", "migrate status", "drill status", "drill list", "drill history", "drill report", "certs verify",
    "certs list", "comply waivers", "comply checks", "comply evidence list", "comply evidence get",
    "audit verify", "audit list", "audit search", "vault get", "vault list", "users list", "api token list",
    "providers test",
}  # fmt: skip
# Servers log what their users do (console/frame.py run_action); the lab acts on the simulated
# estate only, and `lab down` removes the lab's own database with its log.
SERVERS_AND_LAB = {"console", "api serve", "lab up", "lab demo", "lab down", "lab status", "lab fault"}


def _commands() -> dict[str, Callable[..., Any]]:
    from console.cli import app

    found: dict[str, Callable[..., Any]] = {}

    def walk(typer_app: Any, prefix: str) -> None:
        for command in typer_app.registered_commands:
            name = command.name or command.callback.__name__.replace("_", "-")
            found[(prefix + " " + name).strip()] = command.callback
        for group in typer_app.registered_groups:
            walk(group.typer_instance, f"{prefix} {group.name}")

    walk(app, "")
    return found


def _reaches_record_action(function: Callable[..., Any], depth: int = 2) -> bool:
    """Does the command, or a function of its own module it calls, call record_action?"""
    source = textwrap.dedent(inspect.getsource(function))
    calls = {node.func.id for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}  # fmt: skip
    if "record_action" in calls:
        return True
    module = sys.modules[function.__module__]
    helpers = [getattr(module, name) for name in calls if inspect.isfunction(getattr(module, name, None))]
    return depth > 0 and any(_reaches_record_action(h, depth - 1) for h in helpers)


def test_every_command_is_classified() -> None:
    unknown = set(_commands()) - CHANGES - READS - SERVERS_AND_LAB
    assert not unknown, f"classify these commands in CHANGES or READS: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_command_that_changes_something_is_logged(name: str) -> None:
    commands = _commands()
    if name not in commands:
        pytest.skip(f"`ganyun {name}` is not part of this build")
    assert _reaches_record_action(commands[name]), f"`ganyun {name}` changes something but logs nothing"
