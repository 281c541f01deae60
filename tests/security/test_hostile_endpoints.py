"""Hostile endpoints and certificate files (SECURITY.md, protection 4).

Real sockets on loopback: the lab's good TLS, TLCP (Tongsuo) and RFC 8998 endpoints; the lab's
own server process serving certificates whose subject was made malformed by patching DER bytes
(over TLS with Debian's OpenSSL, over TLCP with Tongsuo); and raw peers that answer garbage,
stall, answer half a record, trickle, or reset the connection. `ganyun certs scan` runs as a
real subprocess over all of them at once. `ganyun certs verify` meets hostile files. The
certificate, TLS and TLCP parsers are fuzzed with hypothesis, from real certificates made by
the openssl command line and real flights recorded from Debian's `openssl s_server` and from
the Tongsuo peers, with a fixed budget that the tests count.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from lab import tls as lab_tls
from providers.errors import GanyunError
from security import certs, tls_wire, tlsscan
from tests.security import opensslchains as oc

GANYUN = str(Path(sys.executable).with_name("ganyun"))
SCAN_TIMEOUT = 1.0  # --timeout for the scan: each probe's deadline

pytestmark = [
    pytest.mark.xdist_group("hostile_endpoints"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI"),
    pytest.mark.skipif(not lab_tls.tongsuo_path(), reason="needs Tongsuo (the tongsuopy wheel)"),
]


# --------------------------------------------------------------------------- hostile material


def der_of(pem_path: Path) -> bytes:
    return x509.load_pem_x509_certificate(pem_path.read_bytes()).public_bytes(Encoding.DER)


def pem_of(der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def malformed_name(der: bytes, cn: str) -> bytes:
    """Retag the first name's CN value `cn` as a SEQUENCE: OpenSSL and Tongsuo still load and
    serve the certificate (its key still matches); cryptography fails when the name is read.
    For a certificate issued by another CA the first hit is the subject, for a root the issuer."""
    at = der.index(cn.encode())
    assert der[at - 2] in (0x0C, 0x13) and der[at - 1] == len(cn), "CN is not a short string"
    bad = der[: at - 2] + b"\x30" + der[at - 1 :]
    cert = x509.load_der_x509_certificate(bad)
    with pytest.raises(ValueError):
        _ = (cert.issuer, cert.subject)  # what crashed the scan before
    return bad


@pytest.fixture(scope="module")
def good_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("goodlab")
    section = lab_tls.start(root)
    yield {"root": root, "section": section, "by_expect": {e["expect"]: e for e in section["endpoints"]}}
    lab_tls.stop(root)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real SM2 (GM dual pair) and RSA certificates from the openssl command line."""
    d = tmp_path_factory.mktemp("pki")
    sm2_root = oc.make_root(d, "sm2-root", oc.SM2)
    sign = oc.issue(d, "tlcp-sign", oc.SM2, sm2_root, ext=oc.SIGN_EXT, serial=11, cn="hostile-tlcp.lab.gz.gov.cn")
    enc = oc.issue(d, "tlcp-enc", oc.SM2, sm2_root, ext=oc.ENC_EXT, serial=12, cn="hostile-tlcp.lab.gz.gov.cn")
    rsa_root = oc.make_root(d, "rsa-root", oc.RSA)
    leaf = oc.issue(d, "tls-leaf", oc.RSA, rsa_root, serial=13, cn="hostile-tls.lab.gz.gov.cn")
    return {"sm2_root": sm2_root[0], "sign": sign[0], "sign_key": sign[1], "enc": enc[0], "enc_key": enc[1],
            "rsa_root": rsa_root[0], "rsa_root_key": rsa_root[1], "leaf": leaf[0], "leaf_key": leaf[1]}


