"""Every top-level command comes from one `console/commands/<area>_cmd.py` declaring
COMMAND = CommandSpec(name, help_key, app_or_callback), registered one way, help from i18n."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from console import commands
from console.cli import GanyunApp, app
from console.i18n import catalog, t

GANYUN = str(Path(sys.executable).with_name("ganyun"))
# DESIGN.md's command line contract, plus the operators' own groups.
CONTRACT = {"lab", "sync", "inventory", "capacity", "migrate", "drill", "certs", "comply", "audit", "console", "users"}


def test_every_command_module_declares_one_command() -> None:
    specs = commands.discover()
    modules = sorted(p.stem for p in Path(commands.__file__).parent.glob("*_cmd.py"))
    assert len(specs) == len(modules)
    names = [s.name for s in specs]
    assert names == sorted(names) and set(names) >= CONTRACT and "version" in names
    for spec in specs:
        assert spec.help_key in catalog(), spec.name
        assert isinstance(spec.target, typer.Typer) or callable(spec.target)


def test_the_app_holds_exactly_the_declared_commands_with_their_help() -> None:
    registered = {str(g.name): g.help for g in app.registered_groups} | {
        str(c.name): c.help for c in app.registered_commands
    }
    specs = {s.name: s for s in commands.discover()}
    assert set(registered) == set(specs)
    for name, spec in specs.items():
        assert registered[name] in (t(spec.help_key, "zh-CN"), t(spec.help_key, "en")), name
    groups = {str(g.name) for g in app.registered_groups}
    assert groups == {n for n, s in specs.items() if isinstance(s.target, typer.Typer)}


def test_help_follows_the_language_option() -> None:
    zh = subprocess.run([GANYUN, "--help"], capture_output=True, text=True, timeout=60, env=_env())
    en = subprocess.run([GANYUN, "--lang", "en", "--help"], capture_output=True, text=True, timeout=60, env=_env())
    assert zh.returncode == 0 and en.returncode == 0
    assert t("sync.command_help", "zh-CN") in zh.stdout and t("drill.command_help", "zh-CN") in zh.stdout
    assert t("sync.command_help", "en") in en.stdout and t("drill.command_help", "en") in en.stdout


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "GANYUN_LANG"}
    env["COLUMNS"] = "200"  # one line per command in Rich's help table
    return env


def test_a_new_command_group_is_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    (tmp_path / "hello_cmd.py").write_text(
        "import typer\n"
        "from console.commands import CommandSpec\n\n"
        "app = typer.Typer(no_args_is_help=True)\n\n\n"
        "@app.command('greet')\n"
        "def greet(name: str) -> None:\n"
        "    typer.echo(f'hello {name}')\n\n\n"
        "COMMAND = CommandSpec('hello', 'common.version_help', app)\n"
    )  # fmt: skip
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "console.commands.hello_cmd", raising=False)
    fresh = GanyunApp(name="ganyun")
    for spec in commands.discover():
        fresh.register(spec)
    assert "hello" in {str(g.name) for g in fresh.registered_groups}
    fresh(["hello", "greet", "赣州"])
    assert capsys.readouterr().out == "hello 赣州\n"
    sys.modules.pop("console.commands.hello_cmd", None)


def test_a_command_module_without_command_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "orphan_cmd.py").write_text("import typer\napp = typer.Typer()\n")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "console.commands.orphan_cmd", raising=False)
    with pytest.raises(TypeError, match=r"console\.commands\.orphan_cmd declares no COMMAND"):
        commands.discover()
    sys.modules.pop("console.commands.orphan_cmd", None)
