"""Collection in worker processes, for estates with many providers.

Listing and mapping a cloud is CPU work in Python (JSON parsing, record mapping, row encoding)
and the GIL lets one process use one core however many threads wait on the network. With
several providers, `sync_all` hands collection to a few worker processes, each running its
providers on threads, and keeps only the database writes in the parent, which receives each
provider's listing already encoded (`encoding.EncodedListing`) as soon as it is complete.

Workers are plain `python -c` subprocesses rather than multiprocessing's
spawn, which re-imports the caller's main module (an unguarded script would run again).
Jobs go in on stdin and messages come back on a private pipe, both as length-prefixed
pickles between this process and its own children. Credentials travel inside the
ProviderSpec over that pipe and are never written anywhere.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from providers.base import ProviderSpec

if TYPE_CHECKING:
    from inventory.collect import Collected

# A worker imports libcloud and the adapters (~0.5 s of CPU): below this many providers the
# start-up costs more than a second core wins.
MIN_PROVIDERS_FOR_PROCESSES = 4
_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class Job:
    name: str
    spec: ProviderSpec
    changes_since: datetime | str | None
    # The adapter session the last sync left (from the vault): a credential, like the spec's.
    session_state: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Message:
    """What a worker reports about one provider: a phase, then its outcome."""

    name: str
    phase: str  # collecting | done | failed
    payload: Any = None  # Collected (done) or the error message (failed)


def process_count(configured: int | None, providers: int) -> int:
    """Worker processes for this many providers; 0 means collect on threads in this process."""
    if configured is not None:
        return min(configured, providers)
    if providers < MIN_PROVIDERS_FOR_PROCESSES:
        return 0
    return min(os.cpu_count() or 1, providers)


def collect_job(job: Job) -> Message:
    """Collect and encode one provider; errors become a `failed` message, never an exception."""
    # Only what collecting needs: no SQLAlchemy, Alembic or pydantic in a worker's start-up.
    from inventory.collect import collect, collect_outcome
    from providers.registry import create_provider

    def work() -> Collected:
        collected = collect(create_provider(job.spec), job.changes_since, job.session_state, job.spec.prometheus)
        collected.encode()
        return collected

    outcome = collect_outcome(job.name, work)
    return Message(job.name, "failed", outcome) if isinstance(outcome, str) else Message(job.name, "done", outcome)


# --------------------------------------------------------------------------- framing


def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    # Only ever frames written by our own child process (or parent), over a private pipe.
    return pickle.loads(data)  # noqa: S301


# --------------------------------------------------------------------------- worker side


def worker_main() -> None:
    """A worker process: jobs from stdin, messages to the inherited fd 1.

    Anything a library prints must not corrupt the message stream, so fd 1 is kept for
    messages and Python's stdout is pointed at stderr."""
    from providers.masking import install_log_masking

    install_log_masking()
    # A worker lives for one sync and builds large acyclic listings (dicts of parsed JSON,
    # records, row tuples): the cyclic collector's repeated passes over them cost about a fifth
    # of its CPU and free nothing that reference counting does not. Whatever cycles the HTTP
    # stack leaves are bounded per request and go when the process exits.
    gc.disable()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    jobs: list[Job]
    threads: int
    jobs, threads = _receive(sys.stdin.buffer)
    lock = threading.Lock()

    def run(job: Job) -> None:
        with lock:
            _send(out, Message(job.name, "collecting"))
        message = collect_job(job)
        with lock:
            _send(out, message)

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="collect") as pool:
        list(pool.map(run, jobs))
    out.close()


# --------------------------------------------------------------------------- parent side


def collect_in_processes(jobs: Sequence[Job], processes: int, threads: int) -> Iterator[Message]:
    """Yield each provider's messages as the workers send them; a worker that dies leaves its
    unfinished providers failed with the reason, so the caller always hears of every job."""
    processes = max(1, min(processes, len(jobs)))
    shares = [list(jobs[i::processes]) for i in range(processes)]
    inbox: queue.Queue[Message | None] = queue.Queue()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    workers = []
    for share in shares:
        worker = subprocess.Popen(
            # Not `-m`: classes pickled by a __main__ module would not load here.
            [sys.executable, "-c", "from inventory.collector import worker_main; worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert worker.stdin is not None
        _send(worker.stdin, (share, threads))
        worker.stdin.close()
        reader = threading.Thread(target=relay, args=(worker, share, inbox), daemon=True)
        reader.start()
        workers.append((worker, reader))
    try:
        finished = 0
        while finished < len(workers):
            message = inbox.get()
            if message is None:
                finished += 1
                continue
            yield message
    finally:
        for worker, reader in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
            reader.join(timeout=5)


def relay(worker: subprocess.Popen[bytes], share: Sequence[Job], inbox: queue.Queue[Message | None]) -> None:
    """Forward one worker's messages; when its stream ends, fail whatever it never reported."""
    assert worker.stdout is not None
    unreported = {job.name for job in share}
    try:
        while True:
            try:
                message: Message = _receive(worker.stdout)
            except EOFError:
                break
            if message.phase != "collecting":
                unreported.discard(message.name)
            inbox.put(message)
        code = worker.wait()
        for job in share:
            if job.name in unreported:
                inbox.put(Message(job.name, "failed", f"{job.name}: collector process exited with code {code}"))
    finally:
        inbox.put(None)
