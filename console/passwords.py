"""Console passwords: scrypt hashes, generated passwords, and the decoy hash for unknown users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import cache

from providers.errors import ConfigError

# scrypt cost: ~50 ms per check here, enough to make offline guessing expensive.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
MIN_PASSWORD = 10
# 18 random bytes: 24 URL-safe characters, 144 bits.
GENERATED_BYTES = 18


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=2**27)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, 32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _decoy(n: int, r: int, p: int) -> str:
    salt = os.urandom(16)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(secrets.token_hex(16), salt, n, r, p, 32))}"


def decoy_hash() -> str:
    """A hash with the cost new accounts get and no known password: checking a password for an
    unknown or disabled user against it takes as long as a real check and always fails."""
    return _decoy(_SCRYPT_N, _SCRYPT_R, _SCRYPT_P)


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_BYTES)


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password must have at least {MIN_PASSWORD} characters")
    if password != password.strip() or any(ch in password for ch in "\r\n\0"):
        raise ConfigError("password must not start or end with spaces or contain line breaks")
