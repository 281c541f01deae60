"""The lab's one HTTP server process: `python -m lab.server --dir D [--port P]`.

A stdlib ThreadingHTTPServer (HTTP/1.1 keep-alive, one thread per connection) in front of
api.LabRuntime. Latency and timeout faults sleep in the connection's own thread, so a slow
cloud never holds up the others. It reads D/lab.json (written by control.up), writes
D/run.json with its pid and port once it listens, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab.api.http import Reply, Request
from lab.api.runtime import LabRuntime
from lab.seed import build_estate

LAB_FILE = "lab.json"
RUN_FILE = "run.json"
MAX_BODY = 2 * 1024**3
log = logging.getLogger("ganyun.lab")


class LabServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], runtime: LabRuntime) -> None:
        super().__init__(address, LabHandler)
        self.runtime = runtime


class LabHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ganyun-lab/1"
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's
    # delayed ACK and every keep-alive answer costs ~40 ms more than the configured latency.
    disable_nagle_algorithm = True
    server: LabServer

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self._send(Reply.error(413, "request body too large"))
            return
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        try:
            reply, delay = self.server.runtime.handle(req)
        except Exception:  # a lab bug must answer 500, not kill the connection thread silently
            log.exception("unhandled error on %s %s", self.command, split.path)
            reply, delay = Reply.error(500, "lab server error (see D/logs/server.log)"), 0.0
        if delay > 0:
            time.sleep(delay)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.file is not None:
                size = reply.file.stat().st_size
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if self.command != "HEAD":
                    with reply.file.open("rb") as handle:
                        shutil.copyfileobj(handle, self.wfile, 1 << 20)
            else:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout fault does exactly this): nothing left to tell it.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


def load_runtime(lab_dir: Path) -> LabRuntime:
    spec = json.loads((lab_dir / LAB_FILE).read_text(encoding="utf-8"))
    estate = build_estate(spec["scale"], seed=int(spec["seed"]), now=datetime.fromisoformat(spec["now"]))
    return LabRuntime(
        estate,
        lab_dir,
        passwords_sha256=spec["passwords_sha256"],
        token_secret=bytes.fromhex(spec["token_secret"]),
        admin_token=spec["admin_token"],
        base_latency_ms=int(spec.get("latency_ms", 0)),
        initial_faults=spec.get("faults") or {},
    )


def serve(lab_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    started = time.monotonic()
    runtime = load_runtime(lab_dir)
    httpd = LabServer((host, port), runtime)
    actual = httpd.server_address[1]
    runtime.base_url = f"http://{host}:{actual}"
    runtime.warm()
    run = {"pid": os.getpid(), "port": actual, "host": host, "url": runtime.base_url}
    tmp = lab_dir / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(run), encoding="utf-8")
    tmp.replace(lab_dir / RUN_FILE)
    log.info(
        "lab %s serving %d nodes on %s (ready in %.1fs)",
        runtime.estate.scale,
        runtime.estate.node_count,
        runtime.base_url,
        time.monotonic() - started,
    )

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        (lab_dir / RUN_FILE).unlink(missing_ok=True)
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.server")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    serve(args.dir.resolve(), args.port, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
