"""The `ganyun` command line: one Typer app composed of one module per area."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from console import i18n, logsetup
from console.commands import (
    audit_cmd,
    capacity_cmd,
    certs_cmd,
    comply_cmd,
    console_cmd,
    drill_cmd,
    inventory_cmd,
    lab_cmd,
    migrate_cmd,
    sync_cmd,
    users_cmd,
    vault_cmd,
    version_cmd,
)
from console.context import CliState
from console.file_modes import private_umask
from providers.base import ConfigError, GanyunError
from providers.masking import mask

EXIT_NO = 1
EXIT_BAD_INPUT = 2


class GanyunApp(typer.Typer):
    """Typer app that turns every GanyunError into one line on stderr and an exit code."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            logsetup.configure()
            with private_umask():
                return super().__call__(*args, standalone_mode=False, **kwargs)
        except GanyunError as exc:
            print(f"ganyun: {one_line(exc)}", file=sys.stderr)
            code = getattr(exc, "exit_code", None)
            sys.exit(code if isinstance(code, int) else EXIT_BAD_INPUT if _is_input_error(exc) else EXIT_NO)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            print(i18n.t("common.aborted"), file=sys.stderr)
            sys.exit(EXIT_NO)
        except KeyboardInterrupt:
            print(i18n.t("common.interrupted"), file=sys.stderr)
            sys.exit(130)
        except Exception as exc:  # usage errors carry their own exit codes
            import click

            usage_errors: tuple[type[BaseException], ...] = (click.ClickException,)
            try:
                from typer._click.exceptions import ClickException as TyperClickException

                usage_errors += (TyperClickException,)
            except ImportError:
                pass
            if isinstance(exc, usage_errors):
                exc.show()  # type: ignore[attr-defined]
                sys.exit(EXIT_BAD_INPUT)
            raise


def one_line(exc: BaseException) -> str:
    """The error's message masked and on one line, whatever the endpoint or file put in it."""
    return " ".join(mask(str(exc)).split())


def _is_input_error(exc: GanyunError) -> bool:
    from providers.base import CryptoError

    return isinstance(exc, ConfigError | CryptoError)


app = GanyunApp(
    name="ganyun",
    help="赣云 ganyun: one inventory over the city's government clouds and the Xinchuang pool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration file (else $GANYUN_CONFIG, else ./ganyun.yaml)."),
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh-CN (default) or en.")] = None,
) -> None:
    if lang:
        i18n.set_language(lang)
    ctx.obj = CliState(config_path=config)


for module in (sync_cmd, version_cmd, console_cmd):
    module.register(app)

app.add_typer(lab_cmd.app, name="lab", help="The lab estate on loopback.")
app.add_typer(inventory_cmd.app, name="inventory", help="The resource inventory.")
app.add_typer(capacity_cmd.app, name="capacity", help="Capacity reports for planners.")
app.add_typer(migrate_cmd.app, name="migrate", help="Migration into the Xinchuang pool.")
app.add_typer(drill_cmd.app, name="drill", help="Two-site three-center DR drills.")
app.add_typer(certs_cmd.app, name="certs", help="Certificates and TLS/TLCP endpoints.")
app.add_typer(comply_cmd.app, name="comply", help="GB/T 39786 and MLPS compliance audits.")
app.add_typer(audit_cmd.app, name="audit", help="The tamper-evident audit log.")
app.add_typer(vault_cmd.app, name="vault", help="Credentials encrypted at rest (SM4-GCM).")
app.add_typer(users_cmd.app, name="users", help="Console accounts, roles and department scope.")
