"""`ganyun api` as a user runs it: real processes. `api token create` prints the token once and
logs the action, `api token list` never shows it, `api token revoke` ends it; `api serve` with
--tls-cert/--tls-key serves HTTPS with that certificate; bad input exits 2 with one line."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from console import accounts
from inventory.config import load_config
from inventory.scope import Scope
from inventory.store import open_store
from security import audit

GANYUN = Path(sys.executable).with_name("ganyun")
ENV = {**os.environ, "GANYUN_LANG": "en"}


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "ganyun.yaml").write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    store = open_store(load_config(tmp_path / "ganyun.yaml").database_url)
    accounts.save_local(store, "county-op", "operator", Scope.of(["定南县"]), "Correct-Horse-9-Battery")
    store.dispose()
    return tmp_path


def _ganyun(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GANYUN), "--config", str(site / "ganyun.yaml"), *args], capture_output=True,
                          text=True, timeout=120, env=ENV)  # fmt: skip


def _get(url: str, token: str | None, context: ssl.SSLContext | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_token_create_list_revoke_through_the_cli(site: Path) -> None:
    created = _ganyun(site, "api", "token", "create", "--user", "county-op", "--expires-days", "7")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("gyn_") and len(created.stdout.splitlines()) == 1
    listed = _ganyun(site, "api", "token", "list", "--json")
    assert listed.returncode == 0
    (row,) = json.loads(listed.stdout)
    assert row["user"] == "county-op" and row["state"] == "active" and token not in listed.stdout
    assert token.startswith(f"gyn_{row['id']}_")
    revoked = _ganyun(site, "api", "token", "revoke", row["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(_ganyun(site, "api", "token", "list", "--json").stdout)[0]["state"] == "revoked"
    store = open_store(load_config(site / "ganyun.yaml").database_url)
    try:
        _, entries = audit.search(store, action="api.token")
    finally:
        store.dispose()
    assert [e["action"] for e in entries] == ["api.token.revoke", "api.token.create"]
    assert all(token not in json.dumps(e) for e in entries)


@pytest.mark.parametrize("args", [
    ("api", "token", "create", "--user", "nobody"),
    ("api", "token", "create", "--user", "county-op", "--expires-days", "0"),
    ("api", "token", "create", "--user", "county-op", "--expires-days", "many"),
    ("api", "token", "create"),
    ("api", "token", "revoke", "no-such-id"),
    ("api", "serve", "--port", "70000"),
    ("api", "serve", "--tls-cert", "/nonexistent.pem"),
    ("api", "serve", "--host", "203.0.113.77", "--port", "0"),
])  # fmt: skip
def test_bad_input_exits_2_with_one_line(site: Path, args: tuple[str, ...]) -> None:
    result = _ganyun(site, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def test_api_serve_answers_over_tls_with_the_given_certificate(site: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(site / "api.key"),
             "-out", str(site / "api.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1")  # fmt: skip
    token = _ganyun(site, "api", "token", "create", "--user", "county-op").stdout.strip()
    proc = subprocess.Popen(
        [str(GANYUN), "--config", str(site / "ganyun.yaml"), "api", "serve", "--port", "0",
         "--tls-cert", str(site / "api.pem"), "--tls-key", str(site / "api.key")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=ENV,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("REST API serving at https://127.0.0.1:"), first
        base = first.split(" at ", 1)[1].strip().removesuffix("/api/v1/")
        trusting = ssl.create_default_context(cafile=str(site / "api.pem"))
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            try:
                status = _get(f"{base}/openapi.json", None, trusting)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200
        assert _get(f"{base}/api/v1/nodes", token, trusting) == 200
        assert _get(f"{base}/api/v1/nodes", None, trusting) == 401
        # The certificate is the one given: a client that trusts only the system's roots refuses it.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(f"{base}/openapi.json", None, ssl.create_default_context())
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP to the TLS port
            _get(base.replace("https://", "http://") + "/openapi.json", None)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
