"""Collection in worker processes against the lab: faults stay per provider, and the stored
inventory is the same, row for row, as collection on threads in one process."""

from __future__ import annotations

import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from inventory.collector import Job, Message, process_count, relay
from inventory.config import load_config
from inventory.models import HostRow, NodeRow, ProviderStatus, ResourceRow
from inventory.store import open_store
from inventory.sync import sync_all
from lab import control, seed
from providers.base import ProviderSpec
from security.vault import VaultCredentials
from tests.lab.running import small_lab

pytestmark = pytest.mark.xdist_group("collector-lab")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_lab(tmp_path_factory.mktemp("collector-lab")) as path:
        yield path


def _config(lab: Path, tmp_path: Path, processes: int) -> Path:
    raw = yaml.safe_load(lab.read_text(encoding="utf-8"))
    raw["database"] = f"sqlite:///{tmp_path / f'p{processes}.db'}"
    raw["vault"] = {key: str(lab.parent / value) for key, value in raw["vault"].items()}
    raw["capacity"]["history_file"] = str(lab.parent / raw["capacity"]["history_file"])
    raw.setdefault("sync", {})["processes"] = processes
    for provider in raw["providers"]:
        provider["timeout_s"] = 3
    out = tmp_path / f"ganyun-p{processes}.yaml"
    out.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return out


def _snapshot(url: str) -> dict[str, set[tuple[str, ...]]]:
    store = open_store(url)
    with store.session() as session:
        out = {
            table.name: {
                tuple(row) for row in session.execute(select(table.c.provider, table.c.id, table.c.fingerprint))
            }
            for table in (NodeRow.__table__, HostRow.__table__, ResourceRow.__table__)
        }
    store.dispose()
    return out


def test_processes_and_threads_store_the_same_rows(lab: Path, tmp_path: Path) -> None:
    by_processes = load_config(_config(lab, tmp_path, 2))
    by_threads = load_config(_config(lab, tmp_path, 0))
    report = sync_all(by_processes, open_store(by_processes.database_url), vault=VaultCredentials(by_processes))
    assert report.status == "ok", report.to_dict()
    sync_all(by_threads, open_store(by_threads.database_url), vault=VaultCredentials(by_threads))
    stored = _snapshot(by_processes.database_url)
    assert stored == _snapshot(by_threads.database_url)
    assert len(stored["nodes"]) == seed.build_estate("small").node_count


def test_faulty_clouds_fail_alone_and_keep_their_data(lab: Path, tmp_path: Path) -> None:
    config = load_config(_config(lab, tmp_path, 2))
    store = open_store(config.database_url)
    sync_all(config, store, vault=VaultCredentials(config))
    before = _snapshot(config.database_url)
    faulty = {"gov-inspur": {"http500": 1.0}, "county-h3c": {"timeout": 10.0}, "xc-hygon": {"garbage": True}}
    for cloud, fault in faulty.items():
        control.set_faults(lab.parent, cloud, fault)
    try:
        report = sync_all(config, store, full=True, vault=VaultCredentials(config))
    finally:
        control.set_faults(lab.parent, None, clear=True)
    outcome = {r.name: r for r in report.results}
    assert {name for name, r in outcome.items() if r.status == "failed"} == set(faulty)
    assert all(outcome[name].error.startswith(name) for name in faulty)
    assert all(r.removed == 0 for r in report.results)
    assert _snapshot(config.database_url) == before
    with store.session() as session:
        stale = {s.name: s.stale for s in session.scalars(select(ProviderStatus))}
    assert stale == {name: name in faulty for name in stale}


def test_a_dead_worker_fails_its_unfinished_providers() -> None:
    spec = ProviderSpec(name="a", driver="openstack")
    jobs = [Job("a", spec, None), Job("b", spec, None)]
    dying = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"], stdout=subprocess.PIPE)
    inbox: queue.Queue[Message | None] = queue.Queue()
    relay(dying, jobs, inbox)
    messages = [inbox.get_nowait() for _ in range(3)]
    assert messages[-1] is None
    assert [(m.name, m.phase) for m in messages[:2] if m] == [("a", "failed"), ("b", "failed")]
    assert all("exited with code 3" in m.payload for m in messages[:2] if m)


@pytest.mark.parametrize(("configured", "providers", "expected"), [(None, 2, 0), (0, 20, 0), (3, 2, 2)])
def test_process_count(configured: int | None, providers: int, expected: int) -> None:
    assert process_count(configured, providers) == expected


def test_collect_outcome_turns_any_failure_into_one_line() -> None:
    from inventory.collect import Collected, collect_outcome
    from providers.errors import Unavailable

    def broken_adapter() -> Collected:
        raise KeyError("flavor")

    def outage() -> Collected:
        raise Unavailable("a", "list_nodes", "HTTP 503")

    done = Collected()
    assert collect_outcome("a", lambda: done) is done
    assert collect_outcome("a", broken_adapter) == "a: unexpected KeyError: 'flavor'"
    assert collect_outcome("a", outage) == "a: list_nodes: HTTP 503"
