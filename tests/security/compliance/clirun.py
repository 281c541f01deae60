"""Run the real `ganyun` app in-process for tests: (exit code, stdout, stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from console import i18n

Cli = Callable[..., tuple[int, str, str]]


def cli_runner(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    from console.cli import app

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            result = app(args=list(args), prog_name="ganyun")
            code = result if isinstance(result, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    i18n._current = None  # --lang sets a process-wide language: do not leak it to other tests
