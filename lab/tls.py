"""The lab's TLS / TLCP / RFC 8998 endpoints on 127.0.0.1, served by one background process.

`start(lab_dir, estate)` makes the certificates (RSA and ECDSA with cryptography, SM2 with the
`openssl` command line and `-sigopt distid:1234567812345678`), starts
`python -m lab.tls serve DIR` and returns the `tls` section of ganyun.yaml.
Ordinary TLS is served by Python's ssl (Debian OpenSSL); TLCP and RFC 8998 by Tongsuo, the
libssl inside the tongsuopy wheel, through ctypes: no OpenSSL we link can serve SM2.

What is planted (field `expect` of each endpoint): ok, expired, expiring (within 30 days),
self-signed, weak-key (RSA-1024), sha1, legacy-tls (accepts TLS 1.0/1.1), tlcp, rfc8998.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import importlib.util
import json
import os
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from providers.errors import ConfigError

TLS_DIR = "tls"
PID_FILE = "tls.pid"
SPEC_FILE = "endpoints.json"
PORTS_FILE = "ports.json"
DISTID = "distid:1234567812345678"
RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nganyun lab\n"

# (system, department) when the estate offers none.
_STATIC_SYSTEMS: tuple[tuple[str, str], ...] = (
    ("赣服通赣州分厅", "市行政审批局"),
    ("电子证照库", "市行政审批局"),
    ("12345政务热线", "市12345热线中心"),
    ("一网统管平台", "市城管局"),
    ("智慧交通平台", "市交通运输局"),
    ("公共资源交易平台", "市公共资源交易中心"),
    ("不动产登记系统", "市自然资源局"),
    ("社保经办系统", "市人社局"),
    ("医保结算平台", "市医保局"),
    ("政务数据共享交换平台", "市大数据中心"),
)

# expect -> kind of key and what is wrong with it
_PLAN: tuple[tuple[str, str], ...] = (
    ("ok", "rsa"),
    ("ok", "ecdsa"),
    ("expired", "rsa"),
    ("expiring", "ecdsa"),
    ("self-signed", "rsa"),
    ("weak-key", "rsa1024"),
    ("sha1", "rsa"),
    ("legacy-tls", "rsa"),
    ("tlcp", "sm2"),
    ("rfc8998", "sm2"),
)


def _systems(estate: Any) -> list[tuple[str, str]]:
    try:
        from lab import catalog

        found = [(s.name, s.department) for s in catalog.CITY_SYSTEMS]
    except (ImportError, AttributeError):
        found = []
    return found or list(_STATIC_SYSTEMS)


# --------------------------------------------------------------------------- certificates


def _write_key(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class _X509Maker:
    """RSA / ECDSA certificates with cryptography; clocks relative to `now`."""

    def __init__(self, directory: Path, now: dt.datetime) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID

        self.x509, self.hashes, self.ser = x509, hashes, serialization
        self.ec, self.rsa, self.NameOID = ec, rsa, NameOID
        self.dir, self.now = directory, now
        self.roots: dict[str, tuple[Any, Any]] = {}

    def _name(self, cn: str) -> Any:
        return self.x509.Name(
            [
                self.x509.NameAttribute(self.NameOID.COUNTRY_NAME, "CN"),
                self.x509.NameAttribute(self.NameOID.ORGANIZATION_NAME, "赣州市政务云实验环境"),
                self.x509.NameAttribute(self.NameOID.COMMON_NAME, cn),
            ]
        )

    def _key(self, kind: str) -> Any:
        if kind == "ecdsa":
            return self.ec.generate_private_key(self.ec.SECP256R1())
        return self.rsa.generate_private_key(65537, 1024 if kind == "rsa1024" else 2048)

    def root(self, kind: str) -> tuple[Any, Any]:
        family = "ecdsa" if kind == "ecdsa" else "rsa"
        if family not in self.roots:
            key = self._key(family)
            name = self._name(f"Lab {family.upper()} Root CA")
            cert = (
                self.x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(self.x509.random_serial_number())
                .not_valid_before(self.now - dt.timedelta(days=365))
                .not_valid_after(self.now + dt.timedelta(days=3650))
                .add_extension(self.x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, self.hashes.SHA256())
            )
            (self.dir / f"root-{family}.pem").write_bytes(cert.public_bytes(self.ser.Encoding.PEM))
            _write_key(
                self.dir / f"root-{family}.key",
                key.private_bytes(self.ser.Encoding.PEM, self.ser.PrivateFormat.PKCS8, self.ser.NoEncryption()),
            )
            self.roots[family] = (cert, key)
        return self.roots[family]

    def leaf(self, name: str, cn: str, kind: str, expect: str) -> tuple[Path, Path]:
        key = self._key(kind)
        start, end = self.now - dt.timedelta(days=30), self.now + dt.timedelta(days=365)
        if expect == "expired":
            start, end = self.now - dt.timedelta(days=400), self.now - dt.timedelta(days=35)
        elif expect == "expiring":
            end = self.now + dt.timedelta(days=12)
        if expect == "self-signed":
            issuer_name, signer = self._name(cn), key
        else:
            root_cert, signer = self.root(kind)
            issuer_name = root_cert.subject
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        _write_key(
            key_path, key.private_bytes(self.ser.Encoding.PEM, self.ser.PrivateFormat.PKCS8, self.ser.NoEncryption())
        )
        if expect == "sha1":
            # cryptography refuses to sign with SHA-1; the openssl command line still does.
            csr = (
                self.x509.CertificateSigningRequestBuilder()
                .subject_name(self._name(cn))
                .sign(key, self.hashes.SHA256())
            )
            (self.dir / f"{name}.csr").write_bytes(csr.public_bytes(self.ser.Encoding.PEM))
            _openssl(
                [
                    "x509",
                    "-req",
                    "-in",
                    f"{name}.csr",
                    "-CA",
                    "root-rsa.pem",
                    "-CAkey",
                    "root-rsa.key",
                    "-sha1",
                    "-days",
                    "365",
                    "-set_serial",
                    "4242",
                    "-out",
                    cert_path.name,
                ],
                self.dir,
            )
            return cert_path, key_path
        cert = (
            self.x509.CertificateBuilder()
            .subject_name(self._name(cn))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(self.x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(self.x509.SubjectAlternativeName([self.x509.DNSName(cn)]), critical=False)
            .sign(signer, self.hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(self.ser.Encoding.PEM))
        return cert_path, key_path


def _openssl(args: Sequence[str], cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise ConfigError(f"lab tls: openssl {args[0]} failed: {proc.stderr.strip()[:200]}")


def _sm2_certs(directory: Path, cn: str, name: str) -> dict[str, str]:
    """An SM2 root (once) and a GM signing + encryption pair for `cn`, with the openssl CLI."""
    root = directory / "root-sm2.pem"
    if not root.exists():
        _openssl(["genpkey", "-algorithm", "SM2", "-out", "root-sm2.key"], directory)
        _openssl(
            [
                "req",
                "-x509",
                "-new",
                "-key",
                "root-sm2.key",
                "-sm3",
                "-sigopt",
                DISTID,
                "-days",
                "3650",
                "-subj",
                "/C=CN/O=Ganzhou Lab/CN=Lab SM2 Root CA",
                "-out",
                "root-sm2.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            directory,
        )
    out: dict[str, str] = {}
    usages = {"sign": "digitalSignature,nonRepudiation", "enc": "keyEncipherment,dataEncipherment,keyAgreement"}
    for role, usage in usages.items():
        base = f"{name}-{role}"
        (directory / f"{base}.ext").write_text(
            f"basicConstraints=CA:FALSE\nkeyUsage=critical,{usage}\nsubjectAltName=DNS:{cn}\n"
        )
        _openssl(["genpkey", "-algorithm", "SM2", "-out", f"{base}.key"], directory)
        _openssl(
            [
                "req",
                "-new",
                "-key",
                f"{base}.key",
                "-sm3",
                "-sigopt",
                DISTID,
                "-subj",
                f"/C=CN/O=Ganzhou Lab/CN={cn}",
                "-out",
                f"{base}.csr",
            ],
            directory,
        )
        _openssl(
            [
                "x509",
                "-req",
                "-in",
                f"{base}.csr",
                "-CA",
                "root-sm2.pem",
                "-CAkey",
                "root-sm2.key",
                "-sm3",
                "-sigopt",
                DISTID,
                "-vfyopt",
                DISTID,
                "-days",
                "365",
                "-set_serial",
                str(abs(hash(base)) % 10**9),
                "-extfile",
                f"{base}.ext",
                "-out",
                f"{base}.pem",
            ],
            directory,
        )
        (directory / f"{base}.key").chmod(0o600)
        out[f"{role}_cert"], out[f"{role}_key"] = str(directory / f"{base}.pem"), str(directory / f"{base}.key")
    return out


def build_specs(directory: Path, estate: Any = None, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Make the certificates and the endpoint specs the server process reads."""
    directory.mkdir(parents=True, exist_ok=True)
    now = now or getattr(estate, "now", None) or dt.datetime.now(dt.UTC)
    # Certificates are checked against the wall clock, whatever day the estate was seeded on.
    now = dt.datetime.now(dt.UTC)
    maker = _X509Maker(directory, now)
    systems = _systems(estate)
    specs: list[dict[str, Any]] = []
    for i, (expect, kind) in enumerate(_PLAN):
        system, department = systems[i % len(systems)]
        name = f"ep{i:02d}-{expect}-{kind}"
        cn = f"{name}.lab.gz.gov.cn"
        spec: dict[str, Any] = {
            "name": name,
            "host": "127.0.0.1",
            "port": 0,
            "system": system,
            "department": department,
            "expect": expect,
            "key": kind,
        }
        if kind == "sm2":
            if not tongsuo_path():
                continue  # no Tongsuo, no SM endpoints: the others still make sense
            spec.update(_sm2_certs(directory, cn, name))
            spec["server"] = expect  # tlcp | rfc8998
        else:
            cert, key = maker.leaf(name, cn, kind, expect)
            chain = [cert.read_text()]
            if expect != "self-signed":
                family = "ecdsa" if kind == "ecdsa" else "rsa"
                chain.append((directory / f"root-{family}.pem").read_text())
            (directory / f"{name}-chain.pem").write_text("".join(chain))
            spec.update(
                {
                    "server": "python",
                    "cert": str(directory / f"{name}-chain.pem"),
                    "keyfile": str(key),
                    "legacy": expect in ("legacy-tls", "weak-key", "sha1"),
                }
            )
        specs.append(spec)
    return specs


