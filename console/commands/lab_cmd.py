"""`ganyun lab`: start, stop, inspect the loopback lab estate and inject faults."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from console.commands import CommandSpec
from console.i18n import t
from lab import control
from lab.faults import FaultError, Faults, parse_assignment
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)
_DIR_HELP = "Lab directory (pid file, logs, data, ganyun.yaml)."
_SCALE_HELP = "small (~200 nodes), city (~3,000) or large (100,000 over 20 clouds)."
_TLS_HELP = "Also start the TLS/TLCP endpoints (lab/tls.py)."


def _checked_dir(path: Path) -> Path:
    """A lab directory: one that exists, or one `lab up` can create; never a file or a symlink loop."""
    try:
        path.resolve()
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except FileNotFoundError:
        return path
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11's resolve)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise typer.BadParameter(f"{path}: {reason}") from None
    if not is_dir:
        raise typer.BadParameter(t("lab.not_a_directory", path=path))
    return path


DirOption = Annotated[Path, typer.Option("--dir", help=_DIR_HELP, callback=_checked_dir)]


@app.command("up")
def up_cmd(
    lab_dir: DirOption = Path(".lab"),
    scale: Annotated[str, typer.Option("--scale", help=_SCALE_HELP)] = "small",
    dr: Annotated[bool, typer.Option("--dr", help="Also start the DR databases (lab/dr.py).")] = False,
    dr_manager: Annotated[
        str, typer.Option("--dr-manager", help="patroni | streaming: the HA manager of the DR databases.")
    ] = "streaming",
    dr_rtt_ms: Annotated[
        float, typer.Option("--dr-rtt-ms", min=0, max=5000, help="Round-trip time of the link to the remote center.")
    ] = 30.0,
    tls: Annotated[bool, typer.Option("--tls", help=_TLS_HELP)] = False,
    vsphere: Annotated[
        bool, typer.Option("--vsphere", help="Also start gov-vmware, a simulated vCenter (lab/vsphere).")
    ] = False,
    prometheus: Annotated[
        bool, typer.Option("--prometheus", help="Also start Prometheus scraping each cloud's libvirt exporter.")
    ] = False,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", min=0, max=600_000, help="Added latency per request, every cloud.")
    ] = 0,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: the previous one, else any).")
    ] = 0,
    faults_file: Annotated[
        Path | None, typer.Option("--faults", help="YAML file: {cloud: {KIND: VALUE}} applied at start.")
    ] = None,
    image_seconds: Annotated[
        float, typer.Option("--image-seconds", min=0, max=3600, help="Images go queued -> saving -> active over S.")
    ] = 0.0,
    boot_seconds: Annotated[
        float, typer.Option("--boot-seconds", min=0, max=3600, help="New servers stay BUILD for S seconds.")
    ] = 0.0,
    flaky: Annotated[
        float, typer.Option("--flaky", min=0, max=1, help="Share of new images and servers that fail (transiently).")
    ] = 0.0,
) -> None:
    """Start the lab in the background and write D/ganyun.yaml."""
    if dr_manager not in ("patroni", "streaming"):
        raise ConfigError("--dr-manager must be patroni or streaming")
    faults = _read_faults(faults_file) if faults_file else None
    timing = {"image_seconds": image_seconds, "boot_seconds": boot_seconds}
    timing |= {"image_failures": flaky, "boot_failures": flaky}
    console = Console(stderr=True)
    with console.status(t("lab.starting", scale=scale)):
        path = control.up(
            lab_dir,
            scale=scale,
            tls=tls,
            dr=dr,
            latency_ms=latency_ms,
            port=port,
            faults=faults,
            vsphere=vsphere,
            prometheus=prometheus,
            dr_manager=dr_manager,
            dr_rtt_ms=dr_rtt_ms,
            every_cloud={k: v for k, v in timing.items() if v},
        )
    info = control.status(lab_dir)
    if dr:
        _say_dr_network(path)
    # Plain echo: Rich would wrap the long paths, and users copy the command line as is.
    typer.echo(t("lab.started", url=info.get("url", "")))
    typer.echo(t("lab.config_written", path=path))
    typer.echo(t("lab.next_step"))
    typer.echo(f"  GANYUN_CONFIG={path} ganyun sync")


def _say_dr_network(config_file: Path) -> None:
    """Which DR network this machine got: three namespaces, or the loopback fallback and why."""
    facts = (yaml.safe_load(config_file.read_text(encoding="utf-8")).get("dr") or {}).get("lab") or {}
    if facts.get("network") == "netns":
        typer.echo(t("lab.dr_netns", subnet=facts.get("subnet", "")))
    else:
        typer.echo(t("lab.dr_loopback", reason=facts.get("fallback_reason", "")), err=True)


def _read_faults(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must map cloud names to faults")
    return data


@app.command("demo")
def demo_cmd(
    lab_dir: DirOption = Path(".lab"),
    scale: Annotated[str, typer.Option("--scale", help=_SCALE_HELP)] = "city",
) -> None:
    """Start the lab and give every console page content: sync, TLS scan, audit, drills, a plan."""
    from lab import demo

    demo.run(lab_dir, scale)


@app.command("down")
def down_cmd(lab_dir: DirOption = Path(".lab")) -> None:
    """Stop exactly the processes `lab up` started in this directory."""
    pids = control.down(lab_dir)
    if pids:
        typer.echo(t("lab.stopped", pids=", ".join(str(p) for p in pids)))
    else:
        typer.echo(t("lab.nothing_running", dir=lab_dir))


@app.command("status")
def status_cmd(
    lab_dir: DirOption = Path(".lab"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Is the lab running, and what does each cloud hold."""
    info = control.status(lab_dir)
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=1))
        return
    if not info["running"]:
        typer.echo(t("lab.not_running", dir=info["dir"]))
        raise typer.Exit(1)
    table = Table(title=t("lab.status_title", scale=info.get("scale", ""), url=info.get("url", "")))
    for key in ("cloud", "center", "pool", "servers", "hypervisors", "images", "volumes", "faults"):
        table.add_column(t(f"lab.col_{key}"))
    for name, cloud in info.get("clouds", {}).items():
        faults = _describe(cloud.get("faults") or {})
        table.add_row(
            name,
            cloud["center"],
            cloud["pool"],
            str(cloud["servers"]),
            str(cloud["hypervisors"]),
            str(cloud["images"]),
            str(cloud["volumes"]),
            faults,
        )
    Console().print(table)


