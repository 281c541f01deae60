"""Placement of VMs onto target hosts: vector bin packing over vCPU, memory and disk.

The heuristic is the dot-product rule of Panigrahy et al. ("Heuristics for Vector Bin
Packing", 2011): each VM goes to the open host whose free (vCPU, RAM, disk) vector, normalized,
aligns best with the VM's demand, so no single resource is stranded; a new host is opened
only when no open host fits. Hosts that already carry workloads count as open (fill them
first). VMs are taken in a seeded pseudo-random order: decreasing-size orders were measured
here to strand CPU behind RAM-heavy VMs (complementary flavor shapes) and leave VMs unplaced.
Capacity is physical x overcommit ratio minus what the host already carries; anti-affinity
keeps replicas of one group apart. numpy vectorizes the per-VM host scan.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from inventory.config import CapacityConfig, ResourceRatio

DIMENSIONS = ("vcpus", "ram_mb", "disk_gb")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HostSlot:
    """One target host: physical size and what is already allocated on it."""

    provider: str
    name: str
    vcpus: float
    ram_mb: float
    disk_gb: float
    vcpus_used: float = 0.0
    ram_mb_used: float = 0.0
    disk_gb_used: float = 0.0
    pool: str = ""


@dataclass(frozen=True, slots=True)
class Demand:
    key: str
    group: str  # anti-affinity group: two VMs of one group never share a host
    vcpus: float
    ram_mb: float
    disk_gb: float


@dataclass(slots=True)
class PlacementResult:
    assignment: list[int]  # host index per demand, -1 when unplaced
    hosts_used: int
    lower_bound: int
    demand: dict[str, float]
    capacity: dict[str, float]
    dimension_bounds: dict[str, int]
    unplaced: list[str] = field(default_factory=list)
    shortfall: dict[str, float] = field(default_factory=dict)
    anti_affinity_short: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Groups larger than the host count: spread at most this many per host (soft anti-affinity).
    group_limits: dict[str, int] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def gap(self) -> int:
        return max(0, self.hosts_used - self.lower_bound)


def ratio_for(capacity: CapacityConfig, provider: str, pool: str) -> ResourceRatio:
    """Overcommit policy: the provider's entry, else its pool's, else "default" (most specific wins)."""
    for key in (provider, pool, "default"):
        if key in capacity.overcommit:
            return capacity.overcommit[key]
    return ResourceRatio()


def capacity_matrix(hosts: Sequence[HostSlot], ratios: Mapping[str, ResourceRatio]) -> tuple[FloatArray, FloatArray]:
    """(total, free) per host and dimension under each host's provider ratio."""
    total = np.zeros((len(hosts), 3))
    used = np.zeros((len(hosts), 3))
    for i, h in enumerate(hosts):
        r = ratios.get(h.provider, ResourceRatio())
        total[i] = (h.vcpus * r.cpu, h.ram_mb * r.ram, h.disk_gb * r.disk)
        used[i] = (h.vcpus_used, h.ram_mb_used, h.disk_gb_used)
    free = np.maximum(total - used, 0.0)
    return total, free


def demand_matrix(demands: Sequence[Demand]) -> FloatArray:
    return np.array([(d.vcpus, d.ram_mb, d.disk_gb) for d in demands], dtype=np.float64).reshape(-1, 3)


def group_limits(groups: Sequence[str], host_count: int) -> dict[str, int]:
    """Most VMs of one anti-affinity group per host: 1 (strict) while the group has no more
    members than there are hosts, else an even spread, ceil(n / hosts) (soft anti-affinity,
    as OpenStack's soft-anti-affinity policy does), so a 9-VM system still fits on 3 hosts."""
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    hosts = max(1, host_count)
    return {g: max(1, math.ceil(n / hosts)) for g, n in counts.items()}


def lower_bound(
    total: FloatArray, free: FloatArray, need: FloatArray, groups: Sequence[str], limits: Mapping[str, int]
) -> tuple[int, dict[str, int]]:
    """Fewest hosts any placement can end with: hosts already carrying workloads count anyway;
    per dimension, what they cannot absorb needs the largest empty hosts until covered; and
    each anti-affinity group needs ceil(n / per-host limit) hosts."""
    busy = _busy(total, free)
    bounds: dict[str, int] = {}
    totals = need.sum(axis=0) if len(need) else np.zeros(3)
    rest = np.maximum(totals - free[busy].sum(axis=0), 0.0)
    empty = free[~busy]
    base = int(busy.sum())
    for d, name in enumerate(DIMENSIONS):
        if totals[d] <= 0:
            bounds[name] = 0
            continue
        if rest[d] <= 1e-9:
            bounds[name] = base
            continue
        cum = np.cumsum(np.sort(empty[:, d])[::-1])
        idx = int(np.searchsorted(cum, rest[d] - 1e-9))
        bounds[name] = base + (idx + 1 if idx < len(cum) else len(cum) + 1)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    spread = max((math.ceil(n / limits.get(g, 1)) for g, n in counts.items()), default=0)
    return max([*bounds.values(), spread]), bounds


