"""State shared by CLI commands: the config path given globally, loaded lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from inventory.config import GanyunConfig, load_config


@dataclass
class CliState:
    config_path: Path | None = None
    _config: GanyunConfig | None = field(default=None, repr=False)

    def config(self) -> GanyunConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


def state(ctx: typer.Context) -> CliState:
    """The CliState of the root command, whatever sub-command we are in."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
