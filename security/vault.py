"""Provider credentials encrypted at rest with SM4-GCM.

The vault is a JSON file; every entry is sealed separately with a fresh 96-bit nonce and its
own name as associated data, so entries cannot be swapped or edited unnoticed. The 128-bit key
comes from $GANYUN_VAULT_KEY (hex) or a key file that must be mode 0600. A key check entry
lets a wrong key fail with one clear message instead of a cryptic tag error.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from inventory.config import GanyunConfig
from providers.base import ConfigError, CryptoError

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
_CHECK_NAME = "__key_check__"
_CHECK_PLAINTEXT = b"ganyun-vault-key-check"


def sm4_gcm_seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = secrets.token_bytes(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    sealed = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    return nonce, sealed


def sm4_gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < TAG_BYTES:
        raise CryptoError("vault entry is truncated")
    ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise CryptoError("vault entry failed authentication (wrong key or modified file)") from None


def parse_key(text: str, origin: str) -> bytes:
    raw = text.strip()
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ConfigError(f"vault key from {origin} is not hex") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"vault key from {origin} must be {KEY_BYTES} bytes ({KEY_BYTES * 2} hex digits)")
    return key


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"vault key file not found: {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"vault key file {path} must be mode 0600 (it is {stat.S_IMODE(mode):04o})")
    return parse_key(path.read_text(encoding="ascii", errors="replace"), str(path))


def write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_key_file(path: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    write_private(path, key.hex().encode() + b"\n")
    return key


@dataclass(frozen=True)
class EntryInfo:
    name: str
    key: str
    updated_at: str


class Vault:
    """Read and write sealed credential entries. Secrets are returned, never printed."""

    def __init__(self, path: Path, key: bytes, key_file: Path | None) -> None:
        self.path = path
        self._key = key
        self.key_file = key_file
        self._data: dict[str, Any] = self._load()
        self._check_key()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, config: GanyunConfig, *, create: bool = False) -> Vault:
        path = config.resolve_path(config.vault.path)
        key_file = config.resolve_path(config.vault.key_file) if config.vault.key_file else path.with_suffix(".key")
        env_value = os.environ.get(config.vault.key_env)
        if env_value:
            return cls(path, parse_key(env_value, f"${config.vault.key_env}"), None)
        if create and not key_file.exists():
            return cls(path, new_key_file(key_file), key_file)
        return cls(path, read_key_file(key_file), key_file)

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": 1, "cipher": "SM4-GCM", "entries": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"vault file {self.path} is unreadable: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            raise ConfigError(f"vault file {self.path} is not a ganyun vault")
        return data

    def _check_key(self) -> None:
        check = self._data.get(_CHECK_NAME)
        if check is None:
            return
        try:
            self._open_blob(_CHECK_NAME, check)
        except CryptoError:
            raise CryptoError(f"the vault key does not open {self.path} (wrong key)") from None

    # ------------------------------------------------------------------ entries

    def _seal_blob(self, name: str, plaintext: bytes) -> dict[str, str]:
        nonce, sealed = sm4_gcm_seal(self._key, plaintext, name.encode())
        return {"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}

    def _open_blob(self, name: str, blob: dict[str, str]) -> bytes:
        try:
            nonce = base64.b64decode(blob["nonce"])
            sealed = base64.b64decode(blob["sealed"])
        except (KeyError, ValueError, TypeError):
            raise CryptoError(f"vault entry '{name}' is malformed") from None
        return sm4_gcm_open(self._key, nonce, sealed, name.encode())

    def names(self) -> list[str]:
        return sorted(self._data["entries"])

    def info(self) -> list[EntryInfo]:
        out = []
        for name in self.names():
            key, _secret = self.get(name)
            out.append(EntryInfo(name=name, key=key, updated_at=self._data["entries"][name].get("updated_at", "")))
        return out

    def get(self, name: str) -> tuple[str, str]:
        blob = self._data["entries"].get(name)
        if blob is None:
            raise KeyError(name)
        payload = json.loads(self._open_blob(name, blob))
        return str(payload["key"]), str(payload["secret"])

    def set(self, name: str, key: str, secret: str) -> None:
        if not name or name == _CHECK_NAME:
            raise ConfigError(f"invalid vault entry name '{name}'")
        plaintext = json.dumps({"key": key, "secret": secret}).encode()
        entry = self._seal_blob(name, plaintext)
        entry["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self._data["entries"][name] = entry
        self._save()

    def delete(self, name: str) -> None:
        if self._data["entries"].pop(name, None) is None:
            raise KeyError(name)
        self._save()

    def rotate(self) -> None:
        """Re-seal every entry under a new key written to the key file."""
        if self.key_file is None:
            raise ConfigError("the vault key comes from the environment: rotate it there, or use a key file")
        plain = {name: self.get(name) for name in self.names()}
        new_key = secrets.token_bytes(KEY_BYTES)
        old_key, self._key = self._key, new_key
        try:
            for name, (key, secret) in plain.items():
                entry = self._seal_blob(name, json.dumps({"key": key, "secret": secret}).encode())
                entry["updated_at"] = self._data["entries"][name].get("updated_at", "")
                self._data["entries"][name] = entry
            # Vault first, then key: if we die in between, the old key file is kept as .old.
            backup = self.key_file.with_suffix(self.key_file.suffix + ".old")
            write_private(backup, old_key.hex().encode() + b"\n")
            self._save()
            write_private(self.key_file, new_key.hex().encode() + b"\n")
            backup.unlink(missing_ok=True)
        except BaseException:
            self._key = old_key
            raise

    def _save(self) -> None:
        self._data[_CHECK_NAME] = self._seal_blob(_CHECK_NAME, _CHECK_PLAINTEXT)
        write_private(self.path, json.dumps(self._data, indent=1, sort_keys=True).encode())
