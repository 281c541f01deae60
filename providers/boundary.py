"""Translate SDK and HTTP errors into the error tree of providers/errors.py.

Every adapter call runs inside `boundary(provider, call)`: whatever libcloud, requests,
urllib3, the kubernetes client or our parsing of an answer raises comes out as one
ProviderError subclass naming the provider and the call. SDK modules are looked up by class
name and attributes so this module imports neither libcloud nor kubernetes.

What is translated is what the other side caused: SDK and transport exceptions, and the parse
errors our parsers raise on purpose when an answer is not what the API documents (ValueError,
KeyError, IndexError, JSON and UTF-8 decoding). A TypeError, AttributeError or NameError
raised in ganyun's own code is a bug in that code, not a bad answer: it passes through as it
is (the CLI reports it as an internal error, sync as that provider's unexpected failure).
Raised inside an SDK, the same errors mean the SDK choked on what came back: a bad answer.

Error text comes from the endpoint and may echo the request: it is masked (every credential
this process knows, providers/masking.py) before it is shortened, so that no part of a
secret is left at the cut.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from providers import masking
from providers.errors import AuthError, BadResponse, GanyunError, NotFound, ProviderError, Throttled, Unavailable

_MAX_DETAIL = 300
# ganyun's own top-level packages: code in them is ours, everything else installed is an SDK.
_OWN_PACKAGES = frozenset({"providers", "inventory", "security", "playbooks", "console", "lab", "tests"})
# What a bug in Python code raises; only an SDK raising it says something about the answer.
_PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError)


def _short(text: str) -> str:
    return masking.shorten(text, _MAX_DETAIL)


def for_status(provider: str, call: str, status: int, detail: str = "") -> ProviderError:
    """The error for an HTTP status code (only called for non-2xx answers)."""
    what = _short(f"HTTP {status}" + (f": {detail}" if detail else ""))
    if status in (401, 403):
        return AuthError(provider, call, what)
    if status in (404, 410):
        return NotFound(provider, call, what)
    if status == 429:
        return Throttled(provider, call, what)
    if status == 408 or status >= 500:
        return Unavailable(provider, call, what)
    return ProviderError(provider, call, what)


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


# virErrorNumber values (libvirt's virterror.h) that say what a caller can act on.
_LIBVIRT_NOT_FOUND = {42, 43, 49, 50, 62}  # no domain, network, storage pool, storage volume, nwfilter
_LIBVIRT_AUTH = {45, 29}  # auth failed, operation denied
_LIBVIRT_UNREACHABLE = {38, 39}  # system error, RPC (connection lost / cannot connect)


def _libvirt_error(provider: str, call: str, exc: BaseException, text: str) -> GanyunError:
    get_code = getattr(exc, "get_error_code", None)
    code = get_code() if callable(get_code) else None
    if code in _LIBVIRT_NOT_FOUND:
        return NotFound(provider, call, text)
    if code in _LIBVIRT_AUTH:
        return AuthError(provider, call, text)
    if code in _LIBVIRT_UNREACHABLE:
        return Unavailable(provider, call, text)
    return ProviderError(provider, call, f"libvirt: {text}")


def translate(provider: str, call: str, exc: BaseException) -> GanyunError:
    """Map one exception raised at the SDK boundary to our error tree."""
    if isinstance(exc, GanyunError):
        return exc
    names = _class_names(exc)
    text = _short(str(getattr(exc, "value", "") or exc) or type(exc).__name__)

    # kubernetes.client.exceptions.ApiException: .status, .reason
    if "ApiException" in names or "OpenApiException" in names:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            return for_status(provider, call, status, str(getattr(exc, "reason", "") or ""))
        # status 0: urllib3 failed below the client (connection refused, timeout)
        return Unavailable(provider, call, text)

    # libcloud: BaseHTTPError(.code) for non-2xx; ProviderError(.http_code) incl. InvalidCredsError
    if "InvalidCredsError" in names:
        return AuthError(provider, call, "credentials rejected (HTTP 401)")
    if "RateLimitReachedError" in names:
        return Throttled(provider, call, "rate limit reached (HTTP 429)")
    code = getattr(exc, "code", None) if "BaseHTTPError" in names else getattr(exc, "http_code", None)
    if isinstance(code, int) and 100 <= code <= 599:
        return for_status(provider, call, code, text)
    if "MalformedResponseError" in names:
        # Keystone answers other than 200/201/401 arrive as "Malformed response" with the
        # status inside the body ("code: 503 body: ..."): an outage, not garbage.
        status = re.match(r"code: (\d{3})\b", str(getattr(exc, "body", "") or ""))
        if status and not 200 <= int(status.group(1)) < 300:
            return for_status(provider, call, int(status.group(1)), "identity service")
        return BadResponse(provider, call, f"malformed response: {text}")

    # Transport: requests / urllib3 / sockets. Truncated bodies are a bad answer, not an outage.
    if names & {"ChunkedEncodingError", "ContentDecodingError", "IncompleteRead", "ProtocolError"} and (
        "ConnectionError" not in names or "ProtocolError" in names
    ):
        return BadResponse(provider, call, f"truncated response: {text}")
    if names & {"Timeout", "ReadTimeout", "ConnectTimeout", "ReadTimeoutError", "ConnectTimeoutError"}:
        return Unavailable(provider, call, f"timed out: {text}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return Unavailable(provider, call, f"timed out: {text}")
    if names & {"ConnectionError", "MaxRetryError", "NewConnectionError", "SSLError"}:
        return Unavailable(provider, call, f"cannot connect: {text}")
    if isinstance(exc, ConnectionError | ssl.SSLError | socket.gaierror):
        return Unavailable(provider, call, f"cannot connect: {text}")

    # Parsing: a page that is not what the API documents (our parsers' checks, or the SDK's).
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return BadResponse(provider, call, f"not JSON: {text}")
    if isinstance(exc, KeyError):
        return BadResponse(provider, call, f"missing field {text}")
    if isinstance(exc, (ValueError, IndexError, *_PROGRAMMING_ERRORS)):
        return BadResponse(provider, call, f"unexpected response shape: {type(exc).__name__}: {text}")

    if "OpenStackException" in names and "pagination" in text.lower():
        return BadResponse(provider, call, text)
    if "libvirtError" in names:
        return _libvirt_error(provider, call, exc, text)
    if "LibcloudError" in names:
        if "could not find specified endpoint" in text.lower():
            return NotFound(provider, call, "service not in the catalog")
        return ProviderError(provider, call, text)
    if isinstance(exc, OSError):
        return Unavailable(provider, call, text)
    return ProviderError(provider, call, f"{type(exc).__name__}: {text}")


def _origin(exc: BaseException) -> str:
    """The top-level package of the innermost frame that raised `exc`, passing over the
    standard library's (json, http.client): the code whose call went wrong."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package not in sys.stdlib_module_names:
            return package
    return ""


def is_own_bug(exc: BaseException) -> bool:
    """A TypeError, AttributeError or NameError raised by ganyun's own code."""
    return isinstance(exc, _PROGRAMMING_ERRORS) and _origin(exc) in _OWN_PACKAGES


@contextmanager
def boundary(provider: str, call: str) -> Iterator[None]:
    """Run SDK calls; re-raise what the SDK, the transport or the answer caused as a
    ProviderError naming provider and call. Bugs in our own code pass through unchanged."""
    try:
        yield
    except GanyunError:
        raise
    except Exception as exc:
        if is_own_bug(exc):
            raise
        raise translate(provider, call, exc) from exc
