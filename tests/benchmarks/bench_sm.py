"""SM2 / SM3 / SM4 throughput of security.sm against `openssl speed` measured in the same run.

Both sides are per CPU-second of user time (OpenSSL's default), best of interleaved rounds.
Figures (ratio = ours / OpenSSL): SM2 sign and verify ops/s (target >= 0.5 each), SM3 and
SM4-CBC MB/s on 16 KiB blocks (target >= 0.7 each).

Run: `python -m tests.benchmarks.bench_sm [--seconds 1] [--rounds 3]`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import time
from collections.abc import Callable

from security import sm

BLOCK = 16384


def _user_time() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per CPU-second (user time) of `fn`, run for about `seconds` of wall time.

    `openssl speed` divides by user CPU time too (unless -elapsed), so the two sides are
    measured alike, and a shared, loaded machine skews neither.
    """
    fn()
    count, start_wall, start_cpu = 0, time.perf_counter(), _user_time()
    while True:
        for _ in range(16):
            fn()
        count += 16
        if time.perf_counter() - start_wall >= seconds:
            return count / max(_user_time() - start_cpu, 1e-6)


def _openssl_sm2(seconds: int) -> tuple[float, float]:
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "sm2"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"cannot read openssl speed sm2 output: {out[-300:]}")
    return float(m.group(1)), float(m.group(2))


def _openssl_evp(cipher: str, seconds: int) -> float:
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "-bytes", str(BLOCK), "-evp", cipher],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(rf"^{re.escape(cipher)}\s+([\d.]+)k\s*$", out, re.M | re.I)
    if not m:
        raise RuntimeError(f"cannot read openssl speed -evp {cipher} output: {out[-300:]}")
    return float(m.group(1)) * 1000 / 1e6  # 1000s of bytes/s -> MB/s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    secs = args.seconds

    key = sm.Sm2PrivateKey.generate()
    pub = key.public_key()
    msg = os.urandom(64)
    sig = key.sign(msg)
    assert pub.verify(sig, msg)
    data = os.urandom(BLOCK)
    k, iv = os.urandom(16), os.urandom(16)

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    # One long CBC stream, as `openssl speed -evp` measures it (no per-call setup).
    encryptor = Cipher(algorithms.SM4(k), modes.CBC(iv)).encryptor()

    # The machine is shared: interleave ours and OpenSSL in rounds and keep each side's best,
    # so that a burst of load elsewhere does not land on one side only.
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = max(best.get(name, 0.0), value)

    for _ in range(args.rounds):
        keep("sign", _rate(lambda: key.sign(msg), secs))
        keep("verify", _rate(lambda: pub.verify(sig, msg), secs))
        o_sign, o_verify = _openssl_sm2(secs)
        keep("o_sign", o_sign)
        keep("o_verify", o_verify)
        keep("sm3", _rate(lambda: sm.sm3(data), secs) * BLOCK / 1e6)
        keep("o_sm3", _openssl_evp("sm3", secs))
        keep("sm4", _rate(lambda: encryptor.update(data), secs) * BLOCK / 1e6)
        keep("sm4_api", _rate(lambda: sm.sm4_cbc_encrypt(k, iv, data, pad=False), secs) * BLOCK / 1e6)
        keep("o_sm4", _openssl_evp("sm4-cbc", secs))
    ours_sign, ours_verify, ossl_sign, ossl_verify = best["sign"], best["verify"], best["o_sign"], best["o_verify"]
    ours_sm3, ossl_sm3, ours_sm4, ours_sm4_api, ossl_sm4 = best["sm3"], best["o_sm3"], best["sm4"], best["sm4_api"], \
        best["o_sm4"]

    rows = [
        ("sm2_sign_ops", ours_sign, ossl_sign),
        ("sm2_verify_ops", ours_verify, ossl_verify),
        ("sm3_MBps", ours_sm3, ossl_sm3),
        ("sm4_cbc_MBps", ours_sm4, ossl_sm4),
        ("sm4_cbc_api_MBps", ours_sm4_api, ossl_sm4),
    ]
    print(f"backends: {json.dumps(sm.backend_names(), ensure_ascii=False)}")
    print(f"{'figure':<18}{'ours':>12}{'openssl':>12}{'ratio':>8}")
    for name, ours, ossl in rows:
        print(f"{name:<18}{ours:>12.1f}{ossl:>12.1f}{ours / ossl:>8.2f}")
    result = {name: {"ours": round(ours, 1), "openssl": round(ossl, 1), "ratio": round(ours / ossl, 3)}
              for name, ours, ossl in rows}
    result["targets"] = {"sm2_sign_ops": 0.5, "sm2_verify_ops": 0.5, "sm3_MBps": 0.7, "sm4_cbc_MBps": 0.7}
    result["backends"] = sm.backend_names()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
