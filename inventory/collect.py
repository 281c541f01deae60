"""What one provider returns in one sync: complete listings per kind, deltas where the
provider can answer "what changed since", and the kinds this account may not read.

Free of database code: collector processes (inventory/collector.py) run exactly this and
`Collected.encode`, and send the result to the process that writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inventory.encoding import EncodedListing, encode_listing
from providers.base import Kind, Provider, Record
from providers.errors import AuthError, GanyunError, NotFound
from providers.masking import mask

# Kinds a limited account may be unable to read (403/404): left empty, with a warning.
OPTIONAL_KINDS: tuple[tuple[Kind, str], ...] = (
    (Kind.HOST, "list_hosts"),
    (Kind.SIZE, "list_sizes"),
    (Kind.IMAGE, "list_images"),
    (Kind.VOLUME, "list_volumes"),
    (Kind.SNAPSHOT, "list_snapshots"),
    (Kind.NETWORK, "list_networks"),
    (Kind.SECURITY_GROUP, "list_security_groups"),
)
# Kinds only some adapters have (vSphere clusters): collected where offered, silently skipped
# elsewhere instead of a "not offered" warning for every other provider.
OFFERED_KINDS: tuple[tuple[Kind, str], ...] = ((Kind.CLUSTER, "list_clusters"),)
# Kinds an adapter may list as changes since a moment, and what the ids it returns beside the
# changed records mean: nodes -> ids deleted since (Nova), volumes -> every id present (Cinder).
DELTA_METHODS: dict[Kind, tuple[str, str]] = {
    Kind.NODE: ("list_node_changes", "deleted"),
    Kind.VOLUME: ("list_volume_changes", "present"),
}


@dataclass(frozen=True)
class Delta:
    """How to read a partial listing: Nova names the ids deleted since (`deleted`); Cinder
    lists every id still present (`present`). Rows neither listed nor gone stay as stored."""

    deleted: list[str] | None = None
    present: list[str] | None = None


@dataclass
class Collected:
    """What one provider returned: complete listings per kind, plus kinds it could not read."""

    listings: dict[Kind, list[Record] | EncodedListing] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    utilization: list[Any] = field(default_factory=list)
    # Kinds that came as a delta (changes since the last sync) rather than a complete listing.
    deltas: dict[Kind, Delta] = field(default_factory=dict)
    # The adapter's own marker for the next delta (`watermark()`), given back as `since`.
    watermark: str | None = None
    # What lets the next sync continue the adapter's session (vSphere): a credential, for the vault.
    session_state: str | None = field(default=None, repr=False)

    def encode(self) -> None:
        """Turn the listings into database-ready rows here, where they were collected (a worker
        process, when there is one), so that the writer only compares and writes."""
        for kind, records in self.listings.items():
            if not isinstance(records, EncodedListing):
                self.listings[kind] = encode_listing(kind, records)


def collect(
    adapter: Provider, changes_since: datetime | str | None = None, session_state: str | None = None
) -> Collected:
    """List everything; nodes are required, the other kinds may be forbidden to this account.

    With `changes_since`, nodes (Nova's changes-since, vSphere's collector version) and volumes
    (Cinder 3.60's time filters) are asked as a delta when the adapter can; one that cannot (no
    such method, or NotFound from it) falls back to the complete listing. `changes_since` is the
    adapter's own watermark from the last sync when it gave one, else that sync's time.
    `session_state` is what the adapter gave at the end of that sync (`session_state()`): an
    adapter whose changes live in a server-side session continues it (`resume_session`).
    """
    out = Collected()
    resume = getattr(adapter, "resume_session", None)
    if session_state and changes_since is not None and callable(resume):
        resume(session_state)  # False: that session is gone, and the delta below falls back
    if not _collect_delta(adapter, Kind.NODE, changes_since, out):
        out.listings[Kind.NODE] = list(adapter.list_nodes())
    watermark = getattr(adapter, "watermark", None)
    out.watermark = watermark() if callable(watermark) else None
    export = getattr(adapter, "session_state", None)
    out.session_state = export() if callable(export) else None
    for kind, method in OFFERED_KINDS:
        offered = getattr(adapter, method, None)
        if offered is not None:
            try:
                out.listings[kind] = list(offered())
            except (AuthError, NotFound) as exc:
                out.warnings.append(f"{kind.value}: {exc.detail}")
    for kind, method in OPTIONAL_KINDS:
        lister = getattr(adapter, method, None)
        if lister is None:
            out.warnings.append(f"{kind.value}: not offered by this driver")
            continue
        try:
            if not _collect_delta(adapter, kind, changes_since, out):
                out.listings[kind] = list(lister())
        except (AuthError, NotFound) as exc:
            out.warnings.append(f"{kind.value}: {exc.detail}")
    utilization = getattr(adapter, "list_utilization", None)
    if utilization is not None:
        try:
            out.utilization = list(utilization())
        except (AuthError, NotFound) as exc:
            out.warnings.append(f"utilization: {exc.detail}")
    return out


def _collect_delta(adapter: Provider, kind: Kind, changes_since: datetime | str | None, out: Collected) -> bool:
    """Ask `kind` as changes since the last sync; False when a complete listing is needed."""
    method, meaning = DELTA_METHODS.get(kind, ("", ""))
    lister = getattr(adapter, method, None) if method and changes_since is not None else None
    if lister is None:
        return False
    try:
        changed, ids = lister(changes_since)
    except NotFound:
        return False
    out.listings[kind] = list(changed)
    out.deltas[kind] = Delta(**{meaning: list(ids)})
    return True


def collect_outcome(name: str, work: Callable[[], Collected]) -> Collected | str:
    """Run one provider's collection; any failure becomes its one-line message, so that an
    adapter bug never takes the other providers down (in a thread or a worker process).
    The message is masked here, where the credentials were used: in a worker process, before
    it travels to the writer."""
    try:
        return work()
    except GanyunError as exc:
        return mask(str(exc))
    except Exception as exc:
        return mask(f"{name}: unexpected {type(exc).__name__}: {exc}")
