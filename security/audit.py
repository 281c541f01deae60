"""The append-only audit log: an SM3 hash chain, SM2-signed checkpoints, a head file and a witness.

Every entry stores the SM3 hash of the previous entry and its own hash over (seq, time, actor,
action, details, previous hash). Editing, deleting or moving an entry breaks the chain there.
Each append also writes a checkpoint: an SM2 signature over the new head (seq, hash), made with
the key in `audit_key.pem`. The same signed head goes to `audit_head.json` and, when
`audit.witness` is configured, to a witness file or syslog receiver: both outside the database.

Someone who can write the database but not those files cannot sign, so `verify` holds the log to
them: the latest checkpoint the key signed must cover the last entry (appended or rewritten
entries are unsigned), the head file must name an entry the log still holds with the same hash
(a cut or rewritten tail no longer matches), and so must every head the witness saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from inventory.config import GanyunConfig
from inventory.store import Store, open_store
from providers.errors import ConfigError
from security.audit_key import KEY_FILE_NAME, CheckpointKey, load_key, verify_signature
from security.audit_models import AuditCheckpoint, AuditEntry
from security.audit_witness import Witness, WitnessedHead, publish, read_heads, witness_of
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
    signature: str
    public_key: str

    def head(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "public_key": self.public_key, "signature": self.signature}


def append(
    store: Store,
    actor: str,
    action: str,
    details: Mapping[str, Any] | None,
    *,
    key: CheckpointKey,
    head: Path,
    witness: Witness | None = None,
) -> Appended:
    """Append one entry with its signed checkpoint, then record the new head outside the database."""
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
        _write_head(head, appended)
        if witness is not None:
            publish(witness, appended.head())
        return appended
    raise AssertionError("unreachable")


def _append_once(store: Store, actor: str, action: str, details_text: str, key: CheckpointKey) -> Appended:
    with store.write_lock, store.session() as session:
        last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        digest = entry_hash(seq, at, actor, action, details_text, prev)
        appended = Appended(seq, digest, at, key.sign(checkpoint_message(seq, digest)).hex(), key.public_hex())
        session.add(
            AuditEntry(seq=seq, at=at, actor=actor, action=action, details=details_text, prev_hash=prev, hash=digest)
        )
        session.add(
            AuditCheckpoint(
                seq=seq, entry_hash=digest, at=at, signature=appended.signature, public_key=appended.public_key
            )
        )
    return appended


def _write_head(path: Path, appended: Appended) -> None:
    current = read_head(path)
    if current is not None and head_seq(current) > appended.seq:
        return  # a concurrent writer already recorded a later head
    write_private(path, json.dumps(appended.head(), indent=1).encode())


def read_head(path: Path) -> dict[str, Any] | None:
    """The head file's content; None when there is none, an unsigned stand-in when it is garbage."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = None
    return data if isinstance(data, dict) else {"seq": -1, "hash": "", "public_key": "", "signature": ""}


def head_seq(head: Mapping[str, Any]) -> int:
    try:
        return int(head.get("seq", -1))
    except (TypeError, ValueError):
        return -1