@pytest.fixture(scope="module")
def malformed_servers(pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """The lab's server process (Tongsuo for TLCP, Python ssl for TLS) serving certificates
    with a malformed subject."""
    d = tmp_path_factory.mktemp("malformed")
    bad_sign = d / "bad-sign.pem"
    bad_sign.write_bytes(pem_of(malformed_name(der_of(pki["sign"]), "hostile-tlcp.lab.gz.gov.cn")))
    bad_chain = d / "bad-leaf-chain.pem"
    bad_leaf = pem_of(malformed_name(der_of(pki["leaf"]), "hostile-tls.lab.gz.gov.cn"))
    bad_chain.write_bytes(bad_leaf + pki["rsa_root"].read_bytes())
    specs = [
        {"name": "tlcp-bad-subject", "host": "127.0.0.1", "port": 0, "server": "tlcp",
         "sign_cert": str(bad_sign), "sign_key": str(pki["sign_key"]),
         "enc_cert": str(pki["enc"]), "enc_key": str(pki["enc_key"])},
        {"name": "tls-bad-subject", "host": "127.0.0.1", "port": 0, "server": "python", "legacy": False,
         "cert": str(bad_chain), "keyfile": str(pki["leaf_key"])},
    ]  # fmt: skip
    ports = lab_tls.start_server(d / "server", specs)
    yield ports
    lab_tls.stop_server(d / "server")


class HostilePeer:
    """One listening socket on loopback; every connection is handled by `behave(conn, stop)`."""

    def __init__(self, behave: Callable[[socket.socket, threading.Event], None]) -> None:
        self.behave = behave
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.behave(conn, self.stop)
        except OSError:
            pass  # the scanner hung up first
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=5)


def _hello_of(conn: socket.socket) -> None:
    conn.settimeout(5)
    conn.recv(4096)


def _hold(conn: socket.socket, stop: threading.Event) -> None:
    """Keep the connection open, answering nothing, until the scanner gives up."""
    conn.settimeout(0.2)
    while not stop.is_set():
        try:
            if not conn.recv(4096):
                return
        except TimeoutError:
            continue


def garbage(conn: socket.socket, stop: threading.Event) -> None:
    _hello_of(conn)
    conn.sendall(random.Random(7).randbytes(700))


def stall(conn: socket.socket, stop: threading.Event) -> None:
    _hold(conn, stop)


def half_record_then_stall(conn: socket.socket, stop: threading.Event) -> None:
    _hello_of(conn)
    conn.sendall(b"\x16\x03\x03\x01\x00" + b"\x02" + b"\x00" * 19)  # promises 256 bytes, sends 20
    _hold(conn, stop)


