"""SM2, SM3 and SM4 behind one API, the fastest correct backend first.

Measured on this machine (see tests/benchmarks/bench_sm.py; `openssl speed sm2` gave
~1,800 sign/s and ~2,500 verify/s):
- SM2 sign and encrypt/decrypt: gmalglib (compiled, ~6,000 sign/s; passes GB/T 32918.5 Annex A
  with the given k). tongsuopy's Python API signs at ~1,400/s and cannot set the ID or k.
- SM2 verify: Tongsuo's EVP through ctypes (~2,500/s, any ID); gmalglib verifies at ~1,200/s.
- Fallback when neither is installed: gmssl (pure Python, ~30-50 ops/s) with nonces from
  `secrets` and the ID hash Z computed here (gmssl's own nonce comes from `random`).
- SM3 through hashlib and SM4 through cryptography: both are OpenSSL.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import secrets
import ssl
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from providers.errors import CryptoError
from security import der
from security import tongsuo as _tongsuo

DEFAULT_ID = b"1234567812345678"

# GB/T 32918.5 recommended curve.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


# --------------------------------------------------------------------------- SM3


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def sm3_hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sm3").digest()


# --------------------------------------------------------------------------- SM4


def _check_key(key: bytes) -> None:
    if len(key) != 16:
        raise CryptoError(f"SM4 keys are 16 bytes, got {len(key)}")


def sm4_ecb_block(key: bytes, block: bytes, iterations: int = 1) -> bytes:
    """Encrypt one block `iterations` times (the standard's 1,000,000-round vector)."""
    _check_key(key)
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one block, test vector
    for _ in range(iterations):
        block = encryptor.update(block)
    return block


def sm4_cbc_encrypt(key: bytes, iv: bytes, data: bytes, pad: bool = True) -> bytes:
    _check_key(key)
    if pad:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    elif len(data) % 16:
        raise CryptoError("SM4-CBC without padding needs a multiple of 16 bytes")
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, data: bytes, pad: bool = True) -> bytes:
    _check_key(key)
    if len(data) % 16:
        raise CryptoError("SM4-CBC ciphertext is not a multiple of 16 bytes")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    if not pad:
        return plain
    try:
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise CryptoError("SM4-CBC: bad padding (wrong key or corrupted data)") from None