def _busy(total: FloatArray, free: FloatArray) -> npt.NDArray[np.bool_]:
    return np.asarray((free < total - 1e-9).any(axis=1)) if len(total) else np.zeros(0, dtype=bool)


def _place(
    free: FloatArray,
    total: FloatArray,
    need: FloatArray,
    groups: Sequence[str],
    limits: Mapping[str, int],
    order: Sequence[int],
    dot_product: bool,
) -> list[int]:
    scale = total.mean(axis=0) if len(total) else np.ones(3)
    scale = np.where(scale > 0, scale, 1.0)
    # Normalized (one unit = an average host's capacity) and stored per dimension (3 x hosts):
    # three contiguous rows make the per-VM scan a handful of short vector operations.
    rows = np.ascontiguousarray((free / scale).T)
    f0, f1, f2 = rows[0], rows[1], rows[2]
    need = need / scale
    opened = _busy(total, free).copy()
    assignment = [-1] * len(need)
    per_host: dict[tuple[str, int], int] = {}
    closed: dict[str, list[int]] = {}  # hosts where a group reached its limit
    eps = 1e-12
    for i in order:
        d = need[i]
        d0, d1, d2 = float(d[0]) - eps, float(d[1]) - eps, float(d[2]) - eps
        fits = (f0 >= d0) & (f1 >= d1) & (f2 >= d2)
        group = groups[i]
        blocked = closed.get(group)
        if blocked:
            fits[blocked] = False
        j = -1
        if dot_product:
            candidates = fits & opened
            if candidates.any():
                j = int(np.argmax(np.where(candidates, d @ rows, -np.inf)))
        if j < 0:
            j = int(np.argmax(fits))  # the first fitting host, in host order
            if not fits[j]:
                continue
        opened[j] = True
        rows[:, j] -= d
        assignment[i] = j
        n = per_host.get((group, j), 0) + 1
        per_host[(group, j)] = n
        if n >= limits.get(group, 1):
            closed.setdefault(group, []).append(j)
    return assignment


def _seeded_order(demands: Sequence[Demand]) -> list[int]:
    """A pseudo-random order that depends only on the VMs' keys: the same plan every time."""
    return sorted(range(len(demands)), key=lambda i: hashlib.blake2b(demands[i].key.encode(), digest_size=8).digest())


def place(
    hosts: Sequence[HostSlot],
    demands: Sequence[Demand],
    ratios: Mapping[str, ResourceRatio],
    *,
    algorithm: str = "dot-product",
) -> PlacementResult:
    """Place every demand or say exactly what is short. `algorithm`: dot-product | first-fit (naive)."""
    total, free = capacity_matrix(hosts, ratios)
    need = demand_matrix(demands)
    groups = [d.group for d in demands]
    limits = group_limits(groups, len(hosts))
    if algorithm == "first-fit":
        assignment = _place(free, total, need, groups, limits, range(len(demands)), dot_product=False)
    elif algorithm == "dot-product":
        assignment = _place(free, total, need, groups, limits, _seeded_order(demands), dot_product=True)
    else:
        raise ValueError(f"unknown placement algorithm '{algorithm}'")
    lb, bounds = lower_bound(total, free, need, groups, limits)
    unplaced = [demands[i].key for i, a in enumerate(assignment) if a < 0]
    result = PlacementResult(
        assignment=assignment,
        hosts_used=int((_busy(total, free) | _received(len(hosts), assignment)).sum()),
        lower_bound=lb,
        demand={name: float(need[:, d].sum()) if len(need) else 0.0 for d, name in enumerate(DIMENSIONS)},
        capacity={name: float(free[:, d].sum()) if len(free) else 0.0 for d, name in enumerate(DIMENSIONS)},
        dimension_bounds=bounds,
        unplaced=unplaced,
        group_limits={g: n for g, n in limits.items() if n > 1},
    )
    if unplaced:
        _explain(result, hosts, free, need, groups, assignment)
    return result


def _received(count: int, assignment: Sequence[int]) -> npt.NDArray[np.bool_]:
    out = np.zeros(count, dtype=bool)
    placed = [a for a in assignment if a >= 0]
    if placed:
        out[placed] = True
    return out


def _explain(
    result: PlacementResult,
    hosts: Sequence[HostSlot],
    free: FloatArray,
    need: FloatArray,
    groups: Sequence[str],
    assignment: Sequence[int],
) -> None:
    """What is short: per dimension the amount missing overall, and groups larger than the host count."""
    for d, name in enumerate(DIMENSIONS):
        missing = float(need[:, d].sum() - free[:, d].sum())
        if missing > 0:
            result.shortfall[name] = missing
    if not result.shortfall:
        # Enough in sum but fragmented: report what the unplaced VMs need.
        left = [i for i, a in enumerate(assignment) if a < 0]
        for d, name in enumerate(DIMENSIONS):
            result.shortfall[name] = float(need[left, d].sum())
    if not hosts:
        result.anti_affinity_short = {g: (groups.count(g), 0) for g in set(groups)}
