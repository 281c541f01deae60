"""Certificate chains made fresh with the OpenSSL command line (Debian OpenSSL 3.0), for tests
and benchmarks. SM2 signatures use `-sigopt distid:1234567812345678` unless told otherwise."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DISTID = "distid:1234567812345678"

CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
LEAF_EXT = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nsubjectAltName=DNS:{cn}\n"
SIGN_EXT = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n"
ENC_EXT = "basicConstraints=CA:FALSE\nkeyUsage=critical,keyEncipherment,dataEncipherment,keyAgreement\n"


def run(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.strip()}")


@dataclass
class Algo:
    name: str  # sm2 | rsa | ec
    digest: str  # sm3 | sha256 | sha1

    def genkey(self, path: Path, bits: int = 2048) -> None:
        if self.name == "sm2":
            run("genpkey", "-algorithm", "SM2", "-out", str(path), cwd=path.parent)
        elif self.name == "rsa":
            run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", str(path), cwd=path.parent)
        else:
            run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=path.parent)

    def sigopts(self, distid: str | None) -> list[str]:
        if self.name != "sm2" or distid is None:
            return []
        return ["-sigopt", distid]

    def vfyopts(self) -> list[str]:
        return ["-vfyopt", DISTID] if self.name == "sm2" else []


SM2 = Algo("sm2", "sm3")
RSA = Algo("rsa", "sha256")
ECDSA = Algo("ec", "sha256")


def make_root(d: Path, name: str, algo: Algo, days: int = 3650) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    algo.genkey(key)
    (d / f"{name}.ext").write_text(CA_EXT)
    run("req", "-x509", "-new", "-key", key.name, f"-{algo.digest}", *algo.sigopts(DISTID),
        "-subj", f"/O=Ganzhou/CN={name}", "-days", str(days), "-out", cert.name,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return cert, key


def issue(
    d: Path, name: str, algo: Algo, ca: tuple[Path, Path], *, ext: str | None = None, days: int = 365,
    distid: str | None = DISTID, serial: int = 1000, key: Path | None = None, bits: int = 2048, digest: str | None = None,
    cn: str | None = None,
) -> tuple[Path, Path]:
    """A certificate for `name` signed by `ca` (cert, key). days < 0 makes an expired one."""
    key = key or d / f"{name}.key"
    if not key.exists():
        algo.genkey(key, bits)
    csr, cert, extfile = d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    cn = cn or f"{name}.gz.gov.cn"
    extfile.write_text((ext or LEAF_EXT).format(cn=cn))
    run("req", "-new", "-key", key.name, f"-{algo.digest}", *algo.sigopts(DISTID), "-subj",
        f"/O=Ganzhou/CN={cn}", "-out", csr.name, cwd=d)
    run("x509", "-req", "-in", csr.name, "-CA", str(ca[0]), "-CAkey", str(ca[1]), f"-{digest or algo.digest}",
        *algo.sigopts(distid), *algo.vfyopts(), "-days", str(days), "-set_serial", str(serial),
        "-extfile", extfile.name, "-out", cert.name, cwd=d)
    return cert, key


def tamper(src: Path, dst: Path) -> Path:
    """Flip one bit inside the signature value (the last bytes of the DER)."""
    der = subprocess.run(["openssl", "x509", "-in", str(src), "-outform", "DER"], capture_output=True, check=True).stdout
    raw = bytearray(der)
    raw[-5] ^= 0x01
    dst.write_bytes(bytes(raw))
    return dst


def make_chain(d: Path, algo: Algo, prefix: str) -> dict[str, Path]:
    """root -> intermediate -> leaf, plus the bad variants the acceptance tests name."""
    d.mkdir(parents=True, exist_ok=True)
    root = make_root(d, f"{prefix}-root", algo)
    inter = issue(d, f"{prefix}-int", algo, root, ext=CA_EXT, days=1800, serial=2)
    leaf = issue(d, f"{prefix}-leaf", algo, inter, serial=3)
    other_root = make_root(d, f"{prefix}-other-root", algo)
    # Bad variants reuse the leaf's key: key generation is the slow part, and what is wrong with
    # each variant is its signature, dates or issuer, not its key.
    lk = leaf[1]
    out = {
        "root": root[0], "root_key": root[1], "int": inter[0], "int_key": inter[1], "leaf": leaf[0], "leaf_key": lk,
        "other_root": other_root[0],
        "expired": issue(d, f"{prefix}-expired", algo, inter, days=-1, serial=4, key=lk)[0],
        "wrong_issuer": issue(d, f"{prefix}-stranger", algo, other_root, serial=5, key=lk)[0],
        "tampered": tamper(leaf[0], d / f"{prefix}-tampered.der"),
    }
    if algo.name == "sm2":
        out["empty_id"] = issue(d, f"{prefix}-emptyid", algo, inter, distid=None, serial=6, key=lk)[0]
        out["wrong_id"] = issue(d, f"{prefix}-wrongid", algo, inter, distid="distid:1111111111111111", serial=7,
                                key=lk)[0]
        out["sign"] = issue(d, f"{prefix}-dual", algo, inter, ext=SIGN_EXT, serial=8, cn="dual.gz.gov.cn")[0]
        out["enc"] = issue(d, f"{prefix}-dual-enc", algo, inter, ext=ENC_EXT, serial=9, cn="dual.gz.gov.cn")[0]
    # The leaf followed by its intermediate, as servers usually deploy it.
    bundle = d / f"{prefix}-bundle.pem"
    bundle.write_bytes(leaf[0].read_bytes() + inter[0].read_bytes())
    out["bundle"] = bundle
    return out
