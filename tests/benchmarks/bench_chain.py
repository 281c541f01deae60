"""Verifying 10,000 SM2 certificates: security.certs against `openssl verify` on the same files.

The certificates are root -> leaf (SM2 with SM3, standard ID), made by security.ca. Debian's
`openssl verify -vfyopt distid:1234567812345678` applies the ID to the target certificate
only, so it cannot check a three-level SM2 chain; two levels keep the comparison equal.
Figures: wall time of each side (both read the same 10,000 PEM files) and the ratio
openssl / ours (target: > 1, i.e. we are faster); CPU time (user+sys) too.

Run: `python -m tests.benchmarks.bench_chain [--count 10000]`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from security import certs, sm
from security.ca import SmCa, build_certificate

DISTID = "distid:1234567812345678"


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def make_certs(base: Path, count: int) -> tuple[Path, list[Path]]:
    ca = SmCa(base / "ca")
    ca.ensure_root()
    root = certs.load_file(ca.cert_path)[0]
    root_key = sm.Sm2PrivateKey.load(ca.key_path.read_bytes())
    leaf_key = sm.Sm2PrivateKey.generate().public_key()  # one key: the benchmark is about signatures
    out = base / "leaves"
    out.mkdir()
    paths = []
    for i in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"svc-{i:05d}.gz.gov.cn")])
        cert = build_certificate(name, leaf_key, root.subject, root_key,
                                 [(x509.BasicConstraints(ca=False, path_length=None), True)], 365,
                                 not_before=datetime.now(UTC))
        path = out / f"leaf-{i:05d}.pem"
        path.write_bytes(cert.public_bytes(Encoding.PEM))
        paths.append(path)
    return ca.cert_path, paths


def run_openssl(root: Path, paths: list[Path]) -> tuple[float, float, int]:
    cpu0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    ok = 0
    for i in range(0, len(paths), 2000):  # keep the argument list well under ARG_MAX
        proc = subprocess.run(["openssl", "verify", "-vfyopt", DISTID, "-CAfile", str(root),
                               *map(str, paths[i : i + 2000])], capture_output=True, text=True)
        ok += proc.stdout.count(": OK")
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_CHILDREN) - cpu0, ok


def run_ours(root: Path, paths: list[Path], workers: int) -> tuple[float, float, int]:
    cpu0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    verifier = certs.ChainVerifier(certs.load_file(root))
    results = certs.verify_paths(verifier, paths, workers=workers)
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF) - cpu0, sum(ok for _, ok, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root, paths = make_certs(Path(tmp), args.count)
        print(f"made {len(paths)} SM2 certificates in {time.perf_counter() - t0:.1f} s")
        best: dict[str, tuple[float, float, int]] = {}
        # Interleave the sides and keep each one's best round: the machine is shared.
        for _ in range(args.rounds):
            for name, fn in (("openssl", lambda: run_openssl(root, paths)),
                             ("ours_1_thread", lambda: run_ours(root, paths, 1)),
                             ("ours_parallel", lambda: run_ours(root, paths, 0))):
                res = fn()
                if name not in best or res[0] < best[name][0]:
                    best[name] = res
    for name, (wall, cpu, ok) in best.items():
        print(f"{name:<15} wall {wall:7.2f} s  cpu {cpu:7.2f} s  valid {ok}/{len(paths)}")
    o_wall, o_cpu, _ = best["openssl"]
    result = {
        "count": len(paths),
        **{name: {"wall_s": round(w, 3), "cpu_s": round(c, 3), "valid": ok} for name, (w, c, ok) in best.items()},
        "ratio_wall_parallel": round(o_wall / best["ours_parallel"][0], 3),
        "ratio_wall_1_thread": round(o_wall / best["ours_1_thread"][0], 3),
        "ratio_cpu_1_thread": round(o_cpu / best["ours_1_thread"][1], 3),
        "target": "ratio > 1 (faster than openssl verify)",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