def append_action(config: GanyunConfig, actor: str, action: str, details: Mapping[str, Any]) -> Appended:
    """What console.actions.record_action calls for every user action."""
    key = load_key(key_path(config), create=True)
    assert key is not None  # create=True always yields a key
    return append(
        store_for(config), actor, action, details, key=key, head=head_path(config), witness=witness_of(config)
    )


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
    witnessed: int = 0
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
    witness: Iterable[WitnessedHead] | None = None,
    all_signatures: bool = False,
) -> VerifyResult:
    """Check the log against what the database cannot change; report the first entry not vouched for.

    - the SM3 chain: each entry's hash and its link to the previous one;
    - signed checkpoints: the latest one signed by the trusted key must cover the last entry
      (every entry before it is then vouched for through the chain);
    - the head file (`head`, None when missing): signed by the same key, and naming an entry
      the log still holds, with the same hash;
    - the witness (`witness`): every head it recorded names an entry the log still holds.

    The trusted key is the audit key file's; without it, the head file's (a warning says so).
    """
    result = VerifyResult()
    witnessed = list(witness or [])
    if head is not None and trusted_public_key is None:
        trusted_public_key = _head_key(head, result)
    wanted = {w.seq for w in witnessed}
    if head is not None:
        wanted.add(head_seq(head))
    with store.session() as session:
        checkpoints = {
            row.seq: row
            for row in session.execute(
                select(AuditCheckpoint.seq, AuditCheckpoint.entry_hash, AuditCheckpoint.signature,
                       AuditCheckpoint.public_key)
            )
        }  # fmt: skip
        result.checkpoints = len(checkpoints)
        hashes = _walk_chain(session, checkpoints, wanted, result)
    if not result.ok:
        return result
    _check_checkpoints(result, checkpoints, trusted_public_key, all_signatures)
    if result.ok:
        _check_head(result, head, hashes, trusted_public_key)
    if result.ok:
        _check_witness(result, witnessed, hashes, trusted_public_key)
    return result


def _walk_chain(session: Any, checkpoints: Mapping[int, Any], wanted: set[int], result: VerifyResult) -> dict[int, str]:
    """Walk the chain once in seq order; keep the hashes of the `wanted` entries."""
    hashes: dict[int, str] = {}
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
        if row.seq in wanted:
            hashes[row.seq] = digest
        prev, expected_seq = digest, expected_seq + 1
    result.last_seq = expected_seq - 1
    return hashes


def _iter_entries(session: Any) -> Iterator[Any]:
    stmt = select(
        AuditEntry.seq, AuditEntry.at, AuditEntry.actor, AuditEntry.action,
        AuditEntry.details, AuditEntry.prev_hash, AuditEntry.hash,
    ).order_by(AuditEntry.seq).execution_options(yield_per=2000)  # fmt: skip
    yield from session.execute(stmt)


def _signed_by(public_key: str, trusted: str | None, seq: int, digest: str, signature: str) -> bool:
    return public_key == trusted and verify_signature(public_key, checkpoint_message(seq, digest), signature)


def _check_checkpoints(
    result: VerifyResult, checkpoints: Mapping[int, Any], trusted: str | None, all_signatures: bool
) -> None:
    last = result.last_seq
    beyond = sorted(seq for seq in checkpoints if seq > last)
    if beyond:
        result.fail(last + 1, "truncated", f"the log ends at entry {last} but checkpoint {beyond[-1]} exists")
        return
    if last == 0:
        return
    if trusted is None:
        result.fail(1, "no_anchor", f"neither {KEY_FILE_NAME} nor {HEAD_FILE_NAME} exists: nothing outside the "
                                    "database vouches for entry 1")  # fmt: skip
        return
    if all_signatures:
        for seq in sorted(checkpoints):
            cp = checkpoints[seq]
            if not _signed_by(cp.public_key, trusted, seq, cp.entry_hash, cp.signature):
                result.fail(seq, "bad_signature", f"checkpoint {seq} is not signed by the audit key")
                return
    # The latest checkpoint the audit key signed vouches for every entry up to it (the chain
    # binds them); anything after it was written without the key.
    vouched, forged = 0, 0
    for seq in sorted(checkpoints, reverse=True):
        cp = checkpoints[seq]
        if _signed_by(cp.public_key, trusted, seq, cp.entry_hash, cp.signature):
            vouched = seq
            break
        forged = forged or seq
    if vouched == last:
        return
    first = vouched + 1
    if forged:
        result.fail(first, "bad_signature", f"checkpoint {forged} is not signed by the audit key: entries "
                                            f"{first}..{last} are not vouched for")  # fmt: skip
    elif vouched:
        result.fail(first, "unsigned", f"no signed checkpoint covers entries {first}..{last} (the latest signed "
                                       f"checkpoint is {vouched})")  # fmt: skip
    else:
        result.fail(1, "unsigned", f"the log has {last} entries and no signed checkpoint")


