"""No secret ever appears in what a full lab run writes: logs, reports, the inventory DB,
the audit log, Ansible inventory output, CLI output. The lab's secrets are its cloud
passwords (read back from the vault), its token-signing secrets (lab.json) and the private
keys of its TLS/TLCP endpoints (--tls)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

GANYUN = str(Path(sys.executable).with_name("ganyun"))
# Files whose job is to hold secrets: the lab's own state, the sealed vault and the keys.
SECRET_HOLDERS = {"lab.json", "vault.json", "vault.key", "audit_key.pem", "accounts.txt"}


def _env(lab: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "GANYUN_CONFIG": str(lab / "ganyun.yaml"),
        "PATH": f"{Path(GANYUN).parent}:{os.environ['PATH']}",
    }
    env.pop("GANYUN_VAULT_KEY", None)
    return env


def _run_all(lab: Path, *commands: tuple[str, ...]) -> str:
    """Run CLI commands concurrently (each start-up costs seconds here); all outputs joined."""
    procs = [
        (
            args,
            subprocess.Popen([GANYUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(lab)),
        )
        for args in commands
    ]
    outputs = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), f"{args}: {err}"
        outputs.append(out + err)
    return "\n".join(outputs)


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    lab = tmp_path_factory.mktemp("lab")
    up = subprocess.run([GANYUN, "lab", "up", "--dir", str(lab), "--scale", "small", "--tls"], capture_output=True, text=True,
                        timeout=300, check=False)  # fmt: skip
    if up.returncode != 0:
        pytest.fail(f"lab up failed: {up.stderr}")
    try:
        outputs = [up.stdout + up.stderr, _run_all(lab, ("sync", "--json"))]
        outputs.append(_run_all(lab, ("certs", "scan", "--from-inventory")))
        outputs.append(
            _run_all(
                lab,
                ("inventory", "ansible", "--list"),
                ("vault", "list"),
                ("comply", "audit", "--level", "3", "--format", "json", "--output", str(lab / "audit.json")),
                ("comply", "audit", "--format", "html", "--output", str(lab / "audit.html")),
                ("comply", "audit", "--format", "xlsx", "--output", str(lab / "audit.xlsx")),
                ("comply", "audit", "--format", "csv", "--output", str(lab / "audit.csv")),
            )
        )
        outputs.append(_run_all(lab, ("audit", "list", "--json"), ("audit", "verify")))
        yield lab, "\n".join(outputs)
    finally:
        subprocess.run([GANYUN, "lab", "down", "--dir", str(lab)], capture_output=True, timeout=120, check=False)


def _secrets(lab: Path) -> list[str]:
    from inventory.config import load_config
    from security.vault import Vault

    config = load_config(lab / "ganyun.yaml")
    vault = Vault.open(config)
    found = [vault.get(name)[1] for name in vault.names()]
    state = json.loads((lab / "lab.json").read_text())
    found += [state["token_secret"], state["admin_token"]]
    # A private key's third PEM line is deep in the key material: unique to that key.
    found += [p.read_text().splitlines()[3] for p in sorted(lab.rglob("*.key")) if "PRIVATE KEY" in p.read_text()]
    assert len(found) >= 5 and all(len(s) >= 16 for s in found)
    return found


@pytest.mark.slow
@pytest.mark.xdist_group("lab_secrets")
def test_no_secret_in_anything_the_lab_run_wrote(lab_run: tuple[Path, str]) -> None:
    lab, outputs = lab_run
    secrets = _secrets(lab)
    files = [p for p in lab.rglob("*") if p.is_file() and p.name not in SECRET_HOLDERS and p.suffix != ".key"]
    names = {p.name for p in files}
    # The run really wrote what we grep: reports, the database (and its WAL), logs.
    assert {"audit.json", "audit.html", "audit.xlsx", "audit.csv", "ganyun.yaml"} <= names
    assert any(n.endswith(".db") for n in names)
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path.relative_to(lab)}" for s in secrets if s.encode() in data]
    leaks += ["command output" for s in secrets if s in outputs]
    assert not leaks, f"secrets found in: {sorted(set(leaks))}"


@pytest.mark.slow
@pytest.mark.xdist_group("lab_secrets")
def test_lab_audit_at_level_3_finds_the_planted_problems(lab_run: tuple[Path, str]) -> None:
    lab, _outputs = lab_run
    report = json.loads((lab / "audit.json").read_text())
    failed = {(f["check_id"], f["resource_name"]) for f in report["findings"] if f["status"] == "FAIL"}
    checks = {c for c, _ in failed}
    assert {"volume_unencrypted", "sg_remote_admin_open"} <= checks
    # The TLS lab's planted certificates and endpoints (lab/tls.py).
    assert {"cert_expired", "cert_self_signed_served", "cert_rsa_weak", "cert_weak_signature_hash",
            "cert_expiring_30d", "tls_endpoint_weak_protocol", "tls_endpoint_no_sm_protocol"} <= checks  # fmt: skip
    open_groups = {name for c, name in failed if c == "sg_remote_admin_open"}
    assert open_groups <= {"ssh-open", "db-open", "rdp-open"} and {"ssh-open", "db-open"} <= open_groups
    assert report["counts"]["MANUAL"] > 0 and report["level"] == 3