# --------------------------------------------------------------------------- Tongsuo (ctypes)


def tongsuo_path() -> str:
    spec = importlib.util.find_spec("tongsuopy")
    if spec is None or not spec.submodule_search_locations:
        return ""
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("backends/_tongsuo*.so"))
    return str(found[0]) if found else ""


class _Tongsuo:
    SSL_CTRL_SET_GROUPS_LIST = 92

    def __init__(self) -> None:
        lib = ctypes.CDLL(tongsuo_path())
        vp, i, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        for name, res, args in (
            ("SSL_CTX_new", vp, [vp]),
            ("TLS_server_method", vp, []),
            ("SSL_CTX_enable_ntls", None, [vp]),
            ("SSL_CTX_enable_sm_tls13_strict", None, [vp]),
            ("SSL_CTX_use_sign_certificate_file", i, [vp, cp, i]),
            ("SSL_CTX_use_sign_PrivateKey_file", i, [vp, cp, i]),
            ("SSL_CTX_use_enc_certificate_file", i, [vp, cp, i]),
            ("SSL_CTX_use_enc_PrivateKey_file", i, [vp, cp, i]),
            ("SSL_CTX_use_certificate_file", i, [vp, cp, i]),
            ("SSL_CTX_use_PrivateKey_file", i, [vp, cp, i]),
            ("SSL_CTX_set_cipher_list", i, [vp, cp]),
            ("SSL_CTX_set_ciphersuites", i, [vp, cp]),
            ("SSL_CTX_ctrl", ctypes.c_long, [vp, i, ctypes.c_long, vp]),
            ("SSL_new", vp, [vp]),
            ("SSL_free", None, [vp]),
            ("SSL_set_fd", i, [vp, i]),
            ("SSL_accept", i, [vp]),
            ("SSL_write", i, [vp, cp, i]),
            ("SSL_shutdown", i, [vp]),
            ("ERR_get_error", ctypes.c_ulong, []),
            ("ERR_error_string_n", None, [ctypes.c_ulong, cp, ctypes.c_size_t]),
            ("ERR_clear_error", None, []),
        ):
            func = getattr(lib, name)
            func.restype, func.argtypes = res, args
        self.lib = lib

    def _check(self, ok: int, what: str) -> None:
        if ok != 1:
            buf = ctypes.create_string_buffer(256)
            self.lib.ERR_error_string_n(self.lib.ERR_get_error(), buf, 256)
            raise RuntimeError(f"Tongsuo {what}: {buf.value.decode(errors='replace')}")

    def tlcp_context(self, spec: dict[str, Any]) -> int:
        lib = self.lib
        ctx = lib.SSL_CTX_new(lib.TLS_server_method())
        lib.SSL_CTX_enable_ntls(ctx)
        pem = 1
        self._check(lib.SSL_CTX_use_sign_certificate_file(ctx, spec["sign_cert"].encode(), pem), "sign cert")
        self._check(lib.SSL_CTX_use_sign_PrivateKey_file(ctx, spec["sign_key"].encode(), pem), "sign key")
        self._check(lib.SSL_CTX_use_enc_certificate_file(ctx, spec["enc_cert"].encode(), pem), "enc cert")
        self._check(lib.SSL_CTX_use_enc_PrivateKey_file(ctx, spec["enc_key"].encode(), pem), "enc key")
        self._check(
            lib.SSL_CTX_set_cipher_list(
                ctx, b"ECC-SM2-SM4-GCM-SM3:ECC-SM2-SM4-CBC-SM3:ECDHE-SM2-SM4-GCM-SM3:ECDHE-SM2-SM4-CBC-SM3"
            ),
            "ciphers",
        )
        return int(ctx)

    def rfc8998_context(self, spec: dict[str, Any]) -> int:
        lib = self.lib
        ctx = lib.SSL_CTX_new(lib.TLS_server_method())
        lib.SSL_CTX_enable_sm_tls13_strict(ctx)
        self._check(lib.SSL_CTX_set_ciphersuites(ctx, b"TLS_SM4_GCM_SM3"), "ciphersuites")
        lib.SSL_CTX_ctrl(ctx, self.SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.c_char_p(b"SM2"))
        self._check(lib.SSL_CTX_use_certificate_file(ctx, spec["sign_cert"].encode(), 1), "cert")
        self._check(lib.SSL_CTX_use_PrivateKey_file(ctx, spec["sign_key"].encode(), 1), "key")
        return int(ctx)

    def serve_connection(self, ctx: int, conn: socket.socket) -> None:
        lib = self.lib
        ssl_obj = lib.SSL_new(ctx)
        try:
            lib.SSL_set_fd(ssl_obj, conn.fileno())
            if lib.SSL_accept(ssl_obj) == 1:
                lib.SSL_write(ssl_obj, RESPONSE, len(RESPONSE))
                lib.SSL_shutdown(ssl_obj)
        finally:
            lib.SSL_free(ssl_obj)
            lib.ERR_clear_error()


