"""pyVmomi faults and transport errors -> the error tree, naming the provider and the call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPException
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

from pyVmomi import vim, vmodl

from providers.boundary import for_status
from providers.boundary import translate as translate_transport
from providers.errors import AuthError, BadResponse, GanyunError, NotFound, ProviderError, Unavailable

_AUTH = (vim.fault.InvalidLogin, vim.fault.NotAuthenticated, vim.fault.NoPermission, vim.fault.NoPermissionOnAD)
_MISSING = (vmodl.fault.ManagedObjectNotFound, vim.fault.NotFound, vim.fault.FileNotFound, vmodl.fault.MethodNotFound)
_DOWN = (vmodl.fault.HostCommunication, vmodl.fault.RequestCanceled)


def fault_text(exc: BaseException) -> str:
    """A fault's own message, else its type: never the request (which may carry a password)."""
    msg = getattr(exc, "msg", "") or ""
    name = type(exc).__name__
    text = f"{name}: {msg}" if msg and msg != name else name
    return " ".join(str(text).split())[:300]


def translate(provider: str, call: str, exc: BaseException) -> GanyunError:
    if isinstance(exc, GanyunError):
        return exc
    if isinstance(exc, vim.fault.InvalidLogin):
        return AuthError(provider, call, "login rejected (user name or password)")
    if isinstance(exc, _AUTH):
        return AuthError(provider, call, fault_text(exc))
    if isinstance(exc, _MISSING):
        return NotFound(provider, call, fault_text(exc))
    if isinstance(exc, _DOWN):
        return Unavailable(provider, call, fault_text(exc))
    if isinstance(exc, vmodl.MethodFault):
        return ProviderError(provider, call, fault_text(exc))
    if isinstance(exc, ExpatError | ParseError):
        return BadResponse(provider, call, f"not a SOAP answer: {exc}")
    if isinstance(exc, HTTPException):
        status = re.match(r"(\d{3})\b", str(exc))
        if status:
            return for_status(provider, call, int(status.group(1)), str(exc)[4:])
        return BadResponse(provider, call, f"broken HTTP answer: {type(exc).__name__}")
    return translate_transport(provider, call, exc)


@contextmanager
def vsphere_boundary(provider: str, call: str) -> Iterator[None]:
    """Translate what vCenter or the network did; ganyun's own bugs (pyVmomi raises TypeError
    for a call we built wrong) propagate as they are instead of posing as a bad answer."""
    try:
        yield
    except (GanyunError, TypeError, AttributeError, NameError):
        raise
    except Exception as exc:
        raise translate(provider, call, exc) from exc
