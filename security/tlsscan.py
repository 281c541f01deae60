"""TLS, TLCP (GB/T 38636) and RFC 8998 endpoint probes, run concurrently with a bound.

- Ordinary TLS goes through pyOpenSSL (Python 3.11's ssl cannot return the presented chain):
  one handshake at the best version for the suite and the chain, then one per version
  TLS 1.0..1.3 with @SECLEVEL=0 so that old protocols are found, not refused by us.
- TLCP and RFC 8998 are not spoken by any OpenSSL we link, so they are probed with raw
  ClientHellos; the TLCP certificates travel in clear in the Certificate message, and the
  answer is read by security/tls_wire.py.

An endpoint is a hostile peer: each probe has one deadline for connect and answer, and what it
sends is parsed with bounds. A probe that meets a refusal (an alert, another protocol, a closed
or reset connection, no answer in time) notes why in its section; one that meets a malformed
answer or certificate records a fault. An endpoint fails (`failed`, with `error` saying why per
protocol) when it has a fault or when no handshake succeeded; the other endpoints go on.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto

from providers.errors import ConfigError, CryptoError
from security import certs, sm, tls_wire

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
    # No handshake succeeded, or an answer (a record, a certificate) was malformed; `error` says why.
    failed: bool = False
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
            "failed": self.failed,
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


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


# --------------------------------------------------------------------------- probes


def _not_supported(reason: str) -> dict[str, Any]:
    return {"supported": False, "error": reason}


def _fault(reason: str) -> dict[str, Any]:
    """The endpoint answered something broken or hostile: the endpoint's scan fails for it."""
    return {"supported": False, "error": reason, "fault": True}


def _exchange(target: Target, timeout: float, client_hello: bytes, stop: set[int]) -> tls_wire.Flight:
    """Send one ClientHello; the server's flight up to a message in `stop`, read before one
    deadline (connect + the whole answer). ProbeError whatever the peer does."""
    started = time.monotonic()
    try:
        with _connect(target, timeout) as sock:
            sock.sendall(client_hello)
            left = timeout - (time.monotonic() - started)
            return tls_wire.read_flight(tls_wire.SocketSource(sock, left), stop)
    except TimeoutError:  # connect or send
        raise tls_wire.TimedOut(f"timed out after {timeout:g} s") from None
    except ConnectionResetError:
        raise tls_wire.Closed("connection reset by peer") from None
    except OSError as exc:
        raise tls_wire.Closed(exc.strerror or type(exc).__name__) from None


def tlcp_answer(flight: tls_wire.Flight) -> dict[str, Any]:
    """What a server's answer to the TLCP ClientHello says; tls_wire.Malformed for a broken
    answer, CryptoError for a broken certificate in it."""
    hello_body = flight.messages.get(2)
    if hello_body is None:
        return _not_supported(flight.alert or "no ServerHello")
    hello = tls_wire.parse_server_hello(hello_body)
    if hello.version != 0x0101 or hello.suite not in TLCP_SUITES:
        return _not_supported(f"server answered version 0x{hello.version:04x} suite 0x{hello.suite:04x}")
    out: dict[str, Any] = {
        "supported": True,
        "protocol": "TLCP",
        "version": "TLCP 1.1 (0x0101)",
        "cipher_suite": f"0x{hello.suite:04X}",
        "cipher_name": TLCP_SUITES[hello.suite],
        "openssl_name": TLCP_OPENSSL_NAMES[hello.suite],
    }
    blobs = tls_wire.parse_certificate_list(flight.messages[11]) if 11 in flight.messages else []
    chain = _load_chain(blobs)
    roles = [info["role"] for _, info in chain]
    sign = roles.index("sign") if "sign" in roles else (0 if chain else None)
    enc = roles.index("enc") if "enc" in roles else (1 if len(chain) > 1 else None)
    out["sign_cert"] = chain[sign][1] if sign is not None else None
    out["enc_cert"] = chain[enc][1] if enc is not None else None
    out["chain"] = [info for _, info in chain]
    out["_certs"] = [(c, "sign" if i == sign else "enc" if i == enc else "chain") for i, (c, _) in enumerate(chain)]
    return out


def _load_chain(blobs: Sequence[bytes]) -> list[tuple[x509.Certificate, dict[str, Any]]]:
    """Each certificate with its description; CryptoError naming the first malformed one."""
    chain = []
    for i, blob in enumerate(blobs, 1):
        cert = certs.load_der_certificate(blob, f"certificate {i} of {len(blobs)}")
        chain.append((cert, certs.describe(cert)))
    return chain


def tlcp_client_hello() -> bytes:
    """TLCP: ClientHello 0x0101 with the four SM suites and no extensions."""
    return _hello(0x0101, 0x0101, list(TLCP_SUITES), b"", b"")


def probe_tlcp(target: Target, timeout: float) -> dict[str, Any]:
    """The TLCP ClientHello; the certificates come from the clear handshake."""
    try:
        return tlcp_answer(_exchange(target, timeout, tlcp_client_hello(), stop={11, 14}))
    except (tls_wire.TimedOut, tls_wire.Closed) as exc:
        return _not_supported(str(exc))
    except (tls_wire.Malformed, CryptoError) as exc:  # a broken answer, or a broken certificate in it
        return _fault(str(exc))


_SM2_SHARE = sm.Sm2PrivateKey.generate  # a fresh point per probe; the handshake never completes