def sm4_ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """CTR mode is its own inverse: the same call encrypts and decrypts."""
    _check_key(key)
    encryptor = Cipher(algorithms.SM4(key), modes.CTR(nonce)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sm4_gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """Ciphertext followed by the 16-byte tag."""
    _check_key(key)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    _check_key(key)
    if len(data) < 16:
        raise CryptoError("SM4-GCM ciphertext is shorter than its tag")
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, data[-16:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(data[:-16]) + decryptor.finalize()
    except InvalidTag:
        raise CryptoError("SM4-GCM: authentication failed (wrong key or tampered data)") from None


# --------------------------------------------------------------------------- SM2 backends


@cache
def _gmalglib() -> Any:
    try:
        from gmalglib.sm2 import SM2
    except ImportError:
        return None
    return SM2


@cache
def _tongsuo_ok() -> bool:
    return _tongsuo.available()


def _int32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def z_value(uid: bytes, public_point: bytes) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) from GB/T 32918.2."""
    if len(uid) * 8 > 0xFFFF:
        raise CryptoError("SM2 ID is too long")
    return sm3(
        (len(uid) * 8).to_bytes(2, "big") + uid + _int32(A) + _int32(B) + _int32(GX) + _int32(GY) + public_point[1:]
    )


def _gmssl(d: int | None, public_point: bytes) -> Any:
    from gmssl.sm2 import CryptSM2

    crypt = CryptSM2(private_key=f"{d:064x}" if d is not None else "", public_key="", mode=1)
    # gmssl strips every leading "0" and "4" character of a hex key; set the point directly.
    crypt.public_key = public_point[1:].hex()
    return crypt


def _random_scalar() -> int:
    return secrets.randbelow(N - 2) + 1


def _check_point(point: bytes) -> bytes:
    if len(point) != 65 or point[0] != 4:
        raise CryptoError("SM2 public keys are 65-byte uncompressed points (04 || x || y)")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if x >= P or y >= P or (y * y - (x * x * x + A * x + B)) % P:
        raise CryptoError("SM2 public key is not a point on the SM2 curve")
    return point


def _point_of(d: int) -> bytes:
    sm2 = _gmalglib()
    if sm2 is not None:
        return bytes(sm2.get_pk(_int32(d)))
    raw: str = _gmssl(d, b"\x04" + b"\x00" * 64)._kg(d, f"{GX:064x}{GY:064x}")
    return b"\x04" + bytes.fromhex(raw)


# --------------------------------------------------------------------------- SM2 keys


@dataclass(frozen=True)
class Sm2PublicKey:
    point: bytes  # 04 || x || y

    def __post_init__(self) -> None:
        _check_point(self.point)

    def spki_der(self) -> bytes:
        return der.seq(
            der.seq(der.oid(der.OID_EC_PUBLIC_KEY), der.oid(der.OID_SM2_CURVE)),
            der.bit_string(self.point),
        )

    def public_bytes_pem(self) -> bytes:
        return _pem("PUBLIC KEY", self.spki_der())

    @classmethod
    def from_spki(cls, data: bytes) -> Sm2PublicKey:
        """An SM2 key from SubjectPublicKeyInfo DER (cryptography refuses these)."""
        _, body, _ = der.read(data)
        parts = der.children(body)
        if len(parts) != 2 or parts[1][0] != der.BIT_STRING:
            raise CryptoError("not a SubjectPublicKeyInfo")
        algorithm = der.children(parts[0][1])
        oids = [der.decode_oid(v) for t, v in algorithm if t == der.OID]
        if der.OID_SM2_CURVE not in oids:
            raise CryptoError("the public key is not on the SM2 curve")
        return cls(parts[1][1][1:])

    @classmethod
    def load(cls, data: bytes) -> Sm2PublicKey:
        return cls.from_spki(_unpem(data, ("PUBLIC KEY",)))

    def verify(self, signature: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bool:
        """Check a DER signature over `message` with distinguishing ID `uid`."""
        try:
            r, s = decode_dss_signature(signature)
        except ValueError:
            return False
        if not (0 < r < N and 0 < s < N):
            return False
        if _tongsuo_ok():
            return _verifier(self.point).verify(signature, message, uid)
        return self.verify_raw(_int32(r) + _int32(s), message, uid)

    def verify_raw(self, signature: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bool:
        """Check an r||s signature (64 bytes)."""
        if len(signature) != 64:
            return False
        sm2 = _gmalglib()
        if sm2 is not None:
            return bool(sm2(pk=self.point, uid=uid).verify(message, signature))
        digest = sm3(z_value(uid, self.point) + message)
        return bool(_gmssl(None, self.point).verify(signature.hex(), digest))

    def encrypt(self, plaintext: bytes) -> bytes:
        """C1 || C3 || C2 (GB/T 32918.4, 2012 order) with an uncompressed C1."""
        if not plaintext:
            raise CryptoError("SM2 cannot encrypt an empty message")
        sm2 = _gmalglib()
        if sm2 is not None:
            return bytes(sm2(pk=self.point, rnd_fn=secrets.token_bytes).encrypt(plaintext))
        return _gmssl_encrypt(self.point, plaintext)


@lru_cache(maxsize=256)
def _verifier(point: bytes) -> _tongsuo.Sm2Verifier:
    # Parsing the key into an EVP_PKEY costs as much as a verification: keep recent ones.
    return _tongsuo.Sm2Verifier(Sm2PublicKey(point).spki_der())


def _gmssl_encrypt(point: bytes, plaintext: bytes) -> bytes:
    from gmssl import sm3 as gm_sm3

    crypt = _gmssl(None, point)
    k = _random_scalar()
    c1 = crypt._kg(k, f"{GX:064x}{GY:064x}")
    xy = crypt._kg(k, crypt.public_key)
    t = bytes.fromhex(gm_sm3.sm3_kdf(xy.encode(), len(plaintext)))
    if not any(t):
        raise CryptoError("SM2 encryption drew a zero key stream; retry")
    c2 = bytes(a ^ b for a, b in zip(plaintext, t, strict=True))
    c3 = sm3(bytes.fromhex(xy[:64]) + plaintext + bytes.fromhex(xy[64:]))
    return b"\x04" + bytes.fromhex(c1) + c3 + c2


class Sm2PrivateKey:
    """An SM2 private key (scalar d) with OpenSSL-compatible PKCS#8 / SEC1 serialization."""

    def __init__(self, d: int) -> None:
        if not 1 <= d <= N - 2:
            raise CryptoError("SM2 private key out of range")
        self.d = d
        self._public = Sm2PublicKey(_point_of(d))

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        return cls(_random_scalar())

    def public_key(self) -> Sm2PublicKey:
        return self._public

    def sign_raw(self, message: bytes, uid: bytes = DEFAULT_ID, k: int | None = None) -> bytes:
        """r || s (64 bytes). `k` is for standard test vectors only; leave it None."""
        sm2 = _gmalglib()
        if sm2 is not None:
            # gmalglib reads its random bytes as a little-endian integer.
            rnd = (lambda _n: k.to_bytes(32, "little")) if k is not None else secrets.token_bytes
            return bytes(sm2(_int32(self.d), uid=uid, rnd_fn=rnd).sign(message))
        digest = sm3(z_value(uid, self._public.point) + message)
        crypt = _gmssl(self.d, self._public.point)
        while True:
            out = crypt.sign(digest, f"{k if k is not None else _random_scalar():064x}")
            if out is not None:
                return bytes.fromhex(out)
            if k is not None:
                raise CryptoError("the given k yields an invalid SM2 signature")

    def sign(self, message: bytes, uid: bytes = DEFAULT_ID, k: int | None = None) -> bytes:
        """A DER SEQUENCE { r, s } as X.509 and `openssl dgst` use."""
        raw = self.sign_raw(message, uid, k)
        return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < 65 + 32 + 1:
            raise CryptoError("SM2 ciphertext is too short")
        sm2 = _gmalglib()
        try:
            if sm2 is not None:
                return bytes(sm2(_int32(self.d)).decrypt(ciphertext))
        except Exception as exc:  # gmalglib raises plain exceptions on bad input
            raise CryptoError(f"SM2 decryption failed: {exc}") from None
        crypt = _gmssl(self.d, self._public.point)
        c1, c3, c2 = ciphertext[1:65], ciphertext[65:97], ciphertext[97:]
        from gmssl import sm3 as gm_sm3

        xy = crypt._kg(self.d, c1.hex())
        t = bytes.fromhex(gm_sm3.sm3_kdf(xy.encode(), len(c2)))
        plain = bytes(a ^ b for a, b in zip(c2, t, strict=True))
        if sm3(bytes.fromhex(xy[:64]) + plain + bytes.fromhex(xy[64:])) != c3:
            raise CryptoError("SM2 decryption failed: C3 does not match")
        return plain

    # -- serialization

    def sec1_der(self) -> bytes:
        return der.seq(
            der.integer(1),
            der.octet_string(_int32(self.d)),
            der.explicit(0, der.oid(der.OID_SM2_CURVE)),
            der.explicit(1, der.bit_string(self._public.point)),
        )

    def pkcs8_der(self) -> bytes:
        return der.seq(
            der.integer(0),
            der.seq(der.oid(der.OID_EC_PUBLIC_KEY), der.oid(der.OID_SM2_CURVE)),
            der.octet_string(self.sec1_der()),
        )

    def private_bytes_pem(self) -> bytes:
        return _pem("PRIVATE KEY", self.pkcs8_der())

    @classmethod
    def load(cls, data: bytes) -> Sm2PrivateKey:
        """PEM or DER, PKCS#8 or SEC1 ("EC PRIVATE KEY"), as OpenSSL writes them."""
        body = _unpem(data, ("PRIVATE KEY", "EC PRIVATE KEY"))
        _, content, _ = der.read(body)
        parts = der.children(content)
        if len(parts) >= 3 and parts[1][0] == der.SEQUENCE:  # PKCS#8
            oids = [der.decode_oid(v) for t, v in der.children(parts[1][1]) if t == der.OID]
            if der.OID_SM2_CURVE not in oids:
                raise CryptoError("the private key is not an SM2 key")
            _, content, _ = der.read(parts[2][1])
            parts = der.children(content)
        if len(parts) < 2 or parts[1][0] != der.OCTET_STRING:
            raise CryptoError("not an SM2 private key")
        for tag, value in parts[2:]:
            if tag == 0xA0 and der.decode_oid(der.read(value)[1]) != der.OID_SM2_CURVE:
                raise CryptoError("the private key is not on the SM2 curve")
        return cls(int.from_bytes(parts[1][1], "big"))


def _pem(label: str, body: bytes) -> bytes:
    import base64

    b64 = base64.encodebytes(body).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _unpem(data: bytes, labels: tuple[str, ...]) -> bytes:
    import base64
    import binascii

    text = data.lstrip()
    if not text.startswith(b"-----BEGIN"):
        return data
    for label in labels:
        begin, end = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
        if begin in text:
            start = text.index(begin) + len(begin)
            stop = text.find(end, start)
            if stop < 0:
                raise CryptoError(f"PEM block {label} has no END line")
            try:
                return base64.b64decode(b"".join(text[start:stop].split()), validate=True)
            except binascii.Error:
                raise CryptoError(f"PEM block {label} is not valid base64") from None
    if b"ENCRYPTED PRIVATE KEY" in text:
        raise CryptoError("encrypted SM2 private keys are not supported; decrypt with openssl pkey first")
    raise CryptoError(f"no PEM block of type {' / '.join(labels)}")


# --------------------------------------------------------------------------- backends


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def backend_names() -> dict[str, str]:
    """Which library does what, for `ganyun version` and audit reports."""
    gm = _gmalglib() is not None
    sign = f"gmalglib {_version('gmalglib')}" if gm else f"gmssl {_version('gmssl')} (pure Python)"
    if _tongsuo_ok():
        verify = f"Tongsuo ({_tongsuo.version()} API) via ctypes, from tongsuopy {_version('tongsuopy')}"
    else:
        verify = sign
    return {
        "sm2_sign": sign,
        "sm2_verify": verify,
        "sm2_encrypt": sign,
        "sm3": f"{ssl.OPENSSL_VERSION} via hashlib",
        "sm4": f"OpenSSL via cryptography {_version('cryptography')}",
    }
