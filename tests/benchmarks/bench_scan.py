"""Scanning 500 loopback TLS endpoints: bounded-concurrent against one at a time.

Each endpoint gets the full probe (TLS at the best version + TLS 1.0..1.3 one by one, TLCP
and RFC 8998 ClientHellos). The endpoints are served by the lab's TLS server process.
Figure: sequential wall time / concurrent wall time (higher is better). On loopback both
sides are CPU-bound on the same cores, so the gain is bounded by the core count; with
`--latency-ms` (a per-connection delay the server adds, like a WAN round trip) the gain
approaches the concurrency bound.

Run: `python -m tests.benchmarks.bench_scan [--endpoints 500] [--concurrency 64]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lab import tls as lab_tls
from security import tlsscan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="server-side delay per connection, as a WAN round trip would add")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "tls"
        directory.mkdir()
        maker = lab_tls._X509Maker(directory, datetime.now(UTC))
        cert, key = maker.leaf("bench", "bench.lab.gz.gov.cn", "ecdsa", "ok")
        chain = directory / "bench-chain.pem"
        chain.write_text(cert.read_text() + (directory / "root-ecdsa.pem").read_text())
        specs = [{"name": f"ep{i}", "host": "127.0.0.1", "port": 0, "server": "python", "legacy": False,
                  "cert": str(chain), "keyfile": str(key), "delay_ms": args.latency_ms} for i in range(args.endpoints)]
        ports = lab_tls.start_server(directory, specs, wait=60)
        try:
            targets = [tlsscan.Target("127.0.0.1", p) for p in ports.values()]
            t0 = time.perf_counter()
            concurrent = tlsscan.scan(targets, concurrency=args.concurrency, timeout=10)
            t_conc = time.perf_counter() - t0
            t0 = time.perf_counter()
            sequential = tlsscan.scan(targets, concurrency=1, timeout=10)
            t_seq = time.perf_counter() - t0
        finally:
            lab_tls.stop_server(directory)
    ok_c = sum(r.protocols == ["TLS"] for r in concurrent)
    ok_s = sum(r.protocols == ["TLS"] for r in sequential)
    print(f"concurrent ({args.concurrency}): {t_conc:.2f} s, {ok_c}/{len(targets)} scanned fully")
    print(f"sequential:      {t_seq:.2f} s, {ok_s}/{len(targets)} scanned fully")
    print(json.dumps({"endpoints": len(targets), "concurrency": args.concurrency, "latency_ms": args.latency_ms,
                      "concurrent_s": round(t_conc, 3), "sequential_s": round(t_seq, 3),
                      "speedup": round(t_seq / t_conc, 3), "complete_concurrent": ok_c,
                      "complete_sequential": ok_s}))


if __name__ == "__main__":
    main()
