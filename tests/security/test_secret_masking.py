"""No secret comes back out (SECURITY.md, protection 5).

A real HTTP server plays a Keystone that answers 400 and echoes the request: the raw body, the
body inside a JSON error (the password JSON-escaped twice), as HTML, URL-encoded, as an HTTP
Basic header. `ganyun sync` runs as a real subprocess, once collecting in worker processes and
once on threads; then its JSON and table output, the `sync_runs` and `provider_status` rows
(read with SQL), the log file and the console's overview page (Streamlit AppTest) are searched
for the passwords in every form.

Each password holds a unique alphanumeric core that every text encoding (JSON, URL, HTML,
repr) leaves intact: finding the core anywhere means some form of the password leaked.
"""

from __future__ import annotations

import base64
import gc
import html
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from console.cli import one_line
from inventory.config import load_config
from providers import masking
from providers.boundary import for_status, translate
from providers.errors import GanyunError, ProviderError

GANYUN = str(Path(sys.executable).with_name("ganyun"))
PAGES = Path(__file__).resolve().parents[2] / "console" / "app_pages"
SPECIALS = ' "q"\\/+&=<密>%\'#'
MODES = ("json", "text", "html", "form", "basic", "lead")


def password(mode: str) -> str:
    return f"Zq7{mode}K2vR9{SPECIALS}"


def core(mode: str) -> str:
    return f"Zq7{mode}K2vR9"


def basic(mode: str) -> str:
    return base64.b64encode(f"admin-{mode}:{password(mode)}".encode()).decode()


# --------------------------------------------------------------------------- the mask itself


def test_every_form_of_a_secret_is_masked() -> None:
    mask = masking.SecretMask()
    secret = password("unit")
    mask.remember_credential("admin-unit", secret)
    forms = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json-in-json": json.dumps(json.dumps(secret)[1:-1])[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url-lower-hex": re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(secret, safe="")),
        "form": urllib.parse.quote_plus(secret),
        "url-of-json": urllib.parse.quote(json.dumps(secret)[1:-1], safe=""),
        "html": html.escape(secret),
        "html-of-json": html.escape(json.dumps(secret)[1:-1]),
        "repr": repr(secret)[1:-1],
        "repr-bytes": repr(secret.encode())[2:-1],
        "utf8-read-as-latin1": secret.encode().decode("latin-1"),
        "gb18030-read-as-latin1": secret.encode("gb18030").decode("latin-1"),
        "basic": base64.b64encode(f"admin-unit:{secret}".encode()).decode(),
    }
    for name, form in forms.items():
        masked = mask.mask(f"before {form} after")
        assert masked == "before *** after", f"{name}: {masked}"
    # The key identifies, it does not authenticate: it stays readable.
    assert mask.mask("user admin-unit rejected") == "user admin-unit rejected"


def test_short_values_are_not_masked_and_unknown_text_is_untouched() -> None:
    mask = masking.SecretMask()
    mask.remember("abc", "", None)
    assert mask.mask("abc abc HTTP 400") == "abc abc HTTP 400"


def test_tokens_are_asked_for_when_masking_and_forgotten_with_their_adapter() -> None:
    mask = masking.SecretMask()

    class Adapter:
        token = ""

        def tokens(self) -> list[str]:
            return [self.token]

    adapter = Adapter()
    mask.watch(adapter.tokens)
    assert mask.mask("X-Auth-Token: gAAAAtok123456") == "X-Auth-Token: gAAAAtok123456"
    adapter.token = "gAAAAtok123456"  # authenticated after the watch began
    assert mask.mask("X-Auth-Token: gAAAAtok123456") == "X-Auth-Token: ***"
    del adapter
    gc.collect()
    mask.mask("anything")
    assert not mask._sources


def test_boundary_masks_before_it_shortens() -> None:
    """A secret cut in half by the 300-character limit must not leave its first half behind."""
    secret = "Sx9" + "k" * 40 + "END"
    masking.SECRETS.remember(secret)
    body = "x" * 280 + secret + " tail"
    error = for_status("p", "list_nodes", 400, body)
    assert "Sx9" not in str(error) and "***" in str(error) and str(error).startswith("p: list_nodes: HTTP 400: ")


def test_errors_are_masked_when_made_and_when_printed() -> None:
    secret = "Vv8-late-known-secret"
    early = GanyunError(f"said {secret}")  # made before the secret was known
    masking.SECRETS.remember(secret)
    assert one_line(early) == "said ***"
    assert str(ProviderError("p", "call", f"echo {secret}\nline2")) == "p: call: echo ***\nline2"
    assert one_line(ProviderError("p", "call", "a\nb")) == "p: call: a | b"
    translated = translate("p", "list_nodes", ValueError(f"bad {json.dumps(secret)}"))
    assert secret not in str(translated) and "***" in str(translated)