def half_record_then_close(conn: socket.socket, stop: threading.Event) -> None:
    _hello_of(conn)
    conn.sendall(b"\x16\x01\x01\x01\x00" + b"\x02" + b"\x00" * 19)


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A valid record header, then one byte every 0.2 s: only a deadline for the whole answer
    (not one per read) stops this."""
    _hello_of(conn)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    while not stop.wait(0.2):
        conn.sendall(b"\x0b")


def reset(conn: socket.socket, stop: threading.Event) -> None:
    _hello_of(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST


HOSTILE: dict[str, Callable[[socket.socket, threading.Event], None]] = {
    "garbage": garbage,
    "stall": stall,
    "half-record-stall": half_record_then_stall,
    "half-record-close": half_record_then_close,
    "trickle": trickle,
    "reset": reset,
}

# What each hostile endpoint's recorded error must say.
EXPECTED_ERRORS = {
    "tlcp-bad-subject": r"TLCP: certificate 1 of \d+: malformed certificate: subject",
    "tls-bad-subject": r"TLS: certificate 1 of 2: malformed certificate: subject",
    "garbage": r"TLCP: not a TLS record",
    "stall": r"no TLS, TLCP or RFC 8998 handshake succeeded \(TLS: TLS handshake: no answer within 1 s; "
             r"TLCP: no complete answer within",
    "half-record-stall": r"TLCP: no complete answer within",
    "half-record-close": r"TLCP: connection closed by peer after 20 of 256 bytes of a record",
    "trickle": r"TLCP: no complete answer within",
    "reset": r"TLCP: connection reset by peer",
}  # fmt: skip


@pytest.fixture(scope="module")
def hostile_peers() -> Iterator[dict[str, int]]:
    peers = {name: HostilePeer(behave) for name, behave in HOSTILE.items()}
    yield {name: peer.port for name, peer in peers.items()}
    for peer in peers.values():
        peer.close()


def _config(tmp_path: Path, good_lab: dict[str, Any]) -> Path:
    config = tmp_path / "ganyun.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path / 'g.db'}", "tls": good_lab["section"]},
                                     allow_unicode=True))  # fmt: skip
    return config


def _ganyun(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(GANYUN).parent}:{os.environ['PATH']}"}
    return subprocess.run([GANYUN, *args], capture_output=True, text=True, timeout=timeout, env=env)


# --------------------------------------------------------------------------- the scan


def test_scan_of_hostile_and_good_endpoints_finishes_and_reports_each(
    good_lab: dict[str, Any], malformed_servers: dict[str, int], hostile_peers: dict[str, int], tmp_path: Path
) -> None:
    good = {name: good_lab["by_expect"][name]["port"] for name in ("ok", "tlcp", "rfc8998", "expired")}
    hostile = {**malformed_servers, **hostile_peers}
    targets = {f"127.0.0.1:{port}": name for name, port in {**good, **hostile}.items()}
    config = _config(tmp_path, good_lab)
    started = time.monotonic()
    proc = _ganyun("--config", str(config), "certs", "scan", *targets, "--json", "--timeout", str(SCAN_TIMEOUT))
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # Stalled peers cost each probe its deadline, in parallel: far below a hang.
    assert elapsed < 60, f"the scan took {elapsed:.0f} s"
    results = {targets[r["endpoint"]]: r for r in json.loads(proc.stdout)}
    assert set(results) == set(targets.values())

    assert results["ok"]["protocols"] == ["TLS"] and not results["ok"]["failed"]
    assert "TLSv1.3" in results["ok"]["tls"]["versions"] and len(results["ok"]["tls"]["chain"]) == 2
    assert results["expired"]["protocols"] == ["TLS"] and not results["expired"]["failed"]
    tlcp = results["tlcp"]
    assert tlcp["protocols"] == ["TLCP"] and not tlcp["failed"]
    assert tlcp["tlcp"]["sign_cert"]["role"] == "sign" and tlcp["tlcp"]["enc_cert"]["key_type"] == "SM2"
    assert results["rfc8998"]["protocols"] == ["RFC8998"] and not results["rfc8998"]["failed"]

    for name, pattern in EXPECTED_ERRORS.items():
        res = results[name]
        assert res["reachable"] and res["failed"], f"{name}: {res}"
        assert re.search(pattern, res["error"]), f"{name}: {res['error']}"
        assert "\n" not in res["error"]

    # What was saved: every endpoint with its outcome, only well-formed certificates.
    with sqlite3.connect(tmp_path / "g.db") as db:
        saved = {f"{h}:{p}": (json.loads(r), e) for h, p, r, e in db.execute("SELECT host, port, result, error FROM endpoints")}
        subjects = [s for (s,) in db.execute("SELECT subject FROM certificates")]
    assert set(saved) == set(targets)
    for target, name in targets.items():
        result, error = saved[target]
        assert result["failed"] == (name in hostile) and (bool(error) == (name in hostile)), name
    assert any("-ok-" in s for s in subjects) and any("-tlcp-" in s for s in subjects), subjects
    assert not any("hostile" in s for s in subjects)


def test_scan_table_counts_failed_endpoints(
    good_lab: dict[str, Any], malformed_servers: dict[str, int], hostile_peers: dict[str, int], tmp_path: Path
) -> None:
    ports = [good_lab["by_expect"]["ok"]["port"], *malformed_servers.values(), hostile_peers["garbage"],
             hostile_peers["reset"]]  # fmt: skip
    proc = _ganyun("--lang", "en", "--config", str(_config(tmp_path, good_lab)), "certs", "scan",
                   *[f"127.0.0.1:{p}" for p in ports], "--timeout", str(SCAN_TIMEOUT))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "scanned 5 endpoints: 0 TLCP, 0 RFC 8998, 4 failed" in " ".join(proc.stdout.split())


def test_one_scan_guard_turns_a_probe_bug_into_that_endpoints_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth behind the parsers: whatever escapes a probe fails that endpoint only."""
    real = tlsscan.scan_one

    def flaky(target: tlsscan.Target, timeout: float) -> tlsscan.ScanResult:
        if target.port == 2:
            raise RuntimeError("probe bug")
        return real(target, timeout)

    monkeypatch.setattr(tlsscan, "scan_one", flaky)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    out = tlsscan.scan([tlsscan.Target("127.0.0.1", 2), tlsscan.Target("127.0.0.1", closed_port)], timeout=1)
    assert out[0].failed and out[0].error == "probe error: RuntimeError: probe bug"
    assert out[1].failed and not out[1].reachable


