"""TLS, TLCP (GB/T 38636) and RFC 8998 endpoint probes, run concurrently with a bound.

- Ordinary TLS goes through pyOpenSSL (Python 3.11's ssl cannot return the presented chain):
  one handshake at the best version for the suite and the chain, then one per version
  TLS 1.0..1.3 with @SECLEVEL=0 so that old protocols are found, not refused by us.
- TLCP and RFC 8998 are not spoken by any OpenSSL we link, so they are probed with raw
  ClientHellos; the TLCP certificates travel in clear in the Certificate message.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from OpenSSL import SSL

from providers.base import ConfigError
from security import certs, sm

TLCP_SUITES = {
    0xE013: "ECC_SM4_CBC_SM3",
    0xE011: "ECDHE_SM4_CBC_SM3",
    0xE053: "ECC_SM4_GCM_SM3",
    0xE051: "ECDHE_SM4_GCM_SM3",
}
# Tongsuo / OpenSSL names of the same suites.
TLCP_OPENSSL_NAMES = {
    0xE013: "ECC-SM2-SM4-CBC-SM3",
    0xE011: "ECDHE-SM2-SM4-CBC-SM3",
    0xE053: "ECC-SM2-SM4-GCM-SM3",
    0xE051: "ECDHE-SM2-SM4-GCM-SM3",
}
TLS_SM4_GCM_SM3 = 0x00C6
CURVE_SM2 = 0x0029
SM2SIG_SM3 = 0x0708

_VERSIONS = (
    ("TLSv1.0", SSL.TLS1_VERSION),
    ("TLSv1.1", SSL.TLS1_1_VERSION),
    ("TLSv1.2", SSL.TLS1_2_VERSION),
    ("TLSv1.3", SSL.TLS1_3_VERSION),
)


@dataclass
class Target:
    host: str
    port: int
    system: str = ""
    department: str = ""
    source: str = "manual"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class ScanResult:
    target: Target
    reachable: bool = False
    error: str = ""
    tls: dict[str, Any] = field(default_factory=dict)
    tlcp: dict[str, Any] = field(default_factory=dict)
    rfc8998: dict[str, Any] = field(default_factory=dict)
    # (certificate, location, role) for the inventory
    seen: list[tuple[x509.Certificate, str, str]] = field(default_factory=list)

    @property
    def protocols(self) -> list[str]:
        out = []
        if self.tls.get("versions"):
            out.append("TLS")
        if self.tlcp.get("supported"):
            out.append("TLCP")
        if self.rfc8998.get("supported"):
            out.append("RFC8998")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.target.host,
            "port": self.target.port,
            "endpoint": self.target.address,
            "system": self.target.system,
            "department": self.target.department,
            "source": self.target.source,
            "reachable": self.reachable,
            "error": self.error,
            "protocols": self.protocols,
            "tls": self.tls,
            "tlcp": self.tlcp,
            "rfc8998": self.rfc8998,
        }


def parse_target(text: str) -> Target:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid target {text!r}: expected host:port")
    return Target(host, int(port))


# --------------------------------------------------------------------------- sockets


def _connect(target: Target, timeout: float) -> socket.socket:
    sock = socket.create_connection((target.host, target.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf.extend(chunk)
    return bytes(buf)


def _records(sock: socket.socket, limit: int = 64) -> Iterable[tuple[int, int, bytes]]:
    """(content type, record version, payload) until the peer stops."""
    for _ in range(limit):
        header = _read_exact(sock, 5)
        kind, version, length = header[0], struct.unpack(">H", header[1:3])[0], struct.unpack(">H", header[3:5])[0]
        if length > 1 << 15:
            raise ValueError("record too long")
        yield kind, version, _read_exact(sock, length)


def _handshake_messages(sock: socket.socket, stop: set[int]) -> tuple[dict[int, bytes], int, str]:
    """Handshake messages by type until one in `stop`; (messages, record version, alert)."""
    messages: dict[int, bytes] = {}
    buf = b""
    record_version = 0
    for kind, version, payload in _records(sock):
        record_version = version
        if kind == 21:  # alert
            return messages, version, f"alert {payload[1] if len(payload) > 1 else '?'}"
        if kind != 22:
            continue
        buf += payload
        while len(buf) >= 4:
            length = int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + length:
                break
            messages[buf[0]] = buf[4 : 4 + length]
            if buf[0] in stop:
                return messages, record_version, ""
            buf = buf[4 + length :]
    return messages, record_version, ""


def _hello(version: int, record_version: int, suites: Sequence[int], extensions: bytes, session_id: bytes) -> bytes:
    body = (
        struct.pack(">H", version)
        + os.urandom(32)
        + bytes([len(session_id)])
        + session_id
        + struct.pack(">H", 2 * len(suites))
        + b"".join(struct.pack(">H", s) for s in suites)
        + b"\x01\x00"
    )
    if extensions:
        body += struct.pack(">H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + struct.pack(">HH", record_version, len(handshake)) + handshake


def _server_hello(body: bytes) -> tuple[int, int, bytes]:
    """(version, cipher suite, extensions) of a ServerHello body."""
    version = struct.unpack(">H", body[0:2])[0]
    sid_len = body[34]
    pos = 35 + sid_len
    suite = struct.unpack(">H", body[pos : pos + 2])[0]
    pos += 3
    ext = body[pos + 2 :] if len(body) > pos + 2 else b""
    return version, suite, ext


def _extensions(raw: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        kind, length = struct.unpack(">HH", raw[pos : pos + 4])
        out[kind] = raw[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return out


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _certificate_list(body: bytes) -> list[bytes]:
    total = int.from_bytes(body[0:3], "big")
    pos, end, out = 3, min(3 + total, len(body)), []
    while pos + 3 <= end:
        length = int.from_bytes(body[pos : pos + 3], "big")
        out.append(body[pos + 3 : pos + 3 + length])
        pos += 3 + length
    return out


# --------------------------------------------------------------------------- probes


def _exchange_hellos(
    target: Target, timeout: float, client_hello: bytes, stop: set[int]
) -> tuple[dict[int, bytes], tuple[int, int, bytes]] | str:
    """Send one ClientHello; (handshake messages, parsed ServerHello), or why there is none.

    A probe never completes the handshake, so any failure up to the ServerHello just means
    "not supported" with a reason for the report, never an exception.
    """
    try:
        with _connect(target, timeout) as sock:
            sock.sendall(client_hello)
            messages, _, alert = _handshake_messages(sock, stop=stop)
    except (OSError, ConnectionError, ValueError, IndexError) as exc:
        return _short(exc)
    hello = messages.get(2)
    if hello is None:
        return alert or "no ServerHello"
    try:
        return messages, _server_hello(hello)
    except (IndexError, struct.error):
        return "malformed ServerHello"


def probe_tlcp(target: Target, timeout: float) -> dict[str, Any]:
    """TLCP: ClientHello 0x0101 with the four SM suites; certificates from the clear handshake."""
    answer = _exchange_hellos(target, timeout, _hello(0x0101, 0x0101, list(TLCP_SUITES), b"", b""), stop={11, 14})
    if isinstance(answer, str):
        return {"supported": False, "error": answer}
    messages, (version, suite, _) = answer
    if version != 0x0101 or suite not in TLCP_SUITES:
        return {"supported": False, "error": f"server answered version 0x{version:04x} suite 0x{suite:04x}"}
    out: dict[str, Any] = {
        "supported": True,
        "protocol": "TLCP",
        "version": "TLCP 1.1 (0x0101)",
        "cipher_suite": f"0x{suite:04X}",
        "cipher_name": TLCP_SUITES[suite],
        "openssl_name": TLCP_OPENSSL_NAMES[suite],
    }
    chain = []
    for blob in _certificate_list(messages.get(11, b"\x00\x00\x00")):
        try:
            chain.append(x509.load_der_x509_certificate(blob))
        except ValueError:
            continue
    sign = next((c for c in chain if certs.gm_role(c) == "sign"), chain[0] if chain else None)
    enc = next((c for c in chain if certs.gm_role(c) == "enc"), chain[1] if len(chain) > 1 else None)
    out["sign_cert"] = certs.describe(sign) if sign is not None else None
    out["enc_cert"] = certs.describe(enc) if enc is not None else None
    out["chain"] = [certs.describe(c) for c in chain]
    out["_certs"] = [(c, "sign" if c is sign else "enc" if c is enc else "chain") for c in chain]
    return out


_SM2_SHARE = sm.Sm2PrivateKey.generate  # a fresh point per probe; the handshake never completes


def probe_rfc8998(target: Target, timeout: float) -> dict[str, Any]:
    """RFC 8998: a TLS 1.3 ClientHello offering only TLS_SM4_GCM_SM3 with curveSM2 and sm2sig_sm3."""
    point = _SM2_SHARE().public_key().point
    exts = b"".join(
        [
            _ext(0, _sni(target.host)) if not _is_ip(target.host) else b"",
            _ext(43, b"\x02\x03\x04"),  # supported_versions: TLS 1.3
            _ext(10, struct.pack(">HH", 2, CURVE_SM2)),  # supported_groups
            _ext(13, struct.pack(">HH", 2, SM2SIG_SM3)),  # signature_algorithms
            _ext(51, struct.pack(">HHH", 4 + len(point), CURVE_SM2, len(point)) + point),  # key_share
        ]
    )
    answer = _exchange_hellos(
        target, timeout, _hello(0x0303, 0x0301, [TLS_SM4_GCM_SM3], exts, os.urandom(32)), stop={2}
    )
    if isinstance(answer, str):
        return {"supported": False, "error": answer}
    _, (_, suite, raw_ext) = answer
    chosen = _extensions(raw_ext).get(43, b"")
    if suite != TLS_SM4_GCM_SM3 or chosen != b"\x03\x04":
        return {"supported": False, "error": f"server chose suite 0x{suite:04x}"}
    return {
        "supported": True,
        "protocol": "RFC8998",
        "version": "TLSv1.3",
        "cipher_suite": "0x00C6",
        "cipher_name": "TLS_SM4_GCM_SM3",
        "group": "curveSM2",
        "signature_algorithm": "sm2sig_sm3",
    }


def _sni(host: str) -> bytes:
    name = host.encode("idna")
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    return struct.pack(">H", len(entry)) + entry


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tls_context(version: int | None) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE, lambda *_: True)
    # Report what the server accepts, including what our own defaults would refuse.
    ctx.set_cipher_list(b"ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    if version is not None:
        ctx.set_min_proto_version(version)
        ctx.set_max_proto_version(version)
    else:
        ctx.set_min_proto_version(SSL.TLS1_VERSION)
    return ctx


_CONTEXTS: dict[int | None, SSL.Context] = {}


def _context(version: int | None) -> SSL.Context:
    if version not in _CONTEXTS:
        _CONTEXTS[version] = _tls_context(version)
    return _CONTEXTS[version]


def _tls_handshake(target: Target, version: int | None, timeout: float) -> SSL.Connection:
    sock = _connect(target, timeout)
    conn = SSL.Connection(_context(version), sock)
    if not _is_ip(target.host):
        conn.set_tlsext_host_name(target.host.encode("idna"))
    conn.set_connect_state()
    deadline = time.monotonic() + timeout
    wait: tuple[list[socket.socket], list[socket.socket], list[socket.socket]]
    while True:
        try:
            conn.do_handshake()
            return conn
        except SSL.WantReadError:
            wait = ([sock], [], [])
        except SSL.WantWriteError:
            wait = ([], [sock], [])
        except Exception:
            sock.close()
            raise
        left = deadline - time.monotonic()
        if left <= 0 or not any(select.select(*wait, left)):
            sock.close()
            raise TimeoutError("TLS handshake timed out")


def _close(conn: SSL.Connection) -> None:
    sock = conn._socket  # pyOpenSSL keeps the socket; closing the Connection does not close it
    with contextlib.suppress(SSL.Error, OSError):
        conn.shutdown()
    if sock is not None:
        sock.close()


def probe_tls(target: Target, timeout: float) -> dict[str, Any]:
    try:
        conn = _tls_handshake(target, None, timeout)
    except (OSError, SSL.Error, TimeoutError) as exc:
        return {"versions": [], "error": _short(exc)}
    try:
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        out: dict[str, Any] = {
            "negotiated_version": conn.get_protocol_version_name(),
            "cipher": conn.get_cipher_name(),
            "chain": [certs.describe(c) for c in chain],
            "_certs": [(c, "leaf" if i == 0 else "chain") for i, c in enumerate(chain)],
        }
    finally:
        _close(conn)
    versions = []
    for name, number in _VERSIONS:
        try:
            _close(_tls_handshake(target, number, timeout))
            versions.append(name)
        except (OSError, SSL.Error, TimeoutError):
            continue
    out["versions"] = versions
    return out


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def scan_one(target: Target, timeout: float = 3.0) -> ScanResult:
    result = ScanResult(target)
    try:
        socket.create_connection((target.host, target.port), timeout=timeout).close()
    except OSError as exc:
        result.error = _short(exc)
        return result
    result.reachable = True
    result.tls = probe_tls(target, timeout)
    result.tlcp = probe_tlcp(target, timeout)
    result.rfc8998 = probe_rfc8998(target, timeout)
    for proto, section in (("tls", result.tls), ("tlcp", result.tlcp)):
        for cert, role in section.pop("_certs", []):
            result.seen.append((cert, f"{proto}://{target.address}", role))
    if not result.protocols:
        result.error = result.tls.get("error", "") or "no TLS, TLCP or RFC 8998 handshake succeeded"
    return result


def scan(
    targets: Sequence[Target],
    concurrency: int = 32,
    timeout: float = 3.0,
    progress: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """Scan every target, at most `concurrency` at a time; results in the targets' order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        futures = [pool.submit(scan_one, t, timeout) for t in targets]
        results = []
        for future in futures:
            res = future.result()
            if progress is not None:
                progress(res)
            results.append(res)
    return results
