"""`ganyun config import-clouds clouds.yaml [--cloud NAME]...`: OpenStack's clouds.yaml into
provider entries; passwords into the vault, never into ganyun.yaml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import yaml

from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from inventory.clouds_yaml import merged_config, read_clouds, select, to_provider
from inventory.config import config_path, parse_config
from providers.errors import ConfigError
from security.vault import Vault

app = typer.Typer(no_args_is_help=True)


@app.command("import-clouds", help="Add the clouds of an OpenStack clouds.yaml as providers.")
def import_clouds(
    ctx: typer.Context,
    clouds_file: Annotated[Path, typer.Argument(help="OpenStack clouds.yaml (secure.yaml beside it is read too).")],
    cloud: Annotated[list[str] | None, typer.Option("--cloud", help="Import only this cloud (repeatable).")] = None,
    center: Annotated[str, typer.Option("--center", help="Center id for the imported providers.")] = "",
    pool: Annotated[str, typer.Option("--pool", help="Pool: legacy or xinchuang.")] = "legacy",
) -> None:
    path = config_path(state(ctx).config_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise ConfigError(t("config.unreadable", path=str(path))) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(t("config.unreadable", path=str(path)))
    clouds = read_clouds(clouds_file)
    imported = [to_provider(name, clouds[name], center, pool) for name in select(clouds, cloud or [])]
    merged = merged_config(raw, imported)
    config = parse_config(merged, base_dir=str(path.resolve().parent))  # refuse before writing anything
    vault = Vault.open(config, create=True)
    for item in imported:
        vault.set(item.name, item.username, item.password)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False))
    tmp.replace(path)
    record_action(config, "config.import_clouds", {"providers": [i.name for i in imported]})
    for item in imported:
        typer.echo(t("config.imported", name=item.name, path=str(path)))


COMMAND = CommandSpec("config", "config.command_help", app)