def _head_key(head: Mapping[str, Any], result: VerifyResult) -> str:
    result.warnings.append(f"no audit key file: signatures checked against the key in {HEAD_FILE_NAME}")
    return str(head.get("public_key", ""))


def _check_head(result: VerifyResult, head: Mapping[str, Any] | None, hashes: Mapping[int, str],
                trusted: str | None) -> None:  # fmt: skip
    last = result.last_seq
    if head is None:
        if last:
            message = f"{HEAD_FILE_NAME} is missing: nothing outside the database shows the log ended at entry {last}"
            result.fail(last + 1, "no_head", message + "; later entries may have been deleted")
        return
    seq = head_seq(head)
    digest, sig = str(head.get("hash", "")), str(head.get("signature", ""))
    if seq < 0 or not _signed_by(str(head.get("public_key", "")), trusted, seq, digest, sig):
        result.fail(min(max(seq, 1), last + 1), "bad_head", f"{HEAD_FILE_NAME} is not signed by the audit key")
        return
    if seq > last:
        result.fail(last + 1, "truncated", f"the log ends at entry {last} but {HEAD_FILE_NAME} says it reached {seq}")
    elif seq and hashes.get(seq) != digest:
        result.fail(seq, "head_mismatch", f"entry {seq} is not the one {HEAD_FILE_NAME} recorded: the log was "
                                          f"rewritten at or before it")  # fmt: skip


def _check_witness(result: VerifyResult, witnessed: Iterable[WitnessedHead], hashes: Mapping[int, str],
                   trusted: str | None) -> None:  # fmt: skip
    matching: set[int] = set()
    wrong: set[int] = set()
    ignored = 0
    for w in witnessed:
        if hashes.get(w.seq) == w.hash:
            matching.add(w.seq)
        # Only a line the key signed counts against the log: anyone can send a syslog datagram.
        elif _signed_by(w.public_key, trusted, w.seq, w.hash, w.signature):
            wrong.add(w.seq)
        else:
            ignored += 1
    result.witnessed = len(matching)
    if ignored:
        result.warnings.append(f"{ignored} witness line(s) ignored: not signed by the audit key")
    if not wrong:
        return
    last, first_wrong = result.last_seq, min(wrong)
    if first_wrong > last:
        result.fail(last + 1, "witness_truncated", f"the log ends at entry {last} but the witness saw entry "
                                                   f"{max(wrong)}")  # fmt: skip
        return
    # Entries up to the last witnessed head that still matches are vouched for; the next is not.
    first = max((s for s in matching if s < first_wrong), default=0) + 1
    message = f"entry {first_wrong} differs from the head the witness recorded"
    result.fail(first, "witness_mismatch", f"{message}: rewritten between entries {first} and {first_wrong}")


def verify_config(config: GanyunConfig, *, all_signatures: bool = False, store: Store | None = None) -> VerifyResult:
    """verify() against the anchors beside the configuration: key file, head file, witness."""
    key = load_key(key_path(config), create=False)
    witness = witness_of(config)
    lines: list[WitnessedHead] | None = None
    unread = ""
    if witness is not None:
        if witness.readback is None:
            unread = f"audit.witness {witness.label} has no audit.witness_file to read back: not compared"
        else:
            try:
                lines = list(read_heads(witness.readback))
            except FileNotFoundError:
                unread = f"witness file {witness.readback} does not exist yet: not compared"
            except OSError as exc:
                raise ConfigError(f"witness file {witness.readback} cannot be read: {exc.strerror}") from None
    result = verify(
        store or store_for(config),
        trusted_public_key=key.public_hex() if key else None,
        head=read_head(head_path(config)),
        witness=lines,
        all_signatures=all_signatures,
    )
    if unread:
        result.warnings.append(unread)
    return result


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
