"""Issue 13, item 3: the vault never loses a credential.

`ganyun vault rotate` runs as a real process and is SIGKILLed at every write and every rename it
makes (security/crashpoints.py numbers them); afterwards every credential must be readable with
the normal commands. A replayed, edited or deleted vault file is refused, and `vault set` never
makes a new key over entries that need the old one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inventory.config import load_config
from security.crashpoints import CRASH_ENV
from security.vault import Vault

GANYUN = str(Path(sys.executable).with_name("ganyun"))
CREDENTIALS = {"hw-gov": ("admin", "Hw#2026-pw"), "ali-gov": ("LTAI5t", "ali/secret=="), "k8s-nc": ("ops", "k8s pw")}
# Every write and rename of a rotation, in order; then the audit log records it.
ROTATION_STEPS = [
    "vault.key.new written",
    "vault.key.new renamed",
    "vault.json written",
    "vault.json renamed",
    "vault.key.new renamed to vault.key",
    "vault.key.anchor written",
    "vault.key.anchor renamed",
]


def ganyun(config: Path, *args: str, stdin: str = "", crash_at: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GANYUN_VAULT_KEY", CRASH_ENV)}
    env["GANYUN_LANG"] = "en"
    if crash_at is not None:
        env[CRASH_ENV] = str(crash_at)
    return subprocess.run([GANYUN, "--config", str(config), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A configuration directory whose vault holds three credentials (the first set through the CLI)."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "ganyun.yaml").write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    first, (key, secret) = next(iter(CREDENTIALS.items()))
    result = ganyun(base / "ganyun.yaml", "vault", "set", first, "--key", key, "--secret-stdin", stdin=secret + "\n")
    assert result.returncode == 0, result.stderr
    vault = Vault.open(load_config(base / "ganyun.yaml"))
    for name, (key, secret) in CREDENTIALS.items():
        vault.set(name, key, secret)
    return base


def assert_every_credential_readable(config: Path) -> None:
    listed = ganyun(config, "vault", "list", "--json")  # opens (and recovers) the vault, decrypts every entry
    assert listed.returncode == 0, listed.stderr
    listed_keys = {e["name"]: e["key"] for e in json.loads(listed.stdout)}
    assert {n: listed_keys.get(n) for n in CREDENTIALS} == {n: k for n, (k, _s) in CREDENTIALS.items()}
    for name in CREDENTIALS:
        got = ganyun(config, "vault", "get", name, "--json")
        assert got.returncode == 0 and json.loads(got.stdout)["secret_set"] is True, got.stderr
    vault = Vault.open(load_config(config))
    assert {name: vault.get(name) for name in CREDENTIALS} == CREDENTIALS


def test_rotation_killed_at_every_write_and_rename_loses_nothing(filled: Path, tmp_path: Path) -> None:
    reached: list[str] = []
    recovered: list[Path] = []
    step = 0
    while True:
        step += 1
        assert step < 30, "the rotation never finished"
        work = tmp_path / f"crash-{step}"
        shutil.copytree(filled, work)
        config = work / "ganyun.yaml"
        old_key = (work / "vault.key").read_text()
        result = ganyun(config, "vault", "rotate", crash_at=step)
        if result.returncode == 0:
            break
        assert result.returncode == -signal.SIGKILL, (step, result.returncode, result.stderr)
        reached.append(result.stderr.strip().splitlines()[-1].split(": ", 1)[1])
        listed = ganyun(config, "vault", "list", "--json")  # opens, recovers, decrypts every entry
        assert listed.returncode == 0, (step, listed.stderr)
        assert {e["name"] for e in json.loads(listed.stdout)} == set(CREDENTIALS)
        assert {name: Vault.open(load_config(config)).get(name) for name in CREDENTIALS} == CREDENTIALS
        # Recovery leaves one key and no half-written file behind.
        leftovers = sorted(p.name for p in work.iterdir() if p.name.startswith(".vault") or p.name.endswith(".new"))
        assert leftovers == [], (step, leftovers)
        switched = reached[-1] not in ROTATION_STEPS[:3]  # killed after the vault was sealed under the new key
        assert ((work / "vault.key").read_text() != old_key) == switched, step
        recovered.append(config)
    assert reached[: len(ROTATION_STEPS)] == ROTATION_STEPS
    assert [s.split()[0] for s in reached[len(ROTATION_STEPS) :]] == ["audit_head.json", "audit_head.json"]
    # After any of those crashes, the next rotation works and `vault get` reads every entry.
    for config in (recovered[1], recovered[4]):
        assert ganyun(config, "vault", "rotate").returncode == 0
        assert_every_credential_readable(config)


def test_replayed_edited_or_deleted_vault_is_refused(filled: Path) -> None:
    config = filled / "ganyun.yaml"
    vault_file = filled / "vault.json"
    before = vault_file.read_bytes()
    assert ganyun(config, "vault", "set", "extra", "--key", "k", "--secret-stdin", stdin="s\n").returncode == 0
    after = vault_file.read_bytes()

    # A whole older copy (valid MAC, same key): older than the anchor beside the key file.
    vault_file.write_bytes(before)
    assert "replayed" in one_line_error(ganyun(config, "vault", "get", "hw-gov"))

    # One entry deleted, or an older sealed copy of an entry put back: the MAC breaks.
    data = json.loads(after)
    del data["entries"]["ali-gov"]
    vault_file.write_text(json.dumps(data))
    assert "MAC does not match" in one_line_error(ganyun(config, "vault", "list"))
    # The MAC stripped, to pass as a vault from before MACs: the anchor says otherwise.
    data = json.loads(after)
    del data["mac"]
    vault_file.write_text(json.dumps(data))
    assert "no MAC" in one_line_error(ganyun(config, "vault", "list"))

    # The whole file deleted: `vault set` must not start an empty vault over it.
    vault_file.unlink()
    assert "deleted" in one_line_error(ganyun(config, "vault", "set", "x", "--key", "k", "--secret-stdin", stdin="s\n"))
    assert not vault_file.exists()

    # Put back as it was: everything reads again.
    vault_file.write_bytes(after)
    assert ganyun(config, "vault", "get", "extra").returncode == 0
    assert_every_credential_readable(config)

    # An entry set again (sealed anew), then its older sealed copy put back: the MAC breaks.
    key, secret = CREDENTIALS["hw-gov"]
    assert ganyun(config, "vault", "set", "hw-gov", "--key", key, "--secret-stdin", stdin=secret + "\n").returncode == 0
    newest = json.loads(vault_file.read_bytes())
    assert newest["entries"]["hw-gov"]["sealed"] != json.loads(after)["entries"]["hw-gov"]["sealed"]
    vault_file.write_text(json.dumps({**newest, "entries": {**newest["entries"],
                                                            "hw-gov": json.loads(after)["entries"]["hw-gov"]}}))
    assert "MAC does not match" in one_line_error(ganyun(config, "vault", "get", "hw-gov"))


def test_vault_from_before_a_rotation_is_refused(filled: Path) -> None:
    config = filled / "ganyun.yaml"
    before = (filled / "vault.json").read_bytes()
    assert ganyun(config, "vault", "rotate").returncode == 0
    (filled / "vault.json").write_bytes(before)
    assert "replayed" in one_line_error(ganyun(config, "vault", "list"))


def test_set_with_a_missing_key_file_refuses_instead_of_making_a_new_key(filled: Path) -> None:
    config = filled / "ganyun.yaml"
    key = (filled / "vault.key").read_bytes()
    vault_before = (filled / "vault.json").read_bytes()
    (filled / "vault.key").unlink()
    err = one_line_error(ganyun(config, "vault", "set", "new", "--key", "k", "--secret-stdin", stdin="s\n"))
    assert "missing" in err and f"{len(CREDENTIALS)} entries" in err
    assert not (filled / "vault.key").exists()
    assert (filled / "vault.json").read_bytes() == vault_before
    (filled / "vault.key").write_bytes(key)
    os.chmod(filled / "vault.key", 0o600)
    assert_every_credential_readable(config)


def test_first_set_creates_the_key_and_an_emptied_vault_may_start_over(tmp_path: Path) -> None:
    (tmp_path / "ganyun.yaml").write_text("database: sqlite:///ganyun.db\n", encoding="utf-8")
    config = tmp_path / "ganyun.yaml"
    assert ganyun(config, "vault", "set", "a", "--key", "k", "--secret-stdin", stdin="s\n").returncode == 0
    assert (tmp_path / "vault.key").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "vault.key.anchor").read_text())["generation"] == 1
    # No entry needs the old key: a lost key file may be replaced, and the generation keeps counting.
    vault = Vault.open(load_config(config))
    vault.delete("a")
    (tmp_path / "vault.key").unlink()
    assert ganyun(config, "vault", "set", "b", "--key", "k", "--secret-stdin", stdin="s\n").returncode == 0
    assert json.loads((tmp_path / "vault.key.anchor").read_text())["generation"] == 4
    assert Vault.open(load_config(config)).get("b") == ("k", "s")
