"""One logged-in vCenter session per (endpoint, user, password) in this process.

`Session.call` runs one round trip against the ServiceContent. A session that vCenter has
ended (idle timeout, an administrator's TerminateSession) answers NotAuthenticated: the call
logs in again and is retried exactly once; a second refusal is an AuthError. Everything that
lives inside a session (property filters, collector versions) is tied to `generation`, which
changes with every login (or adoption).

A session outlives the process that logged it in: `session_id` is what vCenter knows it by (a
credential, kept in the vault by the caller), and `adopt` continues it in a later process
without a login, when vCenter still knows it.

Sessions are shared by the adapters of one process, so that a change tracker created by one
sync is still there for the next one in a long-running process (console, API server).
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from providers import mapping
from providers.base import ProviderSpec
from providers.errors import AuthError, ConfigError, GanyunError
from providers.vsphere.errors import vsphere_boundary

T = TypeVar("T")
DEFAULT_PORT = 443


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    ca_cert: str = ""
    verify: bool = True
    timeout_s: float = 30.0

    @classmethod
    def from_spec(cls, spec: ProviderSpec) -> Endpoint:
        options: Mapping[str, Any] = spec.options
        host = str(options.get("host") or "").strip()
        if not host:
            raise ConfigError(f"providers[{spec.name}].options.host: the vCenter host name is required")
        try:
            port = int(options.get("port") or DEFAULT_PORT)
        except (TypeError, ValueError):
            raise ConfigError(f"providers[{spec.name}].options.port: not a port number") from None
        if not spec.key or not spec.secret:
            raise ConfigError(f"providers[{spec.name}].credentials: a vCenter user and password are required")
        return cls(
            host=host,
            port=port,
            user=spec.key,
            password=spec.secret,
            ca_cert=str(options.get("ca_cert") or ""),
            verify=mapping.as_bool(options.get("verify_ssl", True)),
            timeout_s=spec.timeout_s,
        )

    def ssl_context(self) -> ssl.SSLContext:
        if not self.verify:
            # Only ever asked for by a config that says verify_ssl: false.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.ca_cert or None)

    @property
    def key(self) -> tuple[str, int, str, str]:
        # The password's digest, not the password: a changed secret is a new session.
        return (self.host, self.port, self.user, hashlib.sha256(self.password.encode()).hexdigest())


class Session:
    def __init__(self, provider: str, endpoint: Endpoint) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.lock = threading.RLock()
        self.generation = 0
        self._si: Any = None

    def _login(self) -> Any:
        e = self.endpoint
        with vsphere_boundary(self.provider, "login"):
            si = SmartConnect(
                host=e.host,
                port=e.port,
                user=e.user,
                pwd=e.password,
                sslContext=e.ssl_context(),
                httpConnectionTimeout=e.timeout_s,
            )
        self._si = si
        self.generation += 1
        return si

    def content(self) -> Any:
        with self.lock:
            si = self._si if self._si is not None else self._login()
            return si.content

    def stub(self) -> Any:
        with self.lock:
            si = self._si if self._si is not None else self._login()
            return si._stub

    def cookie(self) -> str:
        """The session cookie header value (vmware_soap_session=...), for datastore HTTP."""
        return str(self.stub().cookie or "")

    def call(self, call: str, fn: Callable[[Any], T]) -> T:
        """fn(content) inside the error boundary; NotAuthenticated -> log in again, retry once."""
        with vsphere_boundary(self.provider, call):
            try:
                return fn(self.content())
            except vim.fault.NotAuthenticated:
                self.relogin()
            try:
                return fn(self.content())
            except vim.fault.NotAuthenticated:
                raise AuthError(self.provider, call, "session refused again right after a new login") from None

    def session_id(self) -> str:
        """vCenter's id of the live session ("" before a login): a credential."""
        with self.lock:
            return str(self._si._stub.GetSessionId() or "") if self._si is not None else ""

    def adopt(self, session_id: str) -> bool:
        """Continue a session of this account that an earlier process logged in; True when
        vCenter still knows it (else the next call logs in as usual)."""
        if not session_id:
            return False
        e = self.endpoint
        with self.lock:
            if self._si is not None:
                return False  # this process has its own session already
            try:
                with vsphere_boundary(self.provider, "adopt_session"):
                    si = SmartConnect(
                        host=e.host,
                        port=e.port,
                        sslContext=e.ssl_context(),
                        httpConnectionTimeout=e.timeout_s,
                        sessionId=session_id,
                    )
                    alive = si.content.sessionManager.currentSession is not None
            except (GanyunError, vim.fault.NotAuthenticated):
                return False
            if not alive:
                return False
            self._si = si
            self.generation += 1
            return True

    def relogin(self) -> None:
        with self.lock:
            self._si = None
            self._login()

    def close(self) -> None:
        with self.lock:
            si, self._si = self._si, None
        if si is not None:
            # A session that is already gone needs no logout.
            with contextlib.suppress(Exception):
                Disconnect(si)


_SESSIONS: dict[tuple[str, tuple[str, int, str, str]], Session] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(provider: str, endpoint: Endpoint) -> Session:
    with _SESSIONS_LOCK:
        key = (provider, endpoint.key)
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = Session(provider, endpoint)
        return session


def forget(provider: str) -> None:
    """Log out and drop every session of a provider (tests; a removed provider)."""
    with _SESSIONS_LOCK:
        keys = [k for k in _SESSIONS if k[0] == provider]
        sessions = [_SESSIONS.pop(k) for k in keys]
    for session in sessions:
        session.close()
