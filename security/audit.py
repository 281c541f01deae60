"""The append-only audit log: an SM3 hash chain with SM2-signed checkpoints.

Every entry stores the SM3 hash of the previous entry and its own hash over (seq, time, actor,
action, details, previous hash). Editing, deleting or moving an entry breaks the chain there.
Each append also writes a checkpoint: an SM2 signature over the new head (seq, hash), plus a
copy of that head in `audit_head.json` next to the configuration, outside the database. So a
log rewritten from some entry on fails the signature of its latest checkpoint, and a log cut
short (entries and checkpoints deleted together) is shorter than the head file says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from inventory.config import GanyunConfig
from inventory.store import Store, open_store
from security.audit_key import KEY_FILE_NAME, CheckpointKey, load_key, verify_signature
from security.audit_models import AuditCheckpoint, AuditEntry
from security.vault import write_private

GENESIS = "0" * 64
HEAD_FILE_NAME = "audit_head.json"
_REDACTED = "***"
# Detail keys whose values are never written to the log, whatever a caller passes.
_SECRET_WORDS = ("secret", "password", "passwd", "token", "private", "credential_value")
_RETRIES = 8

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


# --------------------------------------------------------------------------- hashing


def sm3_hex(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(seq: int, at: str, actor: str, action: str, details: str, prev_hash: str) -> str:
    return sm3_hex(canonical([seq, at, actor, action, details, prev_hash]).encode("utf-8"))


def checkpoint_message(seq: int, entry_hash_hex: str) -> bytes:
    return f"ganyun-audit-checkpoint:{seq}:{entry_hash_hex}".encode()


def redact(details: Any) -> Any:
    if isinstance(details, Mapping):
        return {
            str(k): _REDACTED if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v)
            for k, v in details.items()
        }
    if isinstance(details, list | tuple):
        return [redact(v) for v in details]
    return details


# --------------------------------------------------------------------------- locations


def key_path(config: GanyunConfig) -> Path:
    return config.resolve_path(KEY_FILE_NAME)


def head_path(config: GanyunConfig) -> Path:
    return config.resolve_path(HEAD_FILE_NAME)


def store_for(config: GanyunConfig) -> Store:
    """One store per database URL per process: appends happen on every CLI action."""
    url = config.database_url
    with _stores_lock:
        if url not in _stores:
            _stores[url] = open_store(url)
        return _stores[url]


# --------------------------------------------------------------------------- appending


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str
    at: str


def append(
    store: Store,
    actor: str,
    action: str,
    details: Mapping[str, Any] | None = None,
    *,
    key: CheckpointKey | None = None,
    head: Path | None = None,
) -> Appended:
    """Append one entry (and a signed checkpoint when a key is given); retried on a race."""
    details_text = canonical(redact(dict(details or {})))
    for attempt in range(_RETRIES):
        try:
            appended = _append_once(store, actor, action, details_text, key)
        except (IntegrityError, OperationalError):
            # Another writer took the same seq (or held the SQLite lock): read the new head.
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
            continue
        if key is not None and head is not None:
            _write_head(head, appended, key)
        return appended
    raise AssertionError("unreachable")


def _append_once(store: Store, actor: str, action: str, details_text: str, key: CheckpointKey | None) -> Appended:
    with store.write_lock, store.session() as session:
        last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        digest = entry_hash(seq, at, actor, action, details_text, prev)
        session.add(
            AuditEntry(seq=seq, at=at, actor=actor, action=action, details=details_text, prev_hash=prev, hash=digest)
        )
        if key is not None:
            session.add(
                AuditCheckpoint(
                    seq=seq,
                    entry_hash=digest,
                    at=at,
                    signature=key.sign(checkpoint_message(seq, digest)).hex(),
                    public_key=key.public_hex(),
                )
            )
    return Appended(seq=seq, hash=digest, at=at)


def _write_head(path: Path, appended: Appended, key: CheckpointKey) -> None:
    current = read_head(path)
    if current is not None and int(current.get("seq", 0)) > appended.seq:
        return  # a concurrent writer already recorded a later head
    head = {
        "seq": appended.seq,
        "hash": appended.hash,
        "public_key": key.public_hex(),
        "signature": key.sign(checkpoint_message(appended.seq, appended.hash)).hex(),
    }
    write_private(path, json.dumps(head, indent=1).encode())


def read_head(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"seq": -1, "hash": "", "public_key": "", "signature": ""}
    return data if isinstance(data, dict) else None


def append_action(config: GanyunConfig, actor: str, action: str, details: Mapping[str, Any]) -> Appended:
    """What console.actions.record_action calls for every user action."""
    key = load_key(key_path(config), create=True)
    return append(store_for(config), actor, action, details, key=key, head=head_path(config))


# --------------------------------------------------------------------------- verifying


@dataclass
class VerifyResult:
    ok: bool = True
    entries: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    first_bad: int | None = None
    problem: str = ""
    message: str = ""
    warnings: list[str] = field(default_factory=list)

    def fail(self, seq: int, problem: str, message: str) -> None:
        if self.ok:
            self.ok, self.first_bad, self.problem, self.message = False, seq, problem, message

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(
    store: Store,
    *,
    trusted_public_key: str | None = None,
    head: Mapping[str, Any] | None = None,
    all_signatures: bool = False,
) -> VerifyResult:
    """Walk the chain once in seq order; report the first entry that does not hold.

    Signatures: the latest checkpoint's always (it vouches for the whole chain before it);
    every checkpoint's with `all_signatures`. Earlier checkpoints must still name the right hash.
    """
    result = VerifyResult()
    with store.session() as session:
        checkpoints = {
            row.seq: row
            for row in session.execute(
                select(
                    AuditCheckpoint.seq,
                    AuditCheckpoint.entry_hash,
                    AuditCheckpoint.signature,
                    AuditCheckpoint.public_key,
                )
            )
        }
        result.checkpoints = len(checkpoints)
        expected_seq, prev = 1, GENESIS
        for row in _iter_entries(session):
            result.entries += 1
            if row.seq != expected_seq:
                problem = "missing" if row.seq > expected_seq else "reordered"
                result.fail(expected_seq, problem, f"entry {expected_seq} is missing (next is {row.seq})")
                break
            if row.prev_hash != prev:
                result.fail(row.seq, "bad_link", f"entry {row.seq} does not point at entry {row.seq - 1}")
                break
            digest = entry_hash(row.seq, row.at, row.actor, row.action, row.details, row.prev_hash)
            if digest != row.hash:
                result.fail(row.seq, "modified", f"entry {row.seq} was modified (its SM3 hash does not match)")
                break
            cp = checkpoints.get(row.seq)
            if cp is not None and cp.entry_hash != digest:
                result.fail(row.seq, "checkpoint_mismatch", f"checkpoint {row.seq} names another hash")
                break
            prev, expected_seq = digest, expected_seq + 1
        result.last_seq = expected_seq - 1
        if not result.ok:
            return result
        _check_checkpoints(result, checkpoints, trusted_public_key, all_signatures)
        if result.ok and head is not None:
            _check_head(result, head, trusted_public_key)
    return result


def _iter_entries(session: Any) -> Iterator[Any]:
    stmt = select(
        AuditEntry.seq, AuditEntry.at, AuditEntry.actor, AuditEntry.action,
        AuditEntry.details, AuditEntry.prev_hash, AuditEntry.hash,
    ).order_by(AuditEntry.seq).execution_options(yield_per=2000)  # fmt: skip
    yield from session.execute(stmt)


def _check_checkpoints(
    result: VerifyResult, checkpoints: Mapping[int, Any], trusted: str | None, all_signatures: bool
) -> None:
    beyond = sorted(seq for seq in checkpoints if seq > result.last_seq)
    if beyond:
        first = result.last_seq + 1
        result.fail(first, "truncated", f"the log ends at entry {result.last_seq} but checkpoint {beyond[-1]} exists")
        return
    if not checkpoints:
        if result.entries:
            result.warnings.append("no signed checkpoint: truncation cannot be detected")
        return
    to_check = sorted(checkpoints) if all_signatures else [max(checkpoints)]
    for seq in to_check:
        cp = checkpoints[seq]
        if trusted and cp.public_key != trusted:
            result.fail(seq, "foreign_key", f"checkpoint {seq} is signed by a key other than audit_key.pem")
            return
        if not verify_signature(cp.public_key, checkpoint_message(seq, cp.entry_hash), cp.signature):
            result.fail(seq, "bad_signature", f"the SM2 signature of checkpoint {seq} does not verify")
            return
    if trusted is None:
        result.warnings.append("no audit key file: checkpoint signatures checked against their own public key")


def _check_head(result: VerifyResult, head: Mapping[str, Any], trusted: str | None) -> None:
    seq, digest = int(head.get("seq", -1)), str(head.get("hash", ""))
    pub, sig = str(head.get("public_key", "")), str(head.get("signature", ""))
    if seq < 0 or (trusted and pub != trusted) or not verify_signature(pub, checkpoint_message(seq, digest), sig):
        result.fail(max(seq, 0), "bad_head", f"{HEAD_FILE_NAME} is not signed by the audit key")
        return
    if seq > result.last_seq:
        result.fail(
            result.last_seq + 1, "truncated", f"the log ends at entry {result.last_seq} but reached entry {seq}"
        )


def verify_config(config: GanyunConfig, *, all_signatures: bool = False) -> VerifyResult:
    """verify() with the trust anchors kept next to the configuration."""
    key = load_key(key_path(config), create=False)
    return verify(
        store_for(config),
        trusted_public_key=key.public_hex() if key else None,
        head=read_head(head_path(config)),
        all_signatures=all_signatures,
    )


# --------------------------------------------------------------------------- reading


def search(
    store: Store,
    *,
    text: str = "",
    action: str = "",
    actor: str = "",
    since: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first: (total matching, one page)."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.like(f"{action}%"))
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if text:
        pattern = f"%{text}%"
        stmt = stmt.where(
            or_(AuditEntry.details.like(pattern), AuditEntry.action.like(pattern), AuditEntry.actor.like(pattern))
        )
    with store.session() as session:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)).all()
        return total, [_entry_dict(r) for r in rows]


def _entry_dict(row: AuditEntry) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        details = json.loads(row.details)
        return {
            "seq": row.seq,
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "details": details,
            "hash": row.hash,
        }
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "details": row.details,
        "hash": row.hash,
    }


def last_entry(store: Store) -> dict[str, Any] | None:
    total, rows = search(store, limit=1)
    return rows[0] if total else None