def rfc8998_client_hello(host: str) -> bytes:
    """RFC 8998: a TLS 1.3 ClientHello offering only TLS_SM4_GCM_SM3 with curveSM2 and sm2sig_sm3."""
    point = _SM2_SHARE().public_key().point
    exts = b"".join(
        [
            _ext(0, _sni(host)) if not _is_ip(host) else b"",
            _ext(43, b"\x02\x03\x04"),  # supported_versions: TLS 1.3
            _ext(10, struct.pack(">HH", 2, CURVE_SM2)),  # supported_groups
            _ext(13, struct.pack(">HH", 2, SM2SIG_SM3)),  # signature_algorithms
            _ext(51, struct.pack(">HHH", 4 + len(point), CURVE_SM2, len(point)) + point),  # key_share
        ]
    )
    return _hello(0x0303, 0x0301, [TLS_SM4_GCM_SM3], exts, os.urandom(32))


def probe_rfc8998(target: Target, timeout: float) -> dict[str, Any]:
    try:
        return rfc8998_answer(_exchange(target, timeout, rfc8998_client_hello(target.host), stop={2}))
    except (tls_wire.TimedOut, tls_wire.Closed) as exc:
        return _not_supported(str(exc))
    except tls_wire.Malformed as exc:
        return _fault(str(exc))


def rfc8998_answer(flight: tls_wire.Flight) -> dict[str, Any]:
    """What a server's answer to the RFC 8998 ClientHello says; Malformed for a broken one."""
    hello_body = flight.messages.get(2)
    if hello_body is None:
        return _not_supported(flight.alert or "no ServerHello")
    hello = tls_wire.parse_server_hello(hello_body)
    if hello.suite != TLS_SM4_GCM_SM3 or tls_wire.server_hello_version(hello) != 0x0304:
        return _not_supported(f"server chose suite 0x{hello.suite:04x}")
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
    """A completed handshake, connect included, within `timeout`; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    sock = _connect(target, timeout)
    conn = SSL.Connection(_context(version), sock)
    if not _is_ip(target.host):
        conn.set_tlsext_host_name(target.host.encode("idna"))
    conn.set_connect_state()
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
            raise TimeoutError(f"TLS handshake: no answer within {timeout:g} s")


def _close(conn: SSL.Connection) -> None:
    sock = conn._socket  # pyOpenSSL keeps the socket; closing the Connection does not close it
    with contextlib.suppress(SSL.Error, OSError):
        conn.shutdown()
    if sock is not None:
        sock.close()


def probe_tls(target: Target, timeout: float) -> dict[str, Any]:
    try:
        conn = _tls_handshake(target, None, timeout)
    except (OSError, SSL.Error) as exc:
        return {"versions": [], "error": _short(exc)}
    try:
        # DER as sent, read by our loader: the same checks as every other certificate input.
        blobs = [crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in conn.get_peer_cert_chain() or []]
        chain = _load_chain(blobs)
        out: dict[str, Any] = {
            "negotiated_version": conn.get_protocol_version_name(),
            "cipher": conn.get_cipher_name(),
            "chain": [info for _, info in chain],
            "_certs": [(c, "leaf" if i == 0 else "chain") for i, (c, _) in enumerate(chain)],
        }
    except CryptoError as exc:
        return {"versions": [], "error": str(exc), "fault": True}
    finally:
        _close(conn)
    versions = []
    for name, number in _VERSIONS:
        try:
            _close(_tls_handshake(target, number, timeout))
            versions.append(name)
        except (OSError, SSL.Error):
            continue
    out["versions"] = versions
    return out


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


_PROBES = (("TLS", "tls"), ("TLCP", "tlcp"), ("RFC 8998", "rfc8998"))


def scan_one(target: Target, timeout: float = 3.0) -> ScanResult:
    """Every probe against one endpoint. Each probe has its own deadline, so a peer that stalls
    costs at most a few timeouts; whatever the peer answers, this returns a result."""
    result = ScanResult(target)
    try:
        socket.create_connection((target.host, target.port), timeout=timeout).close()
    except OSError as exc:
        result.failed, result.error = True, _short(exc)
        return result
    result.reachable = True
    result.tls = probe_tls(target, timeout)
    result.tlcp = probe_tlcp(target, timeout)
    result.rfc8998 = probe_rfc8998(target, timeout)
    for proto, section in (("tls", result.tls), ("tlcp", result.tlcp)):
        for cert, role in section.pop("_certs", []):
            result.seen.append((cert, f"{proto}://{target.address}", role))
    sections = [(label, getattr(result, key)) for label, key in _PROBES]
    faults = [f"{label}: {section['error']}" for label, section in sections if section.get("fault")]
    if faults:
        result.failed, result.error = True, "; ".join(faults)
    elif not result.protocols:
        reasons = [f"{label}: {section.get('error') or 'not supported'}" for label, section in sections]
        result.failed, result.error = True, "no TLS, TLCP or RFC 8998 handshake succeeded (" + "; ".join(reasons) + ")"
    return result


def _scan_guarded(target: Target, timeout: float) -> ScanResult:
    """One endpoint can fail, never the scan: a probe bug becomes that endpoint's failure."""
    try:
        return scan_one(target, timeout)
    except Exception as exc:  # reported on the endpoint, with its type
        result = ScanResult(target, failed=True)
        result.error = f"probe error: {type(exc).__name__}: {_short(exc)}"
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
        futures = [pool.submit(_scan_guarded, t, timeout) for t in targets]
        results = []
        for future in futures:
            res = future.result()
            if progress is not None:
                progress(res)
            results.append(res)
    return results
