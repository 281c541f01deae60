from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security import opensslchains as oc
from tests.security.compliance.clirun import Cli, cli_runner

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="session")
def chains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """SM2, RSA and ECDSA chains plus bad variants, made once per session with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI")
    base = tmp_path_factory.mktemp("chains")
    return {
        "sm2": oc.make_chain(base / "sm2", oc.SM2, "sm2"),
        "rsa": oc.make_chain(base / "rsa", oc.RSA, "rsa"),
        "ec": oc.make_chain(base / "ec", oc.ECDSA, "ec"),
    }


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """Run the real `ganyun` app in-process: (exit code, stdout, stderr)."""
    yield from cli_runner(capsys)
