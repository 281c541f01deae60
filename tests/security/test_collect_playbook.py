"""playbooks/collect_certs.yml run for real with ansible-runner against localhost."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from security.cert_collect import collect_from_files

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_playbook_fetches_and_collect_reads(tmp_path: Path) -> None:
    ansible_runner = pytest.importorskip("ansible_runner")
    src = tmp_path / "host" / "pki"
    src.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "security" / "data" / "sample.pem", src / "svc.pem")
    (src / "notes.txt").write_text("not a certificate")
    dest = tmp_path / "fetched"
    (tmp_path / "runner").mkdir()
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        playbook=str(REPO / "playbooks" / "collect_certs.yml"),
        inventory="localhost ansible_connection=local ansible_python_interpreter=" + sys.executable,
        extravars={"ganyun_hosts": "localhost", "collect_dest": str(dest), "collect_paths": [str(src)]},
        envvars=env, quiet=True, roles_path=str(REPO / "playbooks" / "roles"),
    )
    assert result.rc == 0, result.stdout.read() if result.stdout else result.status
    items, errors = collect_from_files([dest])
    assert len(items) == 1 and not errors
    assert "localhost" in items[0][1]
