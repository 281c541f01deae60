"""The `ganyun` command line: one Typer app composed of one module per area.

Every module of console/commands/ declares its command (`COMMAND = CommandSpec(...)`) and is
registered here the same way; help texts come from the locales, in the language of
`--lang` or $GANYUN_LANG.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

try:  # typer vendors click; a group called without its command raises this
    from typer._click.exceptions import NoArgsIsHelpError
except ImportError:  # pragma: no cover - another typer: such a group is then an ordinary usage error

    class NoArgsIsHelpError(Exception):  # type: ignore[no-redef]
        def format_message(self) -> str:
            return ""


from console import commands, i18n, logsetup
from console.context import CliState
from console.file_modes import private_umask
from providers.errors import ConfigError, GanyunError
from providers.masking import mask

EXIT_NO = 1
EXIT_BAD_INPUT = 2
# A bug is still reported as one line with exit 2: what reached it was input ganyun did not expect.
# The message says "internal error", which the bad-input sweep test fails on.
EXIT_INTERNAL = EXIT_BAD_INPUT
TRACEBACK_ENV = "GANYUN_TRACEBACK"


class GanyunApp(typer.Typer):
    """Typer app whose every failure is one line on stderr and an exit code, never a traceback.

    0 success, 1 when the answer is "no", 2 on bad input or configuration. A path the user
    named that cannot be read or written (missing, a directory, no space, not UTF-8) is bad
    input wherever in the code it is opened: the one line names the file and the reason.
    """

    help_keys: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_keys = {}

    def register(self, spec: commands.CommandSpec) -> None:
        """Add one command module's command or group, its help text from the locales."""
        self.help_keys[spec.name] = spec.help_key
        if isinstance(spec.target, typer.Typer):
            self.add_typer(spec.target, name=spec.name, help=i18n.t(spec.help_key))
        else:
            self.command(spec.name, help=i18n.t(spec.help_key))(spec.target)

    def localize_help(self) -> None:
        """Help texts in the current language (set from `--lang` before the command line is parsed)."""
        for group in self.registered_groups:
            if str(group.name) in self.help_keys:
                group.help = i18n.t(self.help_keys[str(group.name)])
        for command in self.registered_commands:
            if str(command.name) in self.help_keys:
                command.help = i18n.t(self.help_keys[str(command.name)])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _tolerant_streams()
        try:
            logsetup.configure()
            argv = args[0] if args else kwargs.get("args") or sys.argv[1:]
            _refuse_undecodable(argv)
            _early_language(argv)
            self.localize_help()
            with private_umask():
                result = super().__call__(*args, standalone_mode=False, **kwargs)
            _flush_stdout()  # stdout on a full disk fails here, inside the handler
            return result
        except GanyunError as exc:
            code = getattr(exc, "exit_code", None)
            _fail(str(exc), code if isinstance(code, int) else EXIT_BAD_INPUT if _is_input_error(exc) else EXIT_NO)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            _fail(i18n.t("common.aborted"), EXIT_NO, prefix=False)
        except KeyboardInterrupt:
            _fail(i18n.t("common.interrupted"), 130, prefix=False)
        except NoArgsIsHelpError as exc:
            # A group without its command: the help is the answer, on stdout; still a usage error.
            typer.echo(exc.format_message())
            sys.exit(EXIT_BAD_INPUT)
        except typer.TyperException as exc:  # usage: unknown option, missing or malformed value
            _fail(_usage_line(exc), EXIT_BAD_INPUT)
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away (`| head`): nothing left to say to anyone
            sys.exit(EXIT_NO)
        except OSError as exc:
            _quiet_stdout()  # stdout itself may be what failed: its buffer must not fail again at exit
            _fail(_os_error_line(exc), EXIT_BAD_INPUT)
        except UnicodeDecodeError as exc:
            _fail(i18n.t("common.not_utf8", detail=_decode_detail(exc)), EXIT_BAD_INPUT)
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            error = f"{type(exc).__name__}: {exc}"
            _fail(i18n.t("common.internal_error", error=error, env=TRACEBACK_ENV), EXIT_INTERNAL)


def _fail(message: str, code: int, *, prefix: bool = True) -> NoReturn:
    line = one_line(message)
    print(f"ganyun: {line}" if prefix else line, file=sys.stderr)
    sys.exit(code)


def one_line(message: object) -> str:
    """The message masked and on one line: a multi-line message (a validation error per field)
    is joined, not cut, and a credential an endpoint echoed never reaches the terminal."""
    return " | ".join(part.strip() for part in mask(str(message)).splitlines() if part.strip())


def _refuse_undecodable(argv: Any) -> None:
    """Every name, path and text ganyun stores or compares is UTF-8: bytes that are not (a shell
    passes them as surrogates) are refused before any command sees them."""
    for position, arg in enumerate(argv, start=1):
        try:
            str(arg).encode("utf-8")
        except UnicodeEncodeError:
            try:  # the bytes as typed, \xff for each that is not UTF-8
                shown = os.fsencode(str(arg)).decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                shown = str(arg).encode("utf-8", "backslashreplace").decode("ascii")
            raise ConfigError(i18n.t("common.argument_not_utf8", position=position, arg=shown)) from None


def _early_language(argv: Any) -> None:
    """`--lang L` among the options before the command, applied before parsing so that
    `--help` is in L too; a value ganyun does not know is left to the option to refuse."""
    words = [str(a) for a in argv]
    i = 0
    while i < len(words) and words[i].startswith("-"):
        word = words[i]
        value = word.partition("=")[2] if word.startswith("--lang=") else None
        if word == "--lang" and i + 1 < len(words):
            value = words[i + 1]
        if value is not None and i18n.is_supported(value):
            i18n.set_language(value)
        i += 2 if word in _VALUE_OPTIONS else 1


_VALUE_OPTIONS = frozenset({"--lang", "--config", "-c"})


def _tolerant_streams() -> None:
    """Print whatever a user typed (non-UTF-8 bytes in argv arrive as surrogates) without failing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a full or closed stdout is dropped
    instead of failing again (with Python's own traceback) when the interpreter exits."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, "stdout") from None


def _usage_line(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "ganyun"
    hint = i18n.t("common.usage_hint", command=command)
    where = command.removeprefix("ganyun").strip()
    return f"{where + ': ' if where else ''}{exc.format_message()} ({hint})"


def _os_error_line(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return reason
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {reason}"


def _decode_detail(exc: UnicodeDecodeError) -> str:
    return f"{exc.encoding} byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"


def _is_input_error(exc: GanyunError) -> bool:
    from providers.errors import CryptoError

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
    if lang is not None:
        if not i18n.is_supported(lang):
            raise ConfigError(i18n.t("common.unknown_language", name=lang, languages=", ".join(i18n.LANGUAGES)))
        i18n.set_language(lang)
    ctx.obj = CliState(config_path=config)


for spec in commands.discover():
    app.register(spec)
