"""What a viewer owns, as SQL: the one place where an account's scope becomes a condition.

A city-wide viewer owns everything: every clause here is then None and no query changes. A
viewer scoped to departments (单位; counties and districts such as 定南县 are departments)
owns:
- the nodes whose department is one of its departments;
- the hosts that run one of those nodes (a node's `host` is its hypervisor's name);
- the volumes, snapshots and security groups attached to one of those nodes or tagged with one
  of its departments, and the images those nodes boot from; sizes, networks and clusters only
  when tagged with one of its departments (they carry no link to a node);
- the business systems those nodes carry;
- the TLS/TLCP endpoints recorded for one of its departments (a scan of the inventory records
  the department of the node it probed), or, for an endpoint recorded without a department
  (a manual `certs scan`), whose host is an IP address of one of its nodes; and the
  certificates seen at those endpoints (certificates found only in Kubernetes secrets, files
  or the CA's directory are seen at no endpoint and stay city-wide);
- the compliance findings on its departments' resources;
- the drill runs that measured one of its systems;
- the migration VMs whose source node is its own (by the plan's department once the node
  itself is gone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from console.services.viewer import Viewer
from inventory.models import HostRow, NodeRow
from security.cert_models import CertificateSighting, Endpoint
from security.compliance.models import ComplianceFinding


def node_clause(viewer: Viewer) -> ColumnElement[bool] | None:
    departments = viewer.departments
    return None if departments is None else NodeRow.department.in_(departments)


def host_clause(viewer: Viewer) -> ColumnElement[bool] | None:
    departments = viewer.departments
    if departments is None:
        return None
    return exists().where(
        NodeRow.provider == HostRow.provider, NodeRow.host == HostRow.name, NodeRow.department.in_(departments)
    )


def finding_clause(viewer: Viewer) -> ColumnElement[bool] | None:
    departments = viewer.departments
    return None if departments is None else ComplianceFinding.department.in_(departments)


def systems(session: Session, viewer: Viewer) -> set[str] | None:
    """The business systems of the viewer's nodes; None for a city-wide viewer."""
    clause = node_clause(viewer)
    if clause is None:
        return None
    stmt = select(NodeRow.system).where(clause, NodeRow.system != "").distinct()
    return set(session.scalars(stmt))


def node_keys(session: Session, viewer: Viewer) -> set[tuple[str, str]] | None:
    """(provider, node id) of the viewer's nodes; None for a city-wide viewer."""
    clause = node_clause(viewer)
    if clause is None:
        return None
    return {(p, i) for p, i in session.execute(select(NodeRow.provider, NodeRow.id).where(clause))}


def _node_ips(session: Session, viewer: Viewer) -> list[str]:
    clause = node_clause(viewer)
    if clause is None:
        return []
    ips: set[str] = set()
    for (values,) in session.execute(select(NodeRow.ips).where(clause)):
        ips.update(str(ip) for ip in values or ())
    return sorted(ips)


def endpoint_clause(session: Session, viewer: Viewer) -> ColumnElement[bool] | None:
    departments = viewer.departments
    if departments is None:
        return None
    recorded = Endpoint.department.in_(departments)
    ips = _node_ips(session, viewer)
    if not ips:
        return recorded
    return or_(recorded, and_(Endpoint.department == "", Endpoint.host.in_(ips)))


def certificate_ids(session: Session, viewer: Viewer) -> Any | None:
    """A subquery of the ids of the certificates seen at the viewer's endpoints; None for a
    city-wide viewer."""
    clause = endpoint_clause(session, viewer)
    if clause is None:
        return None
    return (
        select(CertificateSighting.certificate_id)
        .join(Endpoint, Endpoint.id == CertificateSighting.endpoint_id)
        .where(clause)
        .scalar_subquery()
    )


# Resource kinds whose records point at nodes (attached_to) or, for snapshots, at a volume.
_ATTACHED = ("volume", "security_group")


class ResourceOwnership:
    """Decides which resource records (ResourceRow kinds) a scoped viewer owns.

    The link sits inside each record's JSON (attached_to, volume_id, tags), which SQLite and
    PostgreSQL index differently: the records of the providers where the viewer has nodes are
    read in SQL, and this class decides per record."""

    def __init__(self, session: Session, viewer: Viewer) -> None:
        self.departments = set(viewer.departments or ())
        self.nodes = node_keys(session, viewer) or set()
        self.providers = sorted({p for p, _ in self.nodes})
        clause = node_clause(viewer)
        images = select(NodeRow.provider, NodeRow.image).where(clause) if clause is not None else None
        self.images = {(p, i) for p, i in session.execute(images)} if images is not None else set()
        self.volumes: set[tuple[str, str]] = set()

    def owns(self, kind: str, record: Mapping[str, Any]) -> bool:
        provider = str(record.get("provider", ""))
        tags = record.get("tags")
        if isinstance(tags, Mapping) and str(tags.get("department", "")) in self.departments:
            return True
        if kind in _ATTACHED:
            return any((provider, str(n)) in self.nodes for n in _listed(record.get("attached_to")))
        if kind == "snapshot":
            return (provider, str(record.get("volume_id", ""))) in self.volumes
        if kind == "image":
            return (provider, str(record.get("id", ""))) in self.images
        return False

    def keep(self, kind: str, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records the viewer owns; a record shared with other departments' nodes (a
        security group) lists only the viewer's nodes as attached."""
        kept = [self._own_view(r) for r in records if self.owns(kind, r)]
        if kind == "volume":
            self.volumes |= {(str(r.get("provider", "")), str(r.get("id", ""))) for r in kept}
        return kept

    def _own_view(self, record: dict[str, Any]) -> dict[str, Any]:
        attached = record.get("attached_to")
        if not isinstance(attached, list | tuple):
            return record
        provider = str(record.get("provider", ""))
        return {**record, "attached_to": [n for n in attached if (provider, str(n)) in self.nodes]}


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
