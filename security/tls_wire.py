"""Reading a server's first TLS / TLCP flight: records, handshake messages, ServerHello and the
Certificate list, from bytes a possibly hostile endpoint chose.

Everything here is bounded (record size, record count, flight size) and every read goes
through a `Source`: a socket with one deadline for the whole flight (a peer that stalls or
trickles bytes cannot hold a probe longer than its deadline) or plain bytes (tests replay
recorded flights and fuzz them). Whatever the bytes, the only exceptions that leave are
ProbeError subclasses:

- Malformed: the peer sent something that is not a well-formed TLS/TLCP answer (garbage,
  impossible lengths, half a record and then end of stream);
- TimedOut: no complete answer before the deadline;
- Closed: the connection ended (or was reset) between records, before an answer.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

from providers.errors import GanyunError

# RFC 8446 section 5.2: a record's payload never exceeds 2^14 + 256 (+ 2048 for TLS 1.2 ciphertext).
MAX_RECORD = (1 << 14) + 2048
MAX_RECORDS = 64
MAX_FLIGHT = 512 * 1024  # far beyond any certificate chain a server sends
CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
}


class ProbeError(GanyunError):
    """A probe got no usable answer; the message says why."""


class Malformed(ProbeError):
    """The peer's bytes are not a well-formed TLS or TLCP answer."""


class TimedOut(ProbeError):
    """No complete answer before the probe's deadline."""


class Closed(ProbeError):
    """The connection ended or was reset between records."""


class Source(Protocol):
    def read(self, n: int) -> bytes:
        """Exactly n bytes, or ProbeError."""
        ...


class BytesSource:
    """A recorded flight; its end is the peer closing the connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        if len(chunk) < n:
            raise _ended("connection closed by peer", len(chunk), n)
        return chunk


class SocketSource:
    """Reads from a connected socket, all of them within `budget` seconds of its creation."""

    def __init__(self, sock: socket.socket, budget: float) -> None:
        self._sock = sock
        self._budget = budget
        self._deadline = time.monotonic() + budget

    def read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(f"no complete answer within {self._budget:.1f} s")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(n - len(buf))
            except TimeoutError:
                continue  # the loop reports it against the deadline
            except ConnectionResetError:
                raise _ended("connection reset by peer", len(buf), n) from None
            except OSError as exc:
                raise _ended(exc.strerror or type(exc).__name__, len(buf), n) from None
            if not chunk:
                raise _ended("connection closed by peer", len(buf), n)
            buf.extend(chunk)
        return bytes(buf)


def _ended(why: str, got: int, wanted: int) -> ProbeError:
    # Ending inside a structure (half a record) is a broken answer; ending between them is not.
    if got:
        return Malformed(f"{why} after {got} of {wanted} bytes of a record")
    return Closed(why)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    kind: int
    version: int
    payload: bytes


def read_record(source: Source) -> Record:
    header = source.read(5)
    kind, version, length = header[0], int.from_bytes(header[1:3], "big"), int.from_bytes(header[3:5], "big")
    if kind not in CONTENT_TYPES:
        raise Malformed(f"not a TLS record: first bytes {header.hex()}")
    if version >> 8 not in (0x01, 0x03):
        raise Malformed(f"not a TLS or TLCP record: version 0x{version:04x}")
    if length > MAX_RECORD:
        raise Malformed(f"record of {length} bytes is longer than TLS allows")
    try:
        payload = source.read(length)
    except Closed as exc:
        # The header promised more: the peer stopped inside the record.
        raise Malformed(f"{exc} inside a {length}-byte record") from None
    return Record(kind, version, payload)


@dataclass
class Flight:
    """The handshake messages a server sent before stopping, by type, and how it stopped."""

    messages: dict[int, bytes] = field(default_factory=dict)
    alert: str = ""


def read_flight(source: Source, stop: set[int]) -> Flight:
    """Handshake messages until one of type in `stop`, an alert, or the record limit."""
    flight = Flight()
    buf = b""
    total = 0
    for _ in range(MAX_RECORDS):
        record = read_record(source)
        total += len(record.payload)
        if total > MAX_FLIGHT:
            raise Malformed(f"the server's first flight exceeds {MAX_FLIGHT} bytes")
        if record.kind == 21:
            flight.alert = _alert(record.payload)
            return flight
        if record.kind != 22:
            continue  # change_cipher_spec, or encrypted records after a TLS 1.3 ServerHello
        buf += record.payload
        while len(buf) >= 4:
            length = int.from_bytes(buf[1:4], "big")
            if length > MAX_FLIGHT:
                raise Malformed(f"handshake message of {length} bytes")
            if len(buf) < 4 + length:
                break
            kind = buf[0]
            flight.messages[kind] = buf[4 : 4 + length]
            buf = buf[4 + length :]
            if kind in stop:
                return flight
    return flight


def _alert(payload: bytes) -> str:
    if len(payload) != 2:
        raise Malformed(f"alert record of {len(payload)} bytes")
    return f"alert {ALERTS.get(payload[1], str(payload[1]))}"


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class ServerHello:
    version: int
    suite: int
    extensions: dict[int, bytes]


class _Reader:
    """Bounds-checked reads inside one message; running past its end is Malformed."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Malformed(f"{self.what}: truncated ({len(self.data)} bytes)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_server_hello(body: bytes) -> ServerHello:
    r = _Reader(body, "ServerHello")
    version = r.number(2)
    r.take(32)  # random
    session_id = r.number(1)
    if session_id > 32:
        raise Malformed(f"ServerHello: session id of {session_id} bytes")
    r.take(session_id)
    suite = r.number(2)
    r.take(1)  # compression method
    extensions: dict[int, bytes] = {}
    if r.left:
        ext = _Reader(r.take(r.number(2)), "ServerHello extensions")
        while ext.left:
            kind = ext.number(2)
            extensions[kind] = ext.take(ext.number(2))
    if r.left:
        raise Malformed(f"ServerHello: {r.left} bytes after the extensions")
    return ServerHello(version, suite, extensions)


def parse_certificate_list(body: bytes) -> list[bytes]:
    """The DER certificates of a TLS 1.2 / TLCP Certificate message, in the order sent."""
    r = _Reader(body, "Certificate")
    entries = _Reader(r.take(r.number(3)), "Certificate list")
    if r.left:
        raise Malformed(f"Certificate: {r.left} bytes after the list")
    out = []
    while entries.left:
        length = entries.number(3)
        if not length:
            raise Malformed("Certificate: an empty certificate entry")
        out.append(entries.take(length))
    return out


def server_hello_version(hello: ServerHello) -> int:
    """The version the server chose: supported_versions (TLS 1.3) wins over the legacy field."""
    chosen = hello.extensions.get(43)
    if chosen is not None:
        if len(chosen) != 2:
            raise Malformed(f"ServerHello: supported_versions of {len(chosen)} bytes")
        return int(struct.unpack(">H", chosen)[0])
    return hello.version
