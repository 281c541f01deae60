"""The console's side HTTP server for `/metrics` and `/healthz` (console/observability.py).

`ganyun console` starts it as a child just before it becomes Streamlit (exec keeps the pid), so
the console stays the one process its starter stops. This server lives exactly as long as that
parent: the kernel sends it SIGTERM when the parent dies (PR_SET_PDEATHSIG), and it also checks
its parent every second in case that signal could not be armed.

    python -m console.metrics_server --host 127.0.0.1 --port 9851   (config: $GANYUN_CONFIG)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from console.observability import wsgi_app
from inventory.config import load_config

_PR_SET_PDEATHSIG = 1


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: no log line each
        return


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.metrics_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    config = load_config()
    httpd = make_server(args.host, args.port, wsgi_app(config), server_class=_Server, handler_class=_QuietHandler)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    def watch_parent() -> None:
        while os.getppid() == args.parent:
            threading.Event().wait(1.0)
        stop(0, None)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
