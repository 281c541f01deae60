"""`ganyun console --tls-cert F --tls-key F` serves HTTPS (a real server, a real OpenSSL cert)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

GANYUN = Path(sys.executable).with_name("ganyun")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture()
def tls_dir(tmp_path: Path) -> Path:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "console.key"),
             "-out", str(tmp_path / "console.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(tmp_path / "other.key"))
    _openssl("pkey", "-in", str(tmp_path / "console.key"), "-aes256", "-passout", "pass:secret-pass",
             "-out", str(tmp_path / "encrypted.key"))
    (tmp_path / "garbage.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    (tmp_path / "ganyun.yaml").write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    return tmp_path


def _console(tls_dir: Path, *args: str) -> list[str]:
    # Metrics on a free port: the default one may be taken by another console on this machine.
    return [str(GANYUN), "--config", str(tls_dir / "ganyun.yaml"), "console", "--metrics-port", "0", *args]


def _get(url: str, context: ssl.SSLContext | None) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:
        return resp.status, resp.read()


def test_console_serves_https_with_the_given_certificate(tls_dir):
    proc = subprocess.Popen(
        _console(tls_dir, "--port", "0", "--tls-cert", str(tls_dir / "console.pem"),
                 "--tls-key", str(tls_dir / "console.key")),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "GANYUN_LANG": "en"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Console at https://127.0.0.1:"), first
        url = first.split(" at ", 1)[1].strip()
        trusting = ssl.create_default_context(cafile=str(tls_dir / "console.pem"))
        deadline, health = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = _get(url + "_stcore/health", trusting)
                break
            except (urllib.error.URLError, ConnectionError, ssl.SSLError):
                time.sleep(0.3)
        assert health == (200, b"ok"), f"no HTTPS answer; exit {proc.poll()}"
        status, page = _get(url, trusting)
        assert status == 200 and b"<html" in page.lower()
        # The certificate is what a client checks: without it as CA the handshake fails.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(url + "_stcore/health", ssl.create_default_context())
        # No plaintext HTTP on the same port.
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /_stcore/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(5)
            try:
                answer = sock.recv(100)
            except (TimeoutError, ConnectionResetError):
                answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.parametrize(
    ("cert", "key", "expected"),
    [
        ("console.pem", "missing.key", "cannot read"),
        ("garbage.pem", "console.key", "is not a PEM certificate"),
        ("console.pem", "other.key", "do not match"),
        ("console.pem", "encrypted.key", "encrypted private key"),
        ("console.pem", None, "go together"),
    ],
)
def test_bad_certificate_or_key_files_exit_2_with_one_line(tls_dir, cert, key, expected):
    args = ["--port", "0", "--tls-cert", str(tls_dir / cert)]
    if key is not None:
        args += ["--tls-key", str(tls_dir / key)]
    proc = subprocess.run(_console(tls_dir, *args), capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "GANYUN_LANG": "en"}, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "Console at" not in proc.stdout