def test_log_records_are_masked_with_their_tracebacks(tmp_path: Path) -> None:
    secret = "Lg5-logged-secret"
    masking.SECRETS.remember(secret)
    masking.install_log_masking()
    log = logging.getLogger("ganyun.test.masking")
    handler = logging.FileHandler(tmp_path / "t.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    try:
        log.warning("answer %s", {"password": secret})
        try:
            raise RuntimeError(f"endpoint said {secret}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = (tmp_path / "t.log").read_text()
    assert secret not in text and text.count("***") == 2 and "RuntimeError: endpoint said ***" in text


# --------------------------------------------------------------------------- a real echoing Keystone


class EchoingKeystone(BaseHTTPRequestHandler):
    """POST /<mode>/identity/v3/auth/tokens -> 400 echoing what was sent, the way `mode` says."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        mode = self.path.strip("/").split("/")[0]
        user = json.loads(raw)["auth"]["identity"]["password"]["user"]
        kind, body = "application/json", ""
        if mode == "json":
            body = json.dumps({"error": {"code": 400, "title": "Bad Request", "message": f"Invalid input: {raw}"}})
        elif mode == "text":
            kind, body = "text/plain", f"cannot parse {raw}"
        elif mode == "html":
            field = html.escape(json.dumps({"user": user}))  # the offending field, as sent
            kind, body = "text/html", f"<html><body><h1>400</h1><pre>{field}</pre></body></html>"
        elif mode == "form":
            form = urllib.parse.urlencode({"username": user["name"], "password": user["password"]})
            kind, body = "text/plain", f"rejected form {form}"
        elif mode == "basic":
            token = base64.b64encode(f"{user['name']}:{user['password']}".encode()).decode()
            body = json.dumps({"error": {"code": 400, "message": f"Authorization: Basic {token} not accepted"}})
        elif mode == "lead":
            kind, body = "text/plain", f"password {user['password']} is wrong for {user['name']}"
        data = body.encode()
        self.send_response(400)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def keystone() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingKeystone)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, url: str, processes: int) -> Path:
    config = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "centers": [{"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"}],
        "sync": {"processes": processes},
        "providers": [
            {
                "name": f"echo-{mode}",
                "driver": "openstack",
                "center": "gz-prod",
                "pool": "legacy",
                "credentials": f"env:ECHO_{mode.upper()}",
                "timeout_s": 10,
                "options": {
                    "ex_force_auth_url": f"{url}/{mode}/identity",
                    "ex_force_auth_version": "3.x_password",
                    "ex_tenant_name": "demo",
                    "ex_domain_name": "Default",
                },
            }
            for mode in MODES
        ],
    }
    path = tmp_path / "ganyun.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _sync(config: Path, log_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_LOG_FILE": str(log_file), "PATH": f"{Path(GANYUN).parent}:{os.environ['PATH']}",
           "COLUMNS": "500"}  # a table wide enough that no message is wrapped or cut  # fmt: skip
    for mode in MODES:
        env[f"ECHO_{mode.upper()}_KEY"] = f"admin-{mode}"
        env[f"ECHO_{mode.upper()}_SECRET"] = password(mode)
    return subprocess.run([GANYUN, "--lang", "en", "--config", str(config), "sync", *args],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip


def _leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {mode}" for mode in MODES if core(mode) in text or basic(mode) in text]


@pytest.fixture(scope="module")
def synced(keystone: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two syncs against the echoing Keystone: in worker processes (--json), then on threads."""
    root = tmp_path_factory.mktemp("echo")
    log_file = root / "logs" / "ganyun.log"
    in_processes = _sync(_config(root, keystone, processes=2), log_file, "--json")
    on_threads = _sync(_config(root, keystone, processes=0), log_file)
    return {"root": root, "log": log_file, "json": in_processes, "table": on_threads}


def test_sync_output_names_the_failure_without_the_password(synced: dict[str, Any]) -> None:
    proc = synced["json"]
    assert proc.returncode == 1, proc.stderr  # every provider failed: the answer is "no"
    report = json.loads(proc.stdout)
    errors = {p["provider"]: p["error"] for p in report["providers"]}
    assert set(errors) == {f"echo-{m}" for m in MODES}
    for mode in MODES:
        error = errors[f"echo-{mode}"]
        # The echo reached the message (so masking had something to do) and was masked.
        assert error.startswith(f"echo-{mode}: list_nodes: HTTP 400") and "***" in error, error
    assert "admin-lead" in errors["echo-lead"]  # what is not a secret stays readable
    table = synced["table"]
    assert table.returncode == 1 and "echo-json" in table.stdout and "***" in table.stdout
    leaks = _leaks("sync --json", proc.stdout + proc.stderr) + _leaks("sync table", table.stdout + table.stderr)
    assert not leaks, leaks


def test_database_rows_hold_no_password(synced: dict[str, Any]) -> None:
    with sqlite3.connect(synced["root"] / "g.db") as db:
        runs = [s for (s,) in db.execute("SELECT summary FROM sync_runs")]
        statuses = {n: e for n, e in db.execute("SELECT name, error FROM provider_status")}
    assert len(runs) == 2 and all("***" in s for s in runs)
    assert set(statuses) == {f"echo-{m}" for m in MODES} and all("***" in e for e in statuses.values())
    # The file itself too (the WAL included): nothing unmasked was ever written.
    raw = b"".join(p.read_bytes() for p in synced["root"].glob("g.db*")).decode("utf-8", "replace")
    leaks = _leaks("sync_runs", "\n".join(runs)) + _leaks("provider_status", "\n".join(statuses.values()))
    assert not leaks + _leaks("database file", raw), leaks


def test_log_file_holds_no_password(synced: dict[str, Any]) -> None:
    text = synced["log"].read_text(encoding="utf-8")
    assert text.count("sync echo-") >= 2 * len(MODES) and "***" in text
    assert oct(synced["log"].stat().st_mode & 0o777) == "0o600"
    assert not _leaks("log file", text)


def test_console_overview_shows_the_masked_error(synced: dict[str, Any]) -> None:
    at = AppTest.from_file(str(PAGES / "overview.py"), default_timeout=60)
    at.session_state["ganyun_config"] = load_config(synced["root"] / "ganyun.yaml")
    at.session_state["user"] = {"name": "auditor", "role": "auditor", "display_name": "auditor", "source": "local"}
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception
    status = next(d.value for d in at.dataframe if "Error" in d.value.columns)
    shown = status.to_csv() + "\n".join(str(e.value) for e in [*at.error, *at.warning, *at.markdown, *at.caption])
    assert "echo-lead" in shown and "password *** is wrong" in shown
    assert not _leaks("console", shown)
