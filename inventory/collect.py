"""What one provider returns in one sync: complete listings per kind, deltas where the
provider can answer "what changed since", and the kinds this account may not read.

Free of database code: collector processes (inventory/collector.py) run exactly this and
`Collected.encode`, and send the result to the process that writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inventory.encoding import EncodedListing, encode_listing
from providers import capabilities
from providers.base import Kind, Provider, Record
from providers.errors import AuthError, GanyunError, NotFound, ProviderError
from providers.masking import mask


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
    # Daily utilization (providers.base.DailyUtilization) where the source keeps history
    # (Prometheus); None where it does not, and the stored history is left alone.
    history: list[Any] | None = None
    # Kinds that came as a delta (changes since the last sync) rather than a complete listing.
    deltas: dict[Kind, Delta] = field(default_factory=dict)
    # The adapter's own marker for the next delta (`watermark()`), given back as `since`.
    watermark: str | None = None
    # When collection began, by the cloud's own clock where it tells it (else this machine's):
    # the next time-based delta starts here, less a margin.
    started_at: datetime | None = None
    # What lets the next sync continue the adapter's session (vSphere): a credential, for the vault.
    session_state: str | None = field(default=None, repr=False)

    def encode(self) -> None:
        """Turn the listings into database-ready rows here, where they were collected (a worker
        process, when there is one), so that the writer only compares and writes."""
        for kind, records in self.listings.items():
            if not isinstance(records, EncodedListing):
                self.listings[kind] = encode_listing(kind, records)


def collect(
    adapter: Provider,
    changes_since: datetime | str | None = None,
    session_state: str | None = None,
    prometheus: Mapping[str, Any] | None = None,
) -> Collected:
    """List nodes and every other kind the adapter declares; a declared kind this account
    may not read (403/404) is left out with a warning, and nodes are required.

    With `changes_since`, nodes (Nova's changes-since, vSphere's collector version) and volumes
    (Cinder 3.60's time filters) are asked as a delta when the adapter declares it; a delta it
    cannot answer (NotFound) falls back to the complete listing. `changes_since` is the
    adapter's own watermark from the last sync when it gave one, else the cloud's clock when
    that sync began collecting (less a margin): never the time it finished, which would skip
    whatever changed while it collected.
    `session_state` is what the adapter gave at the end of that sync: an adapter whose changes
    live in a server-side session (Capability.SESSION_RESUME) continues it.
    """
    out = Collected()
    local_start = datetime.now(UTC)
    sessions = capabilities.SESSION_RESUME.of(adapter)
    if sessions is not None and session_state and changes_since is not None:
        sessions.resume_session(session_state)  # False: that session is gone, and the delta falls back
    if not _node_delta(adapter, changes_since, out):
        out.listings[Kind.NODE] = list(adapter.list_nodes())
    clock = capabilities.CLOUD_CLOCK.of(adapter)
    out.started_at = (clock.cloud_time() if clock is not None else None) or local_start
    watermarked = capabilities.WATERMARK.of(adapter)
    out.watermark = watermarked.watermark() if watermarked is not None else None
    out.session_state = sessions.session_state() if sessions is not None else None
    for kind, capability in capabilities.LISTED_KINDS.items():
        if capability not in adapter.features:
            continue
        try:
            if not (kind is Kind.VOLUME and _volume_delta(adapter, changes_since, out)):
                out.listings[kind] = list(capabilities.listing(adapter, kind))
        except (AuthError, NotFound) as exc:
            out.warnings.append(f"{kind.value}: {exc.detail}")
    _utilization(adapter, prometheus, out)
    return out


def _utilization(adapter: Provider, prometheus: Mapping[str, Any] | None, out: Collected) -> None:
    """From the provider's Prometheus when it names one, else from the adapter when it measures.
    Utilization is an enrichment: a Prometheus that cannot answer leaves a warning, not a
    failed sync."""
    if prometheus is not None:
        from providers.prometheus import read_utilization, source_from

        try:
            reading = read_utilization(adapter.name, source_from(prometheus))
            out.utilization, out.history = reading.utilization, reading.history
        except ProviderError as exc:
            out.warnings.append(f"utilization: {exc.detail}")
        return
    measured = capabilities.UTILIZATION.of(adapter)
    if measured is not None:
        try:
            out.utilization = list(measured.list_utilization())
        except (AuthError, NotFound) as exc:
            out.warnings.append(f"utilization: {exc.detail}")


def _node_delta(adapter: Provider, changes_since: datetime | str | None, out: Collected) -> bool:
    """Nodes as changes since the last sync (ids deleted since beside them, as Nova and the
    vSphere collector answer); False when a complete listing is needed."""
    delta = capabilities.NODE_DELTA.of(adapter)
    if delta is None or changes_since is None:
        return False
    try:
        changed, deleted = delta.list_node_changes(changes_since)
    except NotFound:
        return False
    out.listings[Kind.NODE] = list(changed)
    out.deltas[Kind.NODE] = Delta(deleted=list(deleted))
    return True


def _volume_delta(adapter: Provider, changes_since: datetime | str | None, out: Collected) -> bool:
    """Volumes as changes since the last sync (every id present beside them, as Cinder 3.60
    answers); False when a complete listing is needed. Only times: a watermark is for nodes."""
    delta = capabilities.VOLUME_DELTA.of(adapter)
    if delta is None or not isinstance(changes_since, datetime):
        return False
    try:
        changed, present = delta.list_volume_changes(changes_since)
    except NotFound:
        return False
    out.listings[Kind.VOLUME] = list(changed)
    out.deltas[Kind.VOLUME] = Delta(present=list(present))
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
