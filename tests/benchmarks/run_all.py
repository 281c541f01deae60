"""`make bench`: every benchmark in turn, each in its own process (they print their own
figures; the last line of each is JSON), then one summary line per benchmark.

Run: `python -m tests.benchmarks.run_all [name ...]` (names without the `bench_` prefix).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _benchmarks(wanted: list[str]) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if not wanted:
        return names
    unknown = sorted(set(wanted) - {n.removeprefix("bench_") for n in names})
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)} (have: {', '.join(names)})")
    return [n for n in names if n.removeprefix("bench_") in wanted]


def main() -> int:
    summary: dict[str, object] = {}
    failed = []
    for name in _benchmarks(sys.argv[1:]):
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", f"tests.benchmarks.{name}"], capture_output=True, text=True, check=False
        )
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr[-4000:])
        lines = [line for line in run.stdout.splitlines() if line.strip()]
        try:
            summary[name] = json.loads(lines[-1]) if run.returncode == 0 and lines else f"exit {run.returncode}"
        except json.JSONDecodeError:
            summary[name] = "last line is not JSON"
        if not isinstance(summary[name], dict):
            failed.append(name)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
