"""Minimal DER encoding and decoding for the SM2 structures no installed library builds.

cryptography refuses SM2 keys, so SM2 private keys (SEC1 / PKCS#8), SubjectPublicKeyInfo and
TBSCertificate are built and read here. Only the handful of types those need are supported.
"""

from __future__ import annotations

from datetime import UTC, datetime

from providers.errors import CryptoError

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
BOOLEAN = 0x01
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def integer(value: int) -> bytes:
    if value < 0:
        raise CryptoError("negative DER integers are not used here")
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return tlv(INTEGER, raw)


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def bit_string(data: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + data)


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def explicit(number: int, content: bytes) -> bytes:
    return tlv(0xA0 | number, content)


def time(moment: datetime) -> bytes:
    """UTCTime before 2050 and GeneralizedTime after, as RFC 5280 section 4.1.2.5 requires."""
    moment = moment.astimezone(UTC)
    if 1950 <= moment.year < 2050:
        return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """One TLV at `offset`: (tag, content, offset after it). Raises CryptoError when truncated."""
    try:
        tag = data[offset]
        first = data[offset + 1]
        pos = offset + 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise CryptoError("DER: unsupported length encoding")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        else:
            length = first
    except IndexError:
        raise CryptoError("DER: truncated data") from None
    end = pos + length
    if end > len(data):
        raise CryptoError("DER: truncated data")
    return tag, data[pos:end], end


def children(content: bytes) -> list[tuple[int, bytes]]:
    """The TLVs inside a constructed value's content."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(content):
        tag, body, pos = read(content, pos)
        out.append((tag, body))
    return out


def decode_oid(content: bytes) -> str:
    if not content:
        raise CryptoError("DER: empty OID")
    parts = [content[0] // 40, content[0] % 40]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)
