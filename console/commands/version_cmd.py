"""`ganyun version` command: the version and the cryptographic backends in use."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from console.commands import CommandSpec


def versions() -> dict[str, object]:
    from security import sm

    try:
        ganyun = importlib.metadata.version("ganyun")
    except importlib.metadata.PackageNotFoundError:
        ganyun = "dev"
    return {"ganyun": ganyun, "python": platform.python_version(), "crypto": sm.backend_names()}


def version(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    data = versions()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    out = Console()
    out.print(f"ganyun {data['ganyun']} (Python {data['python']})")
    table = Table(show_header=False, box=None)
    crypto = data["crypto"]
    assert isinstance(crypto, dict)
    for name, backend in crypto.items():
        table.add_row(name, str(backend))
    out.print(table)


COMMAND = CommandSpec("version", "common.version_help", version)
