"""The `ganyun` command groups: one module per area, `<area>_cmd.py`, each declaring

    COMMAND = CommandSpec("inventory", "inventory.command_help", app)

where the target is a Typer app (a group: `ganyun inventory list ...`) or a function (one
command: `ganyun sync`), and the help key is an i18n key (console/locales/<area>.yaml).
console/cli.py registers every module of this package the same way; a new command group is
one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

__all__ = ["CommandSpec", "discover"]

MODULE_SUFFIX = "_cmd"


@dataclass(frozen=True)
class CommandSpec:
    """A top-level command or command group of `ganyun`."""

    name: str
    help_key: str
    target: typer.Typer | Callable[..., Any]


def discover() -> list[CommandSpec]:
    """Every `*_cmd` module's COMMAND, by name; a module without one is a programming error."""
    specs: dict[str, CommandSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.endswith(MODULE_SUFFIX):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = vars(module).get("COMMAND")
        if not isinstance(spec, CommandSpec):
            raise TypeError(f"{module.__name__} declares no COMMAND = CommandSpec(name, help_key, app_or_callback)")
        if spec.name in specs:
            raise TypeError(f"{module.__name__}: command '{spec.name}' is already declared elsewhere")
        specs[spec.name] = spec
    return [specs[name] for name in sorted(specs)]
