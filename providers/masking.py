"""Mask every credential value this process knows in text that may leave it.

A cloud's error body is tenant- or vendor-written data, and some endpoints echo the request:
a Keystone 400 repeats the auth JSON with the password inside. Whatever ganyun stores, prints
or logs from such a body goes through `mask` first.

The process-wide `SECRETS` learns a value when it is resolved (provider credentials from the
vault or the environment, a database URL's password) or obtained (an auth token, through a
watched callable), and replaces each one, and the forms a server may echo it in, with `***`:
JSON-escaped, URL-encoded, HTML-escaped, Python repr-escaped and read in the wrong charset, up
to two of these on top of each other (JSON quoted in a JSON error message, UTF-8 bytes of a
text/plain body read as ISO-8859-1), and base64 of `key:secret` (HTTP Basic) or of the secret
alone. Forms match without regard to case (URL encoding comes as %2f or %2F): masking a little
more than needed is harmless. Values shorter than MIN_SECRET_LENGTH are not masked: they would
blank out ordinary words.

This module imports nothing of ours, so every layer (providers included) may use it.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4
# A response body is cut to this many characters before masking and shortening: a longer one
# only costs time, as what is kept of it is its first few hundred characters.
MAX_SCANNED_CHARS = 64 * 1024


def _misread(codec: str) -> Callable[[str], str]:
    """Non-ASCII text as a client reads it when a text/* body declares no charset: the bytes
    (UTF-8, or GB18030 from a Chinese system) taken as ISO-8859-1, as HTTP says to."""

    def misread(s: str) -> str:
        return s.encode(codec, errors="ignore").decode("latin-1")

    return misread


# The encodings a server applies to what it echoes.
_ENCODERS: tuple[Callable[[str], str], ...] = (
    _misread("utf-8"),
    _misread("gb18030"),
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    html.escape,
    lambda s: html.escape(s, quote=False),
    lambda s: repr(s)[1:-1],
    lambda s: urllib.parse.quote(s, safe=""),
    urllib.parse.quote,
    urllib.parse.quote_plus,
)
# Two layers: an error message quoting a JSON body (JSON in JSON), an HTML page showing a form
# body (URL-encoding in HTML), a URL-encoded copy of a JSON request.
_LAYERS = 2


def _b64(raw: bytes) -> set[str]:
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return {std, url, std.rstrip("="), url.rstrip("=")}


def variants(secret: str) -> set[str]:
    """The forms a server may echo `secret` in."""
    forms = layer = {secret}
    for _ in range(_LAYERS):
        layer = {encode(text) for text in layer for encode in _ENCODERS}
        forms = forms | layer
    return forms | {repr(secret.encode())[2:-1]} | _b64(secret.encode())


def _trie_pattern(forms: Iterable[str]) -> re.Pattern[str]:
    """One regex for many literal strings, shaped as their prefix tree: at each character at
    most one branch can go on, so a message costs microseconds however many forms there are
    (a flat alternation of hundreds costs milliseconds). Greedy optional tails make the
    longest form win."""
    trie: dict[str, Any] = {}
    for form in {f.lower() for f in forms}:  # one branch per letter, whatever its case
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        # Runs without a branch or an end are written in one go: recursion only at branch
        # points, so a long token (a JWT) does not recurse once per character.
        run = []
        while len(node) == 1 and "" not in node:
            ((char, node),) = node.items()
            run.append(re.escape(char))
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return "".join(run)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "".join(run) + (f"(?:{body})?" if "" in node else body)

    return re.compile(emit(trie), re.IGNORECASE)


class SecretMask:
    """The secret values one process knows, and one pattern matching all their forms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        self._sources: list[weakref.WeakMethod[Callable[[], Iterable[str]]]] = []
        self._pattern: re.Pattern[str] | None = None

    def remember(self, *values: str | None) -> None:
        """Learn secret values (passwords, secret keys, tokens)."""
        for value in values:
            if not value or len(value) < MIN_SECRET_LENGTH:
                continue
            with self._lock:
                if value in self._secrets:
                    continue
                self._secrets.add(value)
                self._forms |= {v for v in variants(value) if len(v) >= MIN_SECRET_LENGTH}
                self._pattern = None

    def remember_credential(self, key: str | None, secret: str | None) -> None:
        """A key/secret pair: the secret, and `key:secret` as HTTP Basic auth sends it. The key
        alone (a user name, an access key id) identifies rather than authenticates: it stays."""
        self.remember(secret)
        if key and secret and len(secret) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._forms |= _b64(f"{key}:{secret}".encode())
                self._pattern = None

    def watch(self, source: Callable[[], Iterable[str]]) -> None:
        """A bound method returning secrets that appear later (auth tokens); asked at every
        `mask`, held weakly so that a discarded adapter is not kept alive by it."""
        with self._lock:
            self._sources.append(weakref.WeakMethod(source))

    def _poll(self) -> None:
        with self._lock:
            sources = [ref() for ref in self._sources]
            self._sources = [ref for ref, alive in zip(self._sources, sources, strict=True) if alive is not None]
        for source in sources:
            if source is None:
                continue
            try:
                found = list(source())
            except Exception:  # noqa: S112 - a half-built adapter has no token yet; the others still count
                continue
            self.remember(*found)

    def _current(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._forms:
                self._pattern = _trie_pattern(self._forms)
            return self._pattern

    def mask(self, text: str) -> str:
        if not text:
            return text
        if self._sources:
            self._poll()
        pattern = self._current()
        return pattern.sub(MASK, text) if pattern is not None else text


SECRETS = SecretMask()


def mask(text: str) -> str:
    """`text` with every known secret, in every form, replaced by `***`."""
    return SECRETS.mask(text)


def shorten(text: str, limit: int) -> str:
    """Masked, whitespace collapsed, then cut to `limit`: masking before the cut means no prefix
    of a secret survives at the end of a shortened message."""
    text = " ".join(mask(text[:MAX_SCANNED_CHARS]).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- logging

_installed = False


def install_log_masking() -> None:
    """Mask every log record of this process when it is made, whatever logger or handler
    it goes to: the message with its arguments, and the traceback text."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: its arguments are not needed to say so
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
