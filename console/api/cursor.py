"""Page tokens: opaque to clients, signed by the server, bound to the query they continue.

A token holds the position after the last item sent (a key, or an offset) and a digest of the
query (path, filters, account). It is HMAC-SHA256 signed: a client cannot forge a position or
reuse a token for another query or another account. The key lives as long as the server
process: after a restart a client starts its listing again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from console.api.problems import Problem


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    @staticmethod
    def query_digest(path: str, account: str, params: Mapping[str, Any]) -> str:
        canonical = orjson.dumps({"path": path, "account": account, "params": params}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:32]

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode(self, query: str, position: Any) -> str:
        payload = orjson.dumps({"q": query, "p": position})
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, query: str, token: str) -> Any:
        """The position a token continues from; 422 for anything this server did not sign for
        this query."""
        payload_text, _, signature_text = token.partition(".")
        try:
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise Problem(422, "page_token: not a page token of this listing") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise Problem(422, "page_token: not a page token of this listing")
        data = orjson.loads(payload)
        if not isinstance(data, dict) or data.get("q") != query:
            raise Problem(422, "page_token: not a page token of this listing")
        return data.get("p")
