"""The audit log: SM3 chain, SM2 checkpoints, and every kind of tampering detected."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from inventory.config import GanyunConfig, parse_config
from providers.errors import ConfigError
from security import audit
from security.audit_key import CheckpointKey, load_key
from security.audit_models import AuditCheckpoint, AuditEntry


@pytest.fixture
def config(tmp_path: Path) -> GanyunConfig:
    cfg = parse_config({"database": f"sqlite:///{tmp_path / 'g.db'}"}, base_dir=str(tmp_path))
    (tmp_path / "ganyun.yaml").write_text(f"database: sqlite:///{tmp_path / 'g.db'}\n", encoding="utf-8")
    return cfg


def _fill(config: GanyunConfig, n: int = 6) -> None:
    for i in range(n):
        audit.append_action(config, f"user{i % 2}", "sync", {"run": i, "providers": ["hw-gov"]})


def _exec(config: GanyunConfig, stmt: object) -> None:
    store = audit.store_for(config)
    with store.session() as session:
        session.execute(stmt)  # type: ignore[call-overload]


def test_intact_log_verifies_with_signed_checkpoints(config: GanyunConfig) -> None:
    _fill(config)
    result = audit.verify_config(config, all_signatures=True)
    assert result.ok, result
    assert (result.entries, result.checkpoints, result.last_seq) == (6, 6, 6)
    # The key is kept 0600 beside the config; the head anchor too.
    assert os.stat(audit.key_path(config)).st_mode & 0o777 == 0o600
    assert json.loads(audit.head_path(config).read_text())["seq"] == 6


def test_chain_links_each_entry_to_the_previous_hash(config: GanyunConfig) -> None:
    _fill(config, 3)
    _total, rows = audit.search(audit.store_for(config), limit=10)
    with audit.store_for(config).session() as session:
        entries = session.query(AuditEntry).order_by(AuditEntry.seq).all()
        assert entries[0].prev_hash == audit.GENESIS
        for prev, cur in itertools.pairwise(entries):
            assert cur.prev_hash == prev.hash
            assert cur.hash == audit.entry_hash(cur.seq, cur.at, cur.actor, cur.action, cur.details, cur.prev_hash)
    assert [r["seq"] for r in rows] == [3, 2, 1]


def test_secrets_in_details_are_redacted(config: GanyunConfig) -> None:
    audit.append_action(
        config, "ops", "vault.set", {"name": "hw-gov", "secret": "S3cr3t!", "nested": {"password": "x"}}
    )
    _total, rows = audit.search(audit.store_for(config), limit=1)
    assert "S3cr3t!" not in json.dumps(rows)
    assert rows[0]["details"]["secret"] == "***" and rows[0]["details"]["nested"]["password"] == "***"


@pytest.mark.parametrize(
    ("tamper", "first_bad", "problem"),
    [
        ("modify_details", 3, "modified"),
        ("modify_actor", 5, "modified"),
        ("delete_middle", 3, "missing"),
        ("reorder", 3, "bad_link"),
        ("truncate_entries", 5, "truncated"),
        ("truncate_with_checkpoints", 5, "truncated"),
        ("rewrite_tail", 4, "bad_signature"),
    ],
)
def test_tampering_is_detected(config: GanyunConfig, tamper: str, first_bad: int, problem: str) -> None:
    _fill(config)
    if tamper == "modify_details":
        _exec(config, update(AuditEntry).where(AuditEntry.seq == 3).values(details='{"run": 99}'))
    elif tamper == "modify_actor":
        _exec(config, update(AuditEntry).where(AuditEntry.seq == 5).values(actor="nobody"))
    elif tamper == "delete_middle":
        _exec(config, delete(AuditEntry).where(AuditEntry.seq == 3))
    elif tamper == "reorder":
        # swap entries 3 and 4 (seq is the order): park 3 at -1, move 4 to 3, then -1 to 4
        _exec(config, update(AuditEntry).where(AuditEntry.seq == 3).values(seq=-1))
        _exec(config, update(AuditEntry).where(AuditEntry.seq == 4).values(seq=3))
        _exec(config, update(AuditEntry).where(AuditEntry.seq == -1).values(seq=4))
    elif tamper == "truncate_entries":
        _exec(config, delete(AuditEntry).where(AuditEntry.seq >= 5))
    elif tamper == "truncate_with_checkpoints":
        # Without the key an attacker can only drop checkpoints too: the head file still knows.
        _exec(config, delete(AuditEntry).where(AuditEntry.seq >= 5))
        _exec(config, delete(AuditCheckpoint).where(AuditCheckpoint.seq >= 5))
    elif tamper == "rewrite_tail":
        # Recompute a consistent chain from entry 4 on and re-point the checkpoints, with a
        # key of the attacker's own: the SM2 signatures give it away.
        forged = CheckpointKey.generate()
        store = audit.store_for(config)
        with store.session() as session:
            rows = session.query(AuditEntry).order_by(AuditEntry.seq).all()
            prev = rows[2].hash
            for row in rows[3:]:
                row.details = '{"run": "forged"}'
                row.prev_hash = prev
                row.hash = audit.entry_hash(row.seq, row.at, row.actor, row.action, row.details, prev)
                prev = row.hash
                cp = session.get(AuditCheckpoint, row.seq)
                assert cp is not None
                cp.entry_hash = row.hash
                cp.signature = forged.sign(b"junk").hex()
    result = audit.verify_config(config, all_signatures=True)
    assert not result.ok
    assert (result.first_bad, result.problem) == (first_bad, problem), result


def test_verify_without_head_file_still_catches_checkpoint_truncation(config: GanyunConfig) -> None:
    _fill(config)
    _exec(config, delete(AuditEntry).where(AuditEntry.seq == 6))
    result = audit.verify(audit.store_for(config))
    assert not result.ok and result.problem == "truncated" and result.first_bad == 6


def test_loose_key_file_is_refused(config: GanyunConfig) -> None:
    _fill(config, 1)
    os.chmod(audit.key_path(config), 0o644)
    with pytest.raises(ConfigError, match="0600"):
        load_key(audit.key_path(config), create=False)


def test_key_file_is_openssl_readable_pkcs8_and_round_trips(tmp_path: Path) -> None:
    import shutil
    import subprocess

    key = load_key(tmp_path / "k.pem", create=True)
    assert key is not None
    again = CheckpointKey.from_pem((tmp_path / "k.pem").read_bytes())
    assert again.public_hex() == key.public_hex()
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-noout", "-text"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert out.returncode == 0 and "SM2" in out.stdout


def test_checkpoint_signature_verifies_only_for_its_message(tmp_path: Path) -> None:
    from security.audit_key import verify_signature

    key = CheckpointKey.generate()
    sig = key.sign(b"ganyun-audit-checkpoint:1:ab").hex()
    assert verify_signature(key.public_hex(), b"ganyun-audit-checkpoint:1:ab", sig)
    assert not verify_signature(key.public_hex(), b"ganyun-audit-checkpoint:2:ab", sig)
    assert not verify_signature(CheckpointKey.generate().public_hex(), b"ganyun-audit-checkpoint:1:ab", sig)
    assert not verify_signature("zz", b"x", sig)


def test_cli_verify_exits_1_naming_the_first_bad_entry(
    config: GanyunConfig, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    _fill(config)
    cfg = str(tmp_path / "ganyun.yaml")
    code, out, _err = cli("--config", cfg, "--lang", "en", "audit", "verify")
    assert code == 0 and "6 entries" in out
    store = audit.store_for(config)
    with store.session() as session:
        session.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 2"))
    code, out, err = cli("--config", cfg, "--lang", "en", "audit", "verify")
    assert code == 1 and "#2" in err
    code, out, _err = cli("--config", cfg, "audit", "verify", "--json")
    assert code == 1 and json.loads(out)["first_bad"] == 2


def test_cli_list_and_search(config: GanyunConfig, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    _fill(config, 4)
    audit.append_action(config, "alice", "comply.waiver.approve", {"id": 7})
    cfg = str(tmp_path / "ganyun.yaml")
    code, out, _ = cli("--config", cfg, "audit", "search", "--action", "comply", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 1 and data["entries"][0]["actor"] == "alice"
    code, out, _ = cli("--config", cfg, "audit", "list", "--limit", "2", "--json")
    assert [e["seq"] for e in json.loads(out)["entries"]] == [5, 4]


def test_record_action_goes_to_the_log(config: GanyunConfig) -> None:
    from console.actions import record_action

    record_action(config, "drill.run", {"scenario": "switchover"}, actor="ops")
    total, rows = audit.search(audit.store_for(config), action="drill")
    assert total == 1 and rows[0]["details"] == {"scenario": "switchover"}
