"""Provider credentials encrypted at rest with SM4-GCM; no write, crash or replay loses or revives one.

The vault is a JSON file; every entry is sealed separately with a fresh 96-bit nonce and its
own name as associated data, so entries cannot be swapped or edited unnoticed. The 128-bit key
comes from $GANYUN_VAULT_KEY (hex) or a key file that must be mode 0600. A key check entry
lets a wrong key fail with one clear message instead of a cryptic tag error.

Whole-file integrity: every save bumps a generation counter and seals the file with an HMAC-SM3
(key derived from the vault key) over everything in it, so a deleted, added or older entry
breaks the MAC. The generation and MAC are also written to an anchor file beside the key file
(`vault.key.anchor`), out of reach of whoever can only replace the vault file: a whole older
vault file, MAC and all, is older than its anchor and refused.

Crash safety: every file is replaced atomically (temporary file, fsync, rename). A save writes
the vault, then the anchor; `open` rolls a vault one generation ahead of its anchor forward.
Rotation writes the new key to `vault.key.new` first, then the vault sealed under it, then
renames `vault.key.new` over `vault.key`; `open` finishes or forgets an interrupted rotation by
which of the two keys opens the vault. One lock file serializes writers across processes.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from inventory.config import GanyunConfig
from providers.errors import ConfigError, CryptoError, GanyunError
from security.crashpoints import crash_point

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT = 2
_CHECK_NAME = "__key_check__"
# Where an adapter's session state between syncs is kept (VaultCredentials.save_session).
SESSION_ENTRY = "{provider}.session"
SESSION_KEY = "adapter-session"
_CHECK_PLAINTEXT = b"ganyun-vault-key-check"
_MAC_LABEL = b"ganyun-vault-mac"


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


def _hmac_sm3(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sm3").digest()


def vault_mac(key: bytes, data: dict[str, Any]) -> str:
    """HMAC-SM3 over the whole vault but its own MAC, under a key derived from the vault key."""
    body = {k: v for k, v in data.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return _hmac_sm3(_hmac_sm3(key, _MAC_LABEL), text).hex()


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte: the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point(f"{path.name} written")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    crash_point(f"{path.name} renamed")


def _key_text(key: bytes) -> bytes:
    return key.hex().encode() + b"\n"


@dataclass(frozen=True)
class VaultFiles:
    vault: Path
    key: Path | None  # None: the key comes from the environment
    anchor: Path
    lock: Path

    @property
    def new_key(self) -> Path | None:
        return self.key.with_name(self.key.name + ".new") if self.key else None

    def replaced(self) -> list[Path]:
        """The files written through write_private (a temporary file, then a rename)."""
        return [p for p in (self.vault, self.key, self.new_key, self.anchor) if p is not None]


def files_of(config: GanyunConfig, key_from_env: bool) -> VaultFiles:
    vault = config.resolve_path(config.vault.path)
    if key_from_env:
        # No key file to sit beside: the anchor then only catches a vault file replayed alone.
        return VaultFiles(vault, None, vault.with_name(vault.name + ".anchor"), vault.with_name(vault.name + ".lock"))
    key = config.resolve_path(config.vault.key_file) if config.vault.key_file else vault.with_suffix(".key")
    return VaultFiles(vault, key, key.with_name(key.name + ".anchor"), vault.with_name(vault.name + ".lock"))


@contextlib.contextmanager
def _locked(files: VaultFiles) -> Iterator[None]:
    files.lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _empty() -> dict[str, Any]:
    return {"version": FORMAT, "cipher": "SM4-GCM", "generation": 0, "entries": {}}


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"vault file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ConfigError(f"vault file {path} is not a ganyun vault")
    return data


def _read_anchor(path: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["generation"]), str(data["mac"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"vault anchor {path} is unreadable") from None


def _generation(data: dict[str, Any]) -> int:
    try:
        return int(data.get("generation", 0))
    except (TypeError, ValueError):
        return -1


def _remove_stale_temporaries(files: VaultFiles) -> None:
    """Temporary files of a write that was killed before its rename (we hold the lock)."""
    for path in files.replaced():
        pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}")  # what tempfile.mkstemp names
        for stale in path.parent.glob(f".{path.name}.*"):
            if pattern.fullmatch(stale.name):
                stale.unlink(missing_ok=True)


def _opens(key: bytes, data: dict[str, Any]) -> bool:
    check = data.get(_CHECK_NAME)
    if check is None:
        return True
    try:
        _open_blob(key, _CHECK_NAME, check)
    except CryptoError:
        return False
    return True


def _open_blob(key: bytes, name: str, blob: dict[str, str]) -> bytes:
    try:
        nonce = base64.b64decode(blob["nonce"])
        sealed = base64.b64decode(blob["sealed"])
    except (KeyError, ValueError, TypeError):
        raise CryptoError(f"vault entry '{name}' is malformed") from None
    return sm4_gcm_open(key, nonce, sealed, name.encode())


def _seal_blob(key: bytes, name: str, plaintext: bytes) -> dict[str, str]:
    nonce, sealed = sm4_gcm_seal(key, plaintext, name.encode())
    return {"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}


@dataclass(frozen=True)
class EntryInfo:
    name: str
    key: str
    updated_at: str


class Vault:
    """Read and write sealed credential entries. Secrets are returned, never printed."""

    def __init__(self, files: VaultFiles, key: bytes, data: dict[str, Any]) -> None:
        self.files = files
        self._key = key
        self._data = data

    @property
    def path(self) -> Path:
        return self.files.vault

    @property
    def key_file(self) -> Path | None:
        return self.files.key

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, config: GanyunConfig, *, create: bool = False) -> Vault:
        """Open (and recover) the vault; `create` makes a key only while no entry needs the old one."""
        env_value = os.environ.get(config.vault.key_env)
        files = files_of(config, key_from_env=bool(env_value))
        env_key = parse_key(env_value, f"${config.vault.key_env}") if env_value else None
        with _locked(files):
            key, data = _recover(files, env_key, create)
        return cls(files, key, data)

    # ------------------------------------------------------------------ entries

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
        payload = json.loads(_open_blob(self._key, name, blob))
        return str(payload["key"]), str(payload["secret"])

    def set(self, name: str, key: str, secret: str) -> None:
        if not name or name == _CHECK_NAME:
            raise ConfigError(f"invalid vault entry name '{name}'")
        plaintext = json.dumps({"key": key, "secret": secret}).encode()
        with _locked(self.files):
            self._reload()
            entry = _seal_blob(self._key, name, plaintext)
            entry["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            self._data["entries"][name] = entry
            self._data = _save(self.files, self._key, self._data)

    def delete(self, name: str) -> None:
        with _locked(self.files):
            self._reload()
            if self._data["entries"].pop(name, None) is None:
                raise KeyError(name)
            self._data = _save(self.files, self._key, self._data)

    def rotate(self) -> None:
        """Re-seal every entry under a new key: new key file, then vault, then the switch."""
        if self.files.key is None or self.files.new_key is None:
            raise ConfigError("the vault key comes from the environment: rotate it there, or use a key file")
        with _locked(self.files):
            self._reload()
            plain = {name: self.get(name) for name in self.names()}
            new_key = secrets.token_bytes(KEY_BYTES)
            write_private(self.files.new_key, _key_text(new_key))
            data: dict[str, Any] = {**self._data, "entries": {}}
            for name, (key, secret) in plain.items():
                entry = _seal_blob(new_key, name, json.dumps({"key": key, "secret": secret}).encode())
                entry["updated_at"] = self._data["entries"][name].get("updated_at", "")
                data["entries"][name] = entry
            data = _write_vault(self.files, new_key, data)
            os.replace(self.files.new_key, self.files.key)
            _fsync_dir(self.files.key.parent)
            crash_point(f"{self.files.new_key.name} renamed to {self.files.key.name}")
            _write_anchor(self.files, data)
            self._key, self._data = new_key, data

    def _reload(self) -> None:
        """Writers start from the file as it is now: another process may have saved since we opened."""
        key, self._data = _recover(self.files, self._key if self.files.key is None else None, create=False)
        if key != self._key:
            raise CryptoError(f"the vault key of {self.path} changed while it was open: run the command again")


def discard(config: GanyunConfig) -> None:
    """Start the vault over on purpose (the lab does, with new passwords): the vault file and its
    anchor go together. Removing the vault file alone is what `open` reports as a deletion."""
    env_value = os.environ.get(config.vault.key_env)
    files = files_of(config, key_from_env=bool(env_value))
    with _locked(files):
        files.vault.unlink(missing_ok=True)
        files.anchor.unlink(missing_ok=True)


# ---------------------------------------------------------------------- saving and recovering


def _write_vault(files: VaultFiles, key: bytes, data: dict[str, Any]) -> dict[str, Any]:
    """The next generation of `data`, sealed under `key`, written to the vault file."""
    data = {k: v for k, v in data.items() if k != "mac"}
    data.update(version=FORMAT, cipher="SM4-GCM", generation=_generation(data) + 1)
    data[_CHECK_NAME] = _seal_blob(key, _CHECK_NAME, _CHECK_PLAINTEXT)
    data["mac"] = vault_mac(key, data)
    write_private(files.vault, json.dumps(data, indent=1, sort_keys=True).encode())
    return data


def _write_anchor(files: VaultFiles, data: dict[str, Any]) -> None:
    anchor = {"generation": _generation(data), "mac": data["mac"]}
    write_private(files.anchor, json.dumps(anchor).encode())


def _save(files: VaultFiles, key: bytes, data: dict[str, Any]) -> dict[str, Any]:
    data = _write_vault(files, key, data)
    _write_anchor(files, data)
    return data


def _recover(files: VaultFiles, env_key: bytes | None, create: bool) -> tuple[bytes, dict[str, Any]]:
    """Bring the files to one consistent state (we hold the lock) and check them; (key, vault data)."""
    _remove_stale_temporaries(files)
    data = _load(files.vault)
    anchor = _read_anchor(files.anchor)
    if data is None and anchor is not None:
        raise CryptoError(f"vault file {files.vault} is missing but {files.anchor.name} records generation "
                          f"{anchor[0]}: it was deleted; restore it")  # fmt: skip
    if env_key is not None:
        key = env_key
    else:
        key, data = _recover_key(files, data, anchor, create)
    if data is None:
        return key, _empty()
    if not _opens(key, data):
        older = anchor is not None and _generation(data) < anchor[0]
        why = "an older copy of the vault (replayed)" if older else "wrong key"
        raise CryptoError(f"the vault key does not open {files.vault} ({why})")
    return key, _check_whole_file(files, key, data, anchor)


def _recover_key(
    files: VaultFiles, data: dict[str, Any] | None, anchor: tuple[int, str] | None, create: bool
) -> tuple[bytes, dict[str, Any] | None]:
    """Finish or forget an interrupted rotation; make a first key only when nothing needs another."""
    assert files.key is not None and files.new_key is not None
    new_key = read_key_file(files.new_key) if files.new_key.exists() else None
    if files.key.exists():
        key = read_key_file(files.key)
        if data is None or _opens(key, data):
            # A rotation that stopped before the vault was switched: the vault is still under `key`.
            files.new_key.unlink(missing_ok=True)
            return key, data
        if new_key is not None and _opens(new_key, data):
            # The vault was switched, the key file not yet: finish the rotation.
            os.replace(files.new_key, files.key)
            _fsync_dir(files.key.parent)
            return new_key, data
        return key, data  # the caller reports the wrong key
    if new_key is not None and data is not None and _opens(new_key, data):
        os.replace(files.new_key, files.key)
        _fsync_dir(files.key.parent)
        return new_key, data
    if data is not None and data["entries"]:
        count = len(data["entries"])
        raise ConfigError(f"vault key file {files.key} is missing and {files.vault.name} holds {count} entries: "
                          "restore the key file (a new key would lose them)")  # fmt: skip
    if not create:
        raise ConfigError(f"vault key file not found: {files.key}")
    key = secrets.token_bytes(KEY_BYTES)
    write_private(files.key, _key_text(key))
    if data is None:
        return key, None
    # An empty vault under a lost key is started again; the generation keeps counting up.
    fresh = _empty()
    fresh["generation"] = max(_generation(data), anchor[0] if anchor else 0)
    return key, _save(files, key, fresh)


def _check_whole_file(
    files: VaultFiles, key: bytes, data: dict[str, Any], anchor: tuple[int, str] | None
) -> dict[str, Any]:
    if "mac" not in data:
        if anchor is not None:
            raise CryptoError(f"vault file {files.vault} has no MAC but {files.anchor.name} exists: it was replaced")
        return _save(files, key, data)  # a vault from before whole-file MACs: seal and anchor it now
    if not hmac.compare_digest(str(data["mac"]), vault_mac(key, data)):
        raise CryptoError(f"vault file {files.vault} was changed outside ganyun (its MAC does not match): "
                          "an entry was added, removed or replaced")  # fmt: skip
    generation = _generation(data)
    anchored, anchored_mac = anchor if anchor is not None else (0, "")
    if generation == anchored + 1:
        _write_anchor(files, data)  # the save stopped between the vault and its anchor
    elif generation < anchored:
        raise CryptoError(f"vault file {files.vault} is an older copy (generation {generation}, "
                          f"{files.anchor.name} records {anchored}): it was replayed")  # fmt: skip
    elif generation == anchored and not hmac.compare_digest(anchored_mac, data["mac"]):
        raise CryptoError(f"vault file {files.vault} is not the generation {generation} that {files.anchor.name} "
                          "records: it was replaced")  # fmt: skip
    elif generation > anchored:
        raise CryptoError(f"vault file {files.vault} is ahead of {files.anchor.name} (generation {generation}, "
                          f"anchor {anchored}): the anchor was replaced")  # fmt: skip
    return data


class VaultCredentials:
    """The vault as the credential source of inventory.credentials (`vault:NAME` references),
    opened on the first reference: a configuration with `env:` references only never needs a
    vault. Sync resolves providers from several threads, hence the lock."""

    def __init__(self, config: GanyunConfig) -> None:
        self._config = config
        self._vault: Vault | None = None
        self._lock = threading.Lock()

    def _opened(self) -> Vault:
        with self._lock:
            if self._vault is None:
                self._vault = Vault.open(self._config)
            return self._vault

    def get(self, name: str) -> tuple[str, str]:
        return self._opened().get(name)

    # An adapter's session state between syncs (inventory.credentials.SessionKeeper). A vault
    # that cannot be opened keeps none: the next sync then lists everything.
    def load_session(self, provider: str) -> str | None:
        try:
            _key, state = self._opened().get(SESSION_ENTRY.format(provider=provider))
        except (KeyError, GanyunError):
            return None
        return state

    def save_session(self, provider: str, state: str | None) -> None:
        try:
            vault = self._opened()
            name = SESSION_ENTRY.format(provider=provider)
            if state:
                vault.set(name, SESSION_KEY, state)
            elif name in vault.names():
                vault.delete(name)
        except GanyunError:
            return
