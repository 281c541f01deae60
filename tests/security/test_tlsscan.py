"""Scanning the lab's real endpoints: Python ssl (TLS), Tongsuo (TLCP and RFC 8998)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from lab import tls as lab_tls
from providers.base import Capability
from security import tlsscan
from security.cert_collect import collect_from_files, collect_tls_secrets

pytestmark = [
    pytest.mark.xdist_group("lab_tls"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("labtls")
    section = lab_tls.start(root)
    config = root / "ganyun.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{root / 'g.db'}", "tls": section}, allow_unicode=True))
    yield root, section, config
    lab_tls.stop(root)


def _ep(section: dict, expect: str) -> dict:
    return next(e for e in section["endpoints"] if e["expect"] == expect)


def _scan(cli, config: Path, *targets: str) -> list[dict]:
    code, out, err = cli("--config", str(config), "certs", "scan", *targets, "--json")
    assert code == 0, err
    return json.loads(out)


def test_tlcp_endpoint_reports_suite_and_both_certificates(cli, lab) -> None:
    _, section, config = lab
    ep = _ep(section, "tlcp")
    [res] = _scan(cli, config, f"{ep['host']}:{ep['port']}")
    assert "TLCP" in res["protocols"]
    tlcp = res["tlcp"]
    assert tlcp["supported"] and tlcp["cipher_suite"] in {"0xE013", "0xE011", "0xE053", "0xE051"}
    assert tlcp["sign_cert"]["role"] == "sign" and tlcp["enc_cert"]["role"] == "enc"
    assert tlcp["sign_cert"]["key_type"] == tlcp["enc_cert"]["key_type"] == "SM2"
    assert tlcp["sign_cert"]["sha256"] != tlcp["enc_cert"]["sha256"]
    assert res["system"] == ep["system"]  # labelled from tls.endpoints


def test_rfc8998_endpoint(lab) -> None:
    _, section, _ = lab
    ep = _ep(section, "rfc8998")
    res = tlsscan.scan_one(tlsscan.Target(ep["host"], ep["port"]), timeout=5)
    assert res.rfc8998["supported"] and res.rfc8998["cipher_suite"] == "0x00C6"
    assert not res.tlcp.get("supported")


def test_ordinary_tls_versions_suite_chain(lab) -> None:
    _, section, _ = lab
    ok = tlsscan.scan_one(tlsscan.Target("127.0.0.1", _ep(section, "ok")["port"]), timeout=5)
    assert ok.protocols == ["TLS"] and "TLSv1.3" in ok.tls["versions"] and "TLSv1.0" not in ok.tls["versions"]
    assert ok.tls["cipher"] and len(ok.tls["chain"]) == 2
    assert not ok.tlcp["supported"] and not ok.rfc8998["supported"]
    legacy = tlsscan.scan_one(tlsscan.Target("127.0.0.1", _ep(section, "legacy-tls")["port"]), timeout=5)
    assert "TLSv1.2" in legacy.tls["versions"] and len(legacy.tls["versions"]) > len(ok.tls["versions"])
    weak = tlsscan.scan_one(tlsscan.Target("127.0.0.1", _ep(section, "weak-key")["port"]), timeout=5)
    assert weak.tls["chain"][0]["key_size"] == 1024


def test_unreachable_and_bad_target(cli, lab) -> None:
    _, _, config = lab
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [res] = _scan(cli, config, f"127.0.0.1:{port}")
    assert res["reachable"] is False and res["error"]
    code, _, err = cli("--config", str(config), "certs", "scan", "no-port-here", "--json")
    assert code == 2 and "host:port" in err


def test_inventory_scan_and_list(cli, lab) -> None:
    _, section, config = lab
    first = _scan(cli, config, "--from-inventory")
    assert len(first) == len(section["endpoints"])
    code, out, _ = cli("--config", str(config), "certs", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and rows
    by_expect = {}
    for ep in section["endpoints"]:
        by_expect[ep["expect"]] = [r for r in rows if any(f":{ep['port']}" in s for s in r["seen_at"])]
    assert all(r["expired"] for r in by_expect["expired"][:1])
    assert 0 <= by_expect["expiring"][0]["days_left"] <= 30
    assert any(r["signature_algorithm"] == "sha1WithRSAEncryption" for r in by_expect["sha1"])
    sm2 = [r for r in by_expect["tlcp"] if r["key_type"] == "SM2"]
    assert {r["role"] for r in sm2} >= {"sign", "enc"}
    assert all(r["first_seen"] and r["last_seen"] for r in rows)
    # A second scan keeps first_seen and moves last_seen.
    _scan(cli, config, "--from-inventory")
    again = {r["sha256"]: r for r in json.loads(cli("--config", str(config), "certs", "list", "--json")[1])}
    for r in rows:
        assert again[r["sha256"]]["first_seen"] == r["first_seen"]
        assert again[r["sha256"]]["last_seen"] >= r["last_seen"]
    code, out, _ = cli("--config", str(config), "certs", "list", "--endpoints", "--json")
    eps = json.loads(out)
    assert sum(e["tlcp"] for e in eps) == 1


def test_collect_from_files_and_kubernetes(lab, tmp_path: Path) -> None:
    root, _, _ = lab
    fetched = tmp_path / "fetched" / "host1" / "etc" / "pki"
    fetched.mkdir(parents=True)
    shutil.copy(root / "tls" / "root-rsa.pem", fetched / "ca.pem")
    (fetched / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    items, errors = collect_from_files([tmp_path / "fetched"])
    assert len(items) == 1 and items[0][1].startswith("file://") and len(errors) == 1

    class FakeCluster:
        name = "k8s-xc"
        features = frozenset({Capability.TLS_SECRETS})

        def list_tls_secrets(self) -> list[tuple[str, bytes]]:
            return [("portal/web-tls", (root / "tls" / "root-sm2.pem").read_bytes()), ("x/bad", b"junk")]

    got = collect_tls_secrets(FakeCluster())  # type: ignore[arg-type]
    assert [(loc, role) for _, loc, role in got] == [("k8s://k8s-xc/portal/web-tls", "leaf")]
    FakeCluster.features = frozenset()  # the same methods, not declared: not asked
    assert collect_tls_secrets(FakeCluster()) == []  # type: ignore[arg-type]


def test_lab_stop_ends_the_server(tmp_path: Path) -> None:
    specs = [{"name": "one", "host": "127.0.0.1", "port": 0, "server": "python", "legacy": False,
              "cert": "", "keyfile": ""}]
    # A broken spec makes the server fail to start: the error names it, nothing is left running.
    with pytest.raises(Exception, match="did not start"):
        lab_tls.start_server(tmp_path / "tls", specs, wait=10)
    assert not (tmp_path / "tls" / lab_tls.PID_FILE).exists()
