"""Run the `ganyun` console script hundreds of times without paying its imports each time.

A server process resolves the `ganyun` entry point from the installed package metadata (what
the console script runs: `sys.exit(app())`) and imports it once; for each request it forks a
child that becomes a fresh `ganyun` process: its own session, working directory, environment,
argv and standard streams, ending through normal interpreter shutdown (so stdout buffered
for a full disk fails where it would fail for a user). Each case is a real process with the
real entry point; only the ~1 s of imports is shared, and the child skips the ~1 s of module
teardown at exit: it runs the atexit handlers, flushes its streams (a failure there is still
the child's exit code 120, as Python's own) and leaves with `os._exit`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_SERVER = r"""
import atexit, io, json, os, signal, sys, time
from importlib.metadata import entry_points

(point,) = entry_points(group="console_scripts", name="ganyun")
main = point.load()
requests, replies = sys.stdin, sys.stdout

def child(req):
    os.setsid()
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    for fd, path, flags in ((0, req["stdin"], os.O_RDONLY),
                            (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), line_buffering=False)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), line_buffering=True)
    sys.argv = ["ganyun", *req["argv"]]
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    code = code if isinstance(code, int) else (0 if code is None else (print(code, file=sys.stderr) or 1))
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as exc:  # what the interpreter reports, and its exit code, at shutdown
            os.write(2, f"Exception ignored while flushing {stream!r}: {exc!r}\n".encode())
            code = 120
    os._exit(code)

for line in requests:
    req = json.loads(line)
    replies.flush()
    pid = os.fork()
    if pid == 0:
        child(req)  # never returns
    deadline = time.monotonic() + req["timeout"]
    status = None
    while status is None and time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        status = raw if done else None
        if status is None:
            time.sleep(0.01)
    timed_out = status is None
    if timed_out:
        os.killpg(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"rc": os.waitstatus_to_exitcode(status), "timed_out": timed_out}) + "\n")
    replies.flush()
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool


class ForkRunner:
    """One server per test process; `run` is one `ganyun` process per call."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=scratch
        )

    def run(
        self, argv: list[str], *, cwd: Path, env: dict[str, str], stdin: str = "", stdout: str = "", timeout: float
    ) -> Result:
        self.count += 1
        base = self.scratch / str(self.count)
        (stdin_path := base.with_suffix(".in")).write_text(stdin, encoding="utf-8")
        out_path, err_path = stdout or str(base.with_suffix(".out")), str(base.with_suffix(".err"))
        request = {"argv": argv, "cwd": str(cwd), "env": env, "stdin": str(stdin_path), "stdout": out_path,
                   "stderr": err_path, "timeout": timeout}  # fmt: skip
        pipe_in, pipe_out = self._pipes()
        pipe_in.write(json.dumps(request) + "\n")
        pipe_in.flush()
        reply: dict[str, Any] = json.loads(pipe_out.readline())
        read = lambda p: Path(p).read_text(encoding="utf-8", errors="replace") if Path(p).is_file() else ""  # noqa: E731
        return Result(reply["rc"], "" if stdout else read(out_path), read(err_path), reply["timed_out"])

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)
