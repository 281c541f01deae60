"""`ganyun console`: serve the Streamlit console headless on loopback (by default), HTTPS with a cert."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from console.settings import console_settings
from inventory.config import CONFIG_ENV, config_path
from inventory.store import open_store
from providers.errors import ConfigError

APP = Path(__file__).resolve().parents[1] / "app.py"
# /metrics and /healthz of the console (console/metrics_server.py).
DEFAULT_METRICS_PORT = 9851


def free_port(host: str) -> int:
    return reserve_port(host, 0)


def reserve_port(host: str, port: int) -> int:
    """Bind and release (host, port): the port it got, or ConfigError saying why not."""
    if not host:
        raise ConfigError(t("console.bad_address", host=host, port=port, reason="empty address"))
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            return int(sock.getsockname()[1])
    except (OSError, UnicodeError) as exc:  # gaierror, in use, not an address of this machine
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(t("console.bad_address", host=host, port=port, reason=reason)) from None


def check_tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """Both files resolved, readable, parseable and matching; else ConfigError (one line, exit 2),
    before anything is served rather than as a traceback from the server."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError(t("console.tls_pair"))
    cert, key = cert.expanduser().resolve(), key.expanduser().resolve()
    cert_pem, key_pem = _read(cert), _read(key)
    try:
        x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise ConfigError(t("console.tls_not_cert", path=cert)) from None
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:  # encrypted: the server would stop and ask for a passphrase
        raise ConfigError(t("console.tls_encrypted_key", path=key)) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(t("console.tls_not_key", path=key)) from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(t("console.tls_mismatch", cert=cert, keyfile=key, reason=exc.reason or exc)) from None
    return cert, key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(t("console.tls_unreadable", path=path, reason=exc.strerror or exc)) from None


def streamlit_argv(host: str, port: int, secrets_file: Path | None, tls: tuple[Path, Path] | None = None) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        # No file watcher and no telemetry: a server, not a development session.
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
        # The tables' own CSV download writes raw cells (a tenant's "=..." name stays a formula):
        # exports go through the pages' buttons, which neutralize them.
        "--client.disableDataExport",
        "true",
    ]
    if secrets_file is not None:
        argv += ["--secrets.files", str(secrets_file)]
    if tls is not None:
        argv += ["--server.sslCertFile", str(tls[0]), "--server.sslKeyFile", str(tls[1])]
    return argv


def console(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).", min=0, max=65535)] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    metrics_port: Annotated[
        int,
        typer.Option("--metrics-port", help="Port of /metrics and /healthz (0 picks a free one).", min=0, max=65535),
    ] = DEFAULT_METRICS_PORT,
) -> None:
    cli = state(ctx)
    config = cli.config()  # a bad config fails here with exit 2, not inside the browser
    console_settings(config)
    tls = check_tls(tls_cert, tls_key)
    path = config_path(cli.config_path).resolve()
    # Migrate once before serving, so that sessions never race on the schema.
    open_store(config.database_url).dispose()
    from console.auth import SECRETS_DIR, write_streamlit_secrets

    secrets_file = write_streamlit_secrets(config, Path(config.base_dir) / SECRETS_DIR)
    # Streamlit would fail on a busy port or a foreign address only after it started: ask first.
    port = reserve_port(host, port)
    metrics_port = reserve_port(host, metrics_port)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if tls else "http"
    typer.echo(t("console.serving", url=f"{scheme}://{shown}:{port}/"))
    typer.echo(t("console.metrics_serving", url=f"http://{shown}:{metrics_port}/metrics"))
    sys.stdout.flush()
    env = {**os.environ, CONFIG_ENV: str(path)}
    # Streamlit cannot add routes: /metrics and /healthz are a child that dies with this pid.
    subprocess.Popen(
        [sys.executable, "-m", "console.metrics_server", "--host", host, "--port", str(metrics_port),
         "--parent", str(os.getpid())],
        env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # exec: the console keeps this pid, so whoever started `ganyun console` can stop it.
    os.execve(sys.executable, streamlit_argv(host, port, secrets_file, tls), env)  # noqa: S606 - fixed argv


COMMAND = CommandSpec("console", "console.command_help", console)