def _describe(faults: dict[str, Any]) -> str:
    if not faults:
        return t("lab.no_faults")
    return ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in sorted(faults.items()))


@app.command("fault")
def fault_cmd(
    lab_dir: DirOption = Path(".lab"),
    cloud: Annotated[str | None, typer.Option("--cloud", help="Lab cloud name; every cloud when omitted.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KIND[=VALUE]: latency_ms=N, http500[=FRACTION], timeout[=SECONDS], garbage, unauthorized, "
            "truncated, forbidden=KINDS, missing=KINDS, boot_error, image_seconds=S, boot_seconds=S, "
            "image_failures=FRACTION, boot_failures=FRACTION, no_forced_host. Repeatable.",
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every fault first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Inject or clear faults on a running lab cloud."""
    if not set_ and not clear:
        raise ConfigError(t("lab.fault_usage"))
    assignments: dict[str, str | None] = {}
    probe = Faults()
    for item in set_ or []:
        kind, value = parse_assignment(item)
        try:
            probe.set(kind, value)  # refuse a bad fault here, with the same message the lab gives
        except FaultError as exc:
            raise ConfigError(str(exc)) from None
        assignments[kind] = value
    result = control.set_faults(lab_dir, cloud, assignments, clear=clear)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    for name, faults in result.items():
        typer.echo(t("lab.faults_now", cloud=name, faults=_describe(faults)))


COMMAND = CommandSpec("lab", "lab.command_help", app)
