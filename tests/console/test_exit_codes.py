"""`python -m console` exits as `ganyun` does, and a page shows how a command it started ended."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console import jobs
from tests.console.apptest import PAGES, button, session_for

GANYUN = Path(sys.executable).with_name("ganyun")


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_LANG": "en"}
    env.pop("GANYUN_CONFIG", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def self_signed(tmp_path: Path) -> Path:
    cert = tmp_path / "self.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "self.key"),
         "-out", str(cert), "-days", "1", "-subj", "/CN=not-trusted"],
        check=True, capture_output=True,
    )
    (tmp_path / "ganyun.yaml").write_text("database: sqlite:///g.db\n", encoding="utf-8")
    return cert


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["certs", "verify", "{cert}"], 1),  # the answer is "no": the command raises typer.Exit(1)
        (["--config", "missing.yaml", "users", "list"], 2),  # bad input
        (["users", "add", "x", "--role", "operator"], 2),  # no --city and no --scope
        (["audit", "verify"], 0),
    ],
)
def test_python_m_console_exits_like_the_ganyun_script(tmp_path, self_signed, args, code):
    argv = [a.format(cert=self_signed) for a in args]
    module = _run([sys.executable, "-m", "console", *argv], tmp_path)
    script = _run([str(GANYUN), *argv], tmp_path)
    assert (module.returncode, script.returncode) == (code, code), module.stderr
    assert "Traceback" not in module.stderr + script.stderr


def test_a_background_job_reports_its_exit_code_and_one_line(tmp_path):
    (tmp_path / "ganyun.yaml").write_text("database: sqlite:///g.db\n", encoding="utf-8")
    good = jobs.start("ok", str(tmp_path / "ganyun.yaml"), ["audit", "verify"], tmp_path / "logs" / "ok.log")
    bad = jobs.start("bad", str(tmp_path / "missing.yaml"), ["audit", "verify"], tmp_path / "logs" / "bad.log")
    good.process.wait(60)
    bad.process.wait(60)
    assert jobs.outcome(good) == jobs.Outcome(running=False, code=0, error="")
    failed = jobs.outcome(bad)
    assert failed.failed and failed.code == 2
    assert failed.error.startswith("ganyun: ") and "missing.yaml" in failed.error and "\n" not in failed.error


def _wait_for_page(at: AppTest, key: str, timeout_s: float = 60.0) -> AppTest:
    job = at.session_state[key]
    job.process.wait(timeout_s)
    return at.run()


def test_dr_page_shows_a_failed_drill_in_one_line(dr_estate, monkeypatch):
    # The drill CLI is pointed at a config file that does not exist: it exits 2 with one line.
    monkeypatch.setenv("GANYUN_CONFIG", str(dr_estate.dir / "missing.yaml"))
    at = AppTest.from_file(str(PAGES / "dr.py"), default_timeout=60)
    session_for(at, dr_estate, "operator")
    at.run()
    at.selectbox(key="drill_scenario").select("switchover")
    at.checkbox(key="drill_confirm").check()
    button(at, "发起演练").click().run()
    assert not at.exception
    at = _wait_for_page(at, "drill_job")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert "失败（退出码 2）" in errors[0] and "missing.yaml" in errors[0] and "\n" not in errors[0]
    shown = " ".join(str(e.value) for kind in ("error", "code", "markdown", "info") for e in getattr(at, kind))
    assert "Traceback" not in shown
    assert not any("已成功完成" in s.value for s in at.success)
