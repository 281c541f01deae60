"""The DR lab's wide-area link: a TCP relay that holds what a center sends for `delay` seconds.

The remote standby (nc-dr) streams WAL from its upstream through the upstream center's relay,
so WAL is in flight for `delay` seconds, as over the link between Ganzhou and the remote
center. When a center is lost its relay is killed with it, and whatever the relay still held
never arrives: that is the data a remote failover loses, which the drill measures. What the
standby sends back (status and feedback) passes at once.

Run as `python -m lab.wan LISTEN_PORT TARGET_PORT DELAY_S`, or `start` it: the loopback DR
lab (lab/dr.py) starts one per center and records its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path

CHUNK = 64 * 1024


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy reader to writer, each chunk written `delay_s` after it was read, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()

    delivery = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            await queue.put((time.monotonic() + delay_s, data))
        await queue.put((0.0, b""))
        await delivery
    finally:
        delivery.cancel()
        writer.close()


async def _session(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, target_port: int, delay_s: float
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    # Upstream to client is the delayed direction (WAL to the standby); the replies are not.
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await asyncio.gather(
            _forward(upstream_reader, client_writer, delay_s),
            _forward(client_reader, upstream_writer, 0.0),
        )


async def serve(listen_port: int, target_port: int, delay_s: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _session(r, w, target_port, delay_s), "127.0.0.1", listen_port, reuse_address=True
    )
    async with server:
        # The one line on stdout: lab/dr.py waits for it.
        print("listening", flush=True)
        await server.serve_forever()


def start(listen_port: int, target_port: int, delay_s: float, log: Path, timeout_s: float = 10.0) -> int:
    """Start a relay process; its pid once it listens (RuntimeError when it does not)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lab.wan", str(listen_port), str(target_port), str(delay_s)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=handle, env=env, start_new_session=True,
        )  # fmt: skip
    assert proc.stdout is not None
    with proc.stdout:
        # The relay says when it listens; probing its port instead would open a session.
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        if not ready or not proc.stdout.readline().startswith(b"listening"):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise RuntimeError(f"the WAN relay did not start (see {log})")
    return proc.pid


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m lab.wan LISTEN_PORT TARGET_PORT DELAY_S", file=sys.stderr)
        return 2
    asyncio.run(serve(int(argv[0]), int(argv[1]), float(argv[2])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
