"""The lab's Prometheus server (Debian's `prometheus`), scraping every lab cloud's libvirt
exporter (`/_exporter/<cloud>/metrics`, lab/api/exporter.py), one job per cloud.

Everything it writes stays in D/prometheus/ (config, TSDB) and D/logs/prometheus.log; it
listens on a free loopback port recorded in D/prometheus/port. `stop` signals exactly the pid
in D/prometheus/pid after checking /proc that it is the prometheus of this directory.
`start` returns once every target has been scraped twice, so that rates exist. `backfill`
writes past samples (days the lab never lived) with promtool's OpenMetrics backfill, as an
operator imports history into a new server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from providers.errors import GanyunError
from providers.prometheus import DEFAULT_QUERIES

STATE_DIR = "prometheus"
PID_FILE = "pid"
PORT_FILE = "port"
SCRAPE_INTERVAL_S = 2
# Subquery steps and window for the lab's providers: the lab's history is minutes long, and a
# step of real clouds' 5m would find no aligned point in it for up to five minutes; a day of
# 10 s steps keeps each query well under a second.
RESOLUTION = "10s"
WINDOW_DAYS = 1
# Long enough to keep backfilled days: retention counts back from the newest sample.
RETENTION = "31d"
# The lab's series are minutes old: rate() over a range longer than a series' life divides the
# increase by the whole range (Prometheus extrapolates only to 110% of the sample interval) and
# reads a fraction of the real use. irate() reads the last two samples, which a linear lab
# counter makes exact. Real clouds keep the default rate().
CPU_QUERY = DEFAULT_QUERIES["cpu"].replace("rate(", "irate(")
CPU = "libvirt_domain_info_cpu_time_seconds_total"
READY_TIMEOUT_S = 60.0


class PrometheusLabError(GanyunError):
    exit_code = 2


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusLabError("the lab's Prometheus needs the Debian package `prometheus` (make system-deps)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(state: Path, lab_url: str, clouds: Sequence[str]) -> Path:
    split = urllib.parse.urlsplit(lab_url)
    config = {
        "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
        "scrape_configs": [
            {
                "job_name": cloud,
                "metrics_path": f"/_exporter/{cloud}/metrics",
                "scheme": split.scheme or "http",
                "static_configs": [{"targets": [split.netloc]}],
            }
            for cloud in clouds
        ],
    }
    path = state / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def url_of(root: Path) -> str | None:
    """The running Prometheus of this lab directory, or None."""
    state = root / STATE_DIR
    pid = _pid(state)
    if pid is None or not _is_ours(pid, state):
        return None
    try:
        return f"http://127.0.0.1:{int((state / PORT_FILE).read_text().strip())}"
    except (FileNotFoundError, ValueError):
        return None


def start(root: Path, lab_url: str, clouds: Sequence[str]) -> str:
    """Start (or find) the lab's Prometheus; its URL once every cloud's target has data."""
    running = url_of(root)
    if running is not None:
        return running
    state = root / STATE_DIR
    # The exporters' counters start with this lab server: an earlier lab's series would only mix in.
    shutil.rmtree(state / "data", ignore_errors=True)
    (state / "data").mkdir(parents=True)
    (root / "logs").mkdir(exist_ok=True)
    write_config(state, lab_url, clouds)
    return _launch(root, _free_port(), clouds)


def _launch(root: Path, port: int, clouds: Sequence[str]) -> str:
    state = root / STATE_DIR
    log = (root / "logs" / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [
            binary(),
            f"--config.file={state / 'prometheus.yml'}",
            f"--storage.tsdb.path={state / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.console.templates={state / 'consoles'}",
            f"--web.console.libraries={state / 'console_libraries'}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd=state,
    )
    log.close()
    (state / PID_FILE).write_text(f"{proc.pid}\n")
    (state / PORT_FILE).write_text(f"{port}\n")
    url = f"http://127.0.0.1:{port}"
    _wait_for_data(url, proc, clouds)
    return url


def backfill(root: Path, openmetrics: str) -> str:
    """Add past samples (OpenMetrics text with timestamps, ending `# EOF`) to this lab's
    running Prometheus: stopped, given promtool's blocks, started again on its port. Its URL.

    Prometheus loads new blocks only at start (or its next periodic reload, up to a minute
    later): a restart makes the history readable at once."""
    state = root / STATE_DIR
    url = url_of(root)
    promtool = shutil.which("promtool")
    if url is None or promtool is None:
        raise PrometheusLabError("backfill needs the lab's running Prometheus and `promtool` (Debian prometheus)")
    clouds = [job["job_name"] for job in yaml.safe_load((state / "prometheus.yml").read_text())["scrape_configs"]]
    stop(root)
    source = state / "backfill.om"
    source.write_text(openmetrics, encoding="utf-8")
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(state / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    source.unlink()
    port = int(url.rsplit(":", 1)[1])
    restarted = _launch(root, port, clouds)
    if done.returncode != 0:
        raise PrometheusLabError(f"promtool refused the backfill: {done.stderr.strip()[-300:]}")
    return restarted


def query(url: str, expression: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    req = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - our own loopback server
        body = json.loads(resp.read())
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _wait_for_data(url: str, proc: subprocess.Popen[bytes], clouds: Sequence[str]) -> None:
    """Every job with a CPU rate in a subquery of the lab's resolution, as sync will ask it."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    wanted = set(clouds)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PrometheusLabError(f"prometheus exited with code {proc.returncode} (see logs/prometheus.log)")
        with contextlib.suppress(OSError, ValueError, KeyError, urllib.error.URLError):
            counted = query(url, f"count by (job) (avg_over_time(irate({CPU}[5m])[{WINDOW_DAYS}d:{RESOLUTION}]))")
            if {r["metric"].get("job") for r in counted} >= wanted:
                return
        time.sleep(0.25)
    raise PrometheusLabError(f"prometheus at {url} has no exporter data after {READY_TIMEOUT_S:.0f}s")


def _pid(state: Path) -> int | None:
    try:
        return int((state / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_ours(pid: int, state: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    wanted = f"--config.file={state / 'prometheus.yml'}".encode()
    return status not in ("Z", "X") and bool(cmdline) and cmdline[0].endswith(b"prometheus") and wanted in cmdline


def _gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if status in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def stop(root: Path) -> int | None:
    """Stop this directory's Prometheus; its pid, or None when none was running."""
    state = root / STATE_DIR
    pid = _pid(state)
    if pid is not None and _is_ours(pid, state):
        os.kill(pid, signal.SIGTERM)
        if not _gone(pid, 10.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _gone(pid, 5.0)
    else:
        pid = None
    for name in (PID_FILE, PORT_FILE):
        (state / name).unlink(missing_ok=True)
    return pid
