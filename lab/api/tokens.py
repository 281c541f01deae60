"""Keystone tokens of the lab: HMAC-signed so that they survive a server restart, as Fernet tokens do."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

TOKEN_TTL = timedelta(hours=12)


class Tokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, cloud: str, stamp: str) -> str:
        return hmac.new(self._secret, f"{cloud}|{stamp}".encode(), hashlib.sha256).hexdigest()[:40]

    def issue(self, cloud: str) -> tuple[str, datetime]:
        expires = datetime.now(UTC).replace(microsecond=0) + TOKEN_TTL
        stamp = str(int(expires.timestamp()))
        return f"gAAAA{stamp}.{self._mac(cloud, stamp)}", expires

    def valid(self, cloud: str, token: str) -> bool:
        if not token.startswith("gAAAA") or "." not in token:
            return False
        stamp, _, mac = token[5:].partition(".")
        if not stamp.isdigit() or int(stamp) < time.time():
            return False
        return hmac.compare_digest(self._mac(cloud, stamp), mac)
