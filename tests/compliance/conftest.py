from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compliance.clirun import Cli, cli_runner


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    yield from cli_runner(capsys)