# --------------------------------------------------------------------------- the server process


def _python_context(spec: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if spec.get("legacy"):
        # Plant what a scanner must find: TLS 1.0/1.1, RSA-1024 and SHA-1 need security level 0.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(spec["cert"], spec["keyfile"])
    return ctx


def _serve_python(ctx: ssl.SSLContext, conn: socket.socket) -> None:
    with ctx.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(RESPONSE)


def serve(directory: Path) -> None:
    """Listen on every endpoint of DIR/endpoints.json; write DIR/ports.json once bound."""
    specs: list[dict[str, Any]] = json.loads((directory / SPEC_FILE).read_text(encoding="utf-8"))
    tongsuo = _Tongsuo() if any(s["server"] in ("tlcp", "rfc8998") for s in specs) and tongsuo_path() else None
    selector = selectors.DefaultSelector()
    python_contexts: dict[str, ssl.SSLContext] = {}
    ports: dict[str, int] = {}
    for spec in specs:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.get("host", "127.0.0.1"), int(spec.get("port", 0))))
        sock.listen(128)
        sock.setblocking(False)
        handler: Any
        if spec["server"] == "python":
            key = f"{spec['cert']}|{spec.get('legacy')}"
            if key not in python_contexts:
                python_contexts[key] = _python_context(spec)
            handler = ("python", python_contexts[key])
        elif tongsuo is not None:
            make = tongsuo.tlcp_context if spec["server"] == "tlcp" else tongsuo.rfc8998_context
            handler = ("tongsuo", make(spec))
        else:
            sock.close()
            continue
        selector.register(sock, selectors.EVENT_READ, (*handler, float(spec.get("delay_ms", 0)) / 1000))
        ports[spec["name"]] = sock.getsockname()[1]
    tmp = directory / (PORTS_FILE + ".tmp")
    tmp.write_text(json.dumps(ports), encoding="utf-8")
    tmp.replace(directory / PORTS_FILE)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def handle(kind: str, ctx: Any, conn: socket.socket, delay: float) -> None:
        try:
            if delay:
                time.sleep(delay)  # a WAN round trip, for benchmarks
            if kind == "python":
                conn.settimeout(10)
                _serve_python(ctx, conn)
            else:
                assert tongsuo is not None
                # Tongsuo needs a blocking fd (Python's settimeout makes it non-blocking): bound
                # the wait in the kernel instead.
                timeval = struct.pack("ll", 10, 0)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
                tongsuo.serve_connection(ctx, conn)
        except (OSError, ssl.SSLError, RuntimeError):
            pass  # probes hang up mid-handshake on purpose
        finally:
            conn.close()

    while not stop.is_set():
        for ready, _ in selector.select(timeout=0.5):
            listener: socket.socket = ready.fileobj  # type: ignore[assignment]
            try:
                conn, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            conn.setblocking(True)
            kind, ctx, delay = ready.data
            threading.Thread(target=handle, args=(kind, ctx, conn, delay), daemon=True).start()