# --------------------------------------------------------------------------- certs verify


def test_certs_verify_on_hostile_files_exits_2_with_one_line(
    pki: dict[str, Path], tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf_der = der_of(pki["leaf"])
    bad_subject = malformed_name(leaf_der, "hostile-tls.lab.gz.gov.cn")
    files = {
        "garbage.bin": random.Random(3).randbytes(900),
        "der-like.der": b"\x30\x82\x01\x00" + random.Random(4).randbytes(256),
        "truncated.der": leaf_der[: len(leaf_der) // 2],
        "truncated.pem": pem_of(leaf_der)[:400],
        "bad-base64.pem": b"-----BEGIN CERTIFICATE-----\nMIIB!!not*base64@@\n-----END CERTIFICATE-----\n",
        "bad-pkcs7.p7b": b"-----BEGIN PKCS7-----\nAAAAAAAA\n-----END PKCS7-----\n",
        "bad-subject.der": bad_subject,
        "bad-subject.pem": pem_of(bad_subject),
        "bad-subject-in-bundle.pem": pki["rsa_root"].read_bytes() + pem_of(bad_subject),
        "empty.pem": b"",
        "blank.pem": b"\n\n  \n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a-directory").mkdir()
    monkeypatch.chdir(tmp_path)  # no ganyun.yaml here: verify runs without a configuration
    monkeypatch.delenv("GANYUN_CONFIG", raising=False)
    for name in [*files, "a-directory", "missing.pem"]:
        code, out, err = cli("certs", "verify", str(tmp_path / name), "--ca", str(pki["rsa_root"]))
        lines = err.strip().splitlines()
        assert code == 2, f"{name}: exit {code}: {err}{out}"
        assert len(lines) == 1 and lines[0].startswith("ganyun: ") and name in lines[0], f"{name}: {err!r}"
    assert "malformed certificate: subject" in cli("certs", "verify", str(tmp_path / "bad-subject.pem"))[2]
    # The same certificate, unbroken, verifies: the files above fail for what was done to them.
    assert cli("certs", "verify", str(pki["leaf"]), "--ca", str(pki["rsa_root"]))[0] == 0
    # And through the real command line: one line on stderr, no traceback.
    proc = _ganyun("certs", "verify", str(tmp_path / "bad-subject-in-bundle.pem"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "(certificate 2 of 2): malformed certificate: subject" in proc.stderr


def test_hostile_anchor_file_is_bad_input_too(pki: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad-root.pem"
    bad.write_bytes(pem_of(malformed_name(der_of(pki["rsa_root"]), "rsa-root")))
    proc = _ganyun("certs", "verify", str(pki["leaf"]), "--ca", str(bad))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "bad-root.pem: malformed certificate: issuer" in proc.stderr


# --------------------------------------------------------------------------- fuzzing

# Examples per fuzz target: fixed, and counted below, so that a silently skipped run fails.
CERT_BUDGET = 1000
FLIGHT_BUDGET = 1000


def _read_flight(source: tls_wire.BytesSource, stop: set[int]) -> Any:
    try:
        return tls_wire.read_flight(source, stop)
    except GanyunError:
        return None


def _mutate(data: st.DataObject, seed: bytes) -> bytes:
    """Byte flips, deletions, insertions, truncation, and length-field rewrites (boundary values
    in 1-3 big-endian bytes, where DER and TLS keep their lengths)."""
    out = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        op = data.draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate", "length"]))
        at = data.draw(st.integers(0, max(0, len(out) - 1)), label="at")
        if op == "flip" and out:
            out[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and out:
            out[at] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del out[at : at + data.draw(st.integers(1, 16))]
        elif op == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif op == "truncate":
            del out[at:]
        elif op == "length":
            width = data.draw(st.integers(1, 3))
            value = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x8181, 0xFFFF, 0xFFFFFF, len(out), len(out) + 1]))
            out[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes(out)


@pytest.fixture(scope="module")
def cert_seeds(pki: dict[str, Path], good_lab: dict[str, Any]) -> list[bytes]:
    tls_dir = good_lab["root"] / "tls"
    pems = [pki["sm2_root"], pki["sign"], pki["enc"], pki["rsa_root"], pki["leaf"], tls_dir / "root-ecdsa.pem",
            *sorted(tls_dir.glob("ep08-tlcp-*-sign.pem"))]  # fmt: skip
    return [*(der_of(p) for p in pems), malformed_name(der_of(pki["leaf"]), "hostile-tls.lab.gz.gov.cn")]


def test_fuzz_certificate_parsing_raises_only_ganyun_errors(cert_seeds: list[bytes], pki: dict[str, Path]) -> None:
    anchors = certs.load_file(pki["sm2_root"]) + certs.load_file(pki["rsa_root"])
    root_pem = pki["rsa_root"].read_bytes()
    verifier = certs.ChainVerifier(anchors)
    counts = {"runs": 0, "loaded": 0, "refused": 0}

    @settings(max_examples=CERT_BUDGET, deadline=None, database=None, phases=[Phase.generate])
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        raw = _mutate(data, data.draw(st.sampled_from(cert_seeds), label="seed"))
        form = data.draw(st.sampled_from(["der", "pem", "bundle"]), label="form")
        blob = raw if form == "der" else pem_of(raw) + (root_pem if form == "bundle" else b"")
        counts["runs"] += 1  # after the draws: an example hypothesis abandons mid-draw does not count
        try:
            found = certs.load_certificates(blob, source="fuzz")
            infos = [certs.describe(c) for c in found]
            chain = certs.leaf_first(found)
            result = verifier.verify(chain[0], chain[1:])
        except GanyunError:
            counts["refused"] += 1
            return
        counts["loaded"] += 1
        assert len(infos) == len(found) and isinstance(result.valid, bool)

    one()
    assert counts["runs"] == CERT_BUDGET
    # Both sides were reached: mutants that load and describe, and mutants that are refused.
    assert counts["loaded"] > 0 and counts["refused"] > 0, counts


def _record(port: int, hello: bytes, stop: set[int]) -> bytes:
    """The server's bytes up to the first message in `stop` (or until it goes quiet)."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(hello)
        sock.settimeout(1.0)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            flight = _read_flight(tls_wire.BytesSource(data), stop)
            if flight is not None and stop & set(flight.messages):
                break
    return data


def _tls12_hello() -> bytes:
    exts = (tlsscan._ext(13, struct.pack(">HHHH", 6, 0x0401, 0x0804, 0x0201))
            + tlsscan._ext(10, struct.pack(">HHH", 4, 0x0017, 0x001D)) + tlsscan._ext(11, b"\x01\x00"))  # fmt: skip
    return tlsscan._hello(0x0303, 0x0301, [0xC02F, 0xC02B, 0x009C], exts, b"")


def _tls13_hello() -> bytes:
    exts = (tlsscan._ext(13, struct.pack(">HHH", 4, 0x0804, 0x0403)) + tlsscan._ext(10, struct.pack(">HH", 2, 0x001D))
            + tlsscan._ext(43, b"\x02\x03\x04") + tlsscan._ext(51, struct.pack(">HHH", 36, 0x001D, 32) + b"\x09" * 32))  # fmt: skip
    return tlsscan._hello(0x0303, 0x0301, [0x1301, 0x1302], exts, os.urandom(32))


@pytest.fixture(scope="module")
def flights(pki: dict[str, Path], good_lab: dict[str, Any]) -> dict[str, bytes]:
    """Real first flights: Debian `openssl s_server` (TLS 1.2 with its certificate in clear, and a
    TLS 1.3 ServerHello), and the lab's Tongsuo TLCP and RFC 8998 peers."""
    with socket.socket() as probe:  # s_server buffers its "ACCEPT" line: pick the port here
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki["leaf"]), "-key", str(pki["leaf_key"]),
         "-cert_chain", str(pki["rsa_root"]), "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "openssl s_server did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        out = {"tls12": _record(port, _tls12_hello(), {14}), "tls13": _record(port, _tls13_hello(), {2})}
    finally:
        server.kill()
        server.wait()
    by_expect = good_lab["by_expect"]
    out["tlcp"] = _record(by_expect["tlcp"]["port"], tlsscan.tlcp_client_hello(), {14})
    out["rfc8998"] = _record(by_expect["rfc8998"]["port"], tlsscan.rfc8998_client_hello("127.0.0.1"), {2})
    return out


def test_recorded_flights_parse_as_the_probes_read_them(flights: dict[str, bytes]) -> None:
    """The seeds are what they claim: the fuzzing below starts from well-formed real answers."""
    tls12 = tls_wire.read_flight(tls_wire.BytesSource(flights["tls12"]), {14})
    assert {2, 11, 14} <= set(tls12.messages)
    assert len(tls_wire.parse_certificate_list(tls12.messages[11])) == 2
    tls13 = tls_wire.read_flight(tls_wire.BytesSource(flights["tls13"]), {2})
    assert tls_wire.server_hello_version(tls_wire.parse_server_hello(tls13.messages[2])) == 0x0304
    tlcp = tlsscan.tlcp_answer(tls_wire.read_flight(tls_wire.BytesSource(flights["tlcp"]), {11, 14}))
    assert tlcp["supported"] and tlcp["sign_cert"]["key_type"] == "SM2" and tlcp["enc_cert"]["role"] == "enc"
    rfc = tlsscan.rfc8998_answer(tls_wire.read_flight(tls_wire.BytesSource(flights["rfc8998"]), {2}))
    assert rfc["supported"] and rfc["cipher_suite"] == "0x00C6"


def _parse_everything(data: bytes) -> None:
    """Every parser a probe applies to a server's flight, whichever protocol it is."""
    flight = tls_wire.read_flight(tls_wire.BytesSource(data), {14})
    if 2 in flight.messages:
        tls_wire.server_hello_version(tls_wire.parse_server_hello(flight.messages[2]))
    if 11 in flight.messages:
        for i, blob in enumerate(tls_wire.parse_certificate_list(flight.messages[11]), 1):
            certs.describe(certs.load_der_certificate(blob, f"certificate {i}"))
    tlsscan.tlcp_answer(flight)
    tlsscan.rfc8998_answer(flight)


@pytest.mark.parametrize("protocols", [("tls12", "tls13"), ("tlcp", "rfc8998")], ids=["tls", "tlcp"])
def test_fuzz_handshake_parsing_raises_only_ganyun_errors(flights: dict[str, bytes], protocols: tuple[str, str]) -> None:
    seeds = [flights[p] for p in protocols]
    counts = {"runs": 0, "parsed": 0, "refused": 0}

    @settings(max_examples=FLIGHT_BUDGET, deadline=None, database=None, phases=[Phase.generate])
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        raw = _mutate(data, data.draw(st.sampled_from(seeds), label="seed"))
        counts["runs"] += 1
        try:
            _parse_everything(raw)
        except GanyunError:
            counts["refused"] += 1
            return
        counts["parsed"] += 1

    one()
    assert counts["runs"] == FLIGHT_BUDGET
    assert counts["parsed"] > 0 and counts["refused"] > 0, counts
