"""The SM2 key that signs audit-log checkpoints, kept 0600 next to the configuration.

The key goes through security/sm.py (fastest correct SM2 backend, OpenSSL-compatible PKCS#8
PEM; SEC1 "EC PRIVATE KEY" files load too). Signatures use the standard distinguishing ID
1234567812345678 and are stored as DER, as `openssl dgst -sm3` would write them.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from providers.errors import ConfigError, CryptoError
from security import sm
from security.vault import write_private

KEY_FILE_NAME = "audit_key.pem"


@dataclass(frozen=True)
class CheckpointKey:
    key: sm.Sm2PrivateKey

    @classmethod
    def generate(cls) -> CheckpointKey:
        return cls(sm.Sm2PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def public_hex(self) -> str:
        return self.key.public_key().point.hex()

    def to_pem(self) -> bytes:
        return self.key.private_bytes_pem()

    @classmethod
    def from_pem(cls, data: bytes) -> CheckpointKey:
        return cls(sm.Sm2PrivateKey.load(data))


def verify_signature(public_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        public = sm.Sm2PublicKey(bytes.fromhex(public_hex))
        signature = bytes.fromhex(signature_hex)
    except (ValueError, CryptoError):
        return False
    return public.verify(signature, message)


def load_key(path: Path, *, create: bool) -> CheckpointKey | None:
    """The key at `path` (refused unless 0600); a new one when `create` and it is missing."""
    if not path.exists():
        if not create:
            return None
        key = CheckpointKey.generate()
        write_private(path, key.to_pem())
        return key
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"audit key file {path} must be mode 0600 (it is {stat.S_IMODE(mode):04o})")
    return CheckpointKey.from_pem(path.read_bytes())