# --------------------------------------------------------------------------- lifecycle


def start_server(directory: Path, specs: list[dict[str, Any]], wait: float = 30.0) -> dict[str, int]:
    """Write the specs, start the server process, wait for its ports."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SPEC_FILE).write_text(json.dumps(specs, ensure_ascii=False), encoding="utf-8")
    (directory / PORTS_FILE).unlink(missing_ok=True)
    log = (directory / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.tls", "serve", str(directory)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    (directory / PID_FILE).write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if (directory / PORTS_FILE).exists():
            ports: dict[str, int] = json.loads((directory / PORTS_FILE).read_text(encoding="utf-8"))
            return ports
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_server(directory)
    tail = (directory / "server.log").read_text(errors="replace")[-300:]
    raise ConfigError(f"lab tls: the endpoint server did not start: {tail}")


def stop_server(directory: Path) -> int | None:
    directory = directory.resolve()
    pid_file = directory / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        cmdline = []
    # Only ever signal the process we started (the pid may have been reused since).
    if b"lab.tls" in cmdline and str(directory).encode() in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


def start(lab_dir: Path, estate: Any = None) -> dict[str, Any]:
    """Start the lab's TLS endpoints; returns the `tls` section for ganyun.yaml."""
    directory = Path(lab_dir).resolve() / TLS_DIR
    stop_server(directory)
    specs = build_specs(directory, estate)
    ports = start_server(directory, specs)
    endpoints = [
        {
            "host": s["host"],
            "port": ports[s["name"]],
            "system": s["system"],
            "department": s["department"],
            "expect": s["expect"],
            "key": s["key"],
        }
        for s in specs
        if s["name"] in ports
    ]
    anchors = sorted(str(p) for p in directory.glob("root-*.pem"))
    return {"endpoints": endpoints, "ca_dir": str(Path(lab_dir) / "ca"), "trust_anchors": anchors}


def stop(lab_dir: Path) -> None:
    stop_server(Path(lab_dir).resolve() / TLS_DIR)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]).resolve())
    else:
        print("usage: python -m lab.tls serve DIR", file=sys.stderr)
        sys.exit(2)
