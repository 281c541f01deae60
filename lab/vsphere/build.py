"""Build the simulator binary from Debian's Go and govmomi packages, once per source version.

`go build` in GOPATH mode against /usr/share/gocode (golang-github-vmware-govmomi-dev 0.24.2)
takes ~20 s the first time and ~1.5 s with a warm cache. The binary is cached under the venv,
named by the digest of main.go, so an edited main rebuilds and an unchanged one never does.

`python -m lab.vsphere.build` builds it (`make install` runs that) and prints its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from providers.errors import GanyunError

SOURCE = Path(__file__).resolve().parent / "vcsim" / "main.go"
GOPATH = Path("/usr/share/gocode")
GOVMOMI = GOPATH / "src/github.com/vmware/govmomi/simulator"
BUILD_TIMEOUT_S = 600.0
BINARY_NAME = "ganyun-vcsim"


class SimulatorError(GanyunError):
    """The vSphere simulator could not be built, started or stopped."""


def cache_dir() -> Path:
    return Path(sys.prefix) / "lib" / "ganyun"


def binary_path() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return cache_dir() / f"{BINARY_NAME}-{digest}"


def ensure_binary() -> Path:
    """The cached binary for the current main.go, built first when missing."""
    target = binary_path()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None or not GOVMOMI.is_dir():
        raise SimulatorError(
            "the vSphere simulator needs Debian's golang-go and golang-github-vmware-govmomi-dev "
            "(run `make system-deps` as root)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Test workers and a concurrent `lab up` may all ask at once: one builds, the others wait.
    with (target.parent / ".vcsim-build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": str(GOPATH),
            "GOCACHE": str(target.parent / "go-build-cache"),
            "GOFLAGS": "",
        }
        try:
            proc = subprocess.run(
                [go, "build", "-o", str(tmp), str(SOURCE)],
                cwd=str(SOURCE.parent),
                env=env,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise SimulatorError(f"go build of the vSphere simulator took over {BUILD_TIMEOUT_S:.0f}s") from None
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise SimulatorError(f"go build of the vSphere simulator failed: {proc.stderr.strip()[-400:]}")
        os.replace(tmp, target)
        for old in target.parent.glob(f"{BINARY_NAME}-*"):
            if old != target and not old.name.endswith(".tmp"):
                old.unlink(missing_ok=True)
    return target


if __name__ == "__main__":
    try:
        print(ensure_binary())
    except SimulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
