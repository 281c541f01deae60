"""The DR lab's link to the remote center (异地, Nanchang): a userspace relay between two TAP
devices that holds every frame for half the round-trip time and can drop a share of them.

This kernel has no `netem` qdisc, so the delay is made here: the far end of the link is a TAP
device moved into the remote center's namespace (its `eth0`), the near end a TAP device on the
lab's bridge, and this process copies frames between them. All traffic of the remote center
crosses it (WAL streaming, Patroni, etcd, SSH), as over a real wide-area link. The link dies
with this process; `D/dr/link.json` ({"rtt_ms": 30, "loss": 0.0}) is re-read every second.

Run as `python -m lab.remote_link FAR_NAME NEAR_NAME CONTROL_FILE`; prints "ready" once both
devices exist.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import random
import struct
import sys
import threading
import time
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MTU_FRAME = 65536


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Link:
    def __init__(self, control: Path) -> None:
        self.control = control
        self.delay_s = 0.015
        self.loss = 0.0
        self.reload()

    def reload(self) -> None:
        try:
            data = json.loads(self.control.read_text(encoding="utf-8"))
            self.delay_s = max(0.0, float(data.get("rtt_ms", 30)) / 2000.0)
            self.loss = min(1.0, max(0.0, float(data.get("loss", 0.0))))
        except (OSError, ValueError, TypeError):
            pass

    def watch(self) -> None:
        while True:
            time.sleep(1.0)
            self.reload()


def _pump(link: Link, src: int, dst: int) -> None:
    """Frames from src reach dst `delay` later, in order; a share `loss` never does."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()

    def deliver() -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, frame = queue.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            # The far device may be down (a cut link): then the frame is lost.
            with contextlib.suppress(OSError):
                os.write(dst, frame)

    threading.Thread(target=deliver, daemon=True).start()
    while True:
        try:
            frame = os.read(src, MTU_FRAME)
        except OSError:
            time.sleep(0.05)  # the device is down: nothing to read until it is up again
            continue
        if link.loss and random.random() < link.loss:
            continue
        with ready:
            queue.append((time.monotonic() + link.delay_s, frame))
            ready.notify()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m lab.remote_link FAR_NAME NEAR_NAME CONTROL_FILE", file=sys.stderr)
        return 2
    far, near = open_tap(argv[0]), open_tap(argv[1])
    link = Link(Path(argv[2]))
    threading.Thread(target=link.watch, daemon=True).start()
    threading.Thread(target=_pump, args=(link, far, near), daemon=True).start()
    print("ready", flush=True)
    _pump(link, near, far)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
