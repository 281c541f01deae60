"""`ganyun certs` commands: verify, scan, list, issue, collect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)
_H0 = "Leaf certificate (PEM/DER/PKCS#7/PKCS#12); later certificates in the file are intermediates."
_H1 = "Trust anchor (self-signed); a non-self-signed one is an intermediate."
_H2 = "Also trust non-self-signed --ca certificates."
_H3 = "CA directory (else tls.ca_dir, else <config dir>/ca)."
_H4 = "Renew this certificate: same subject, new keys."
_H5 = "Every node IP x tls_ports, plus tls.endpoints."
_H6 = "Store endpoints and certificates in the inventory."
_H7 = "Files or directories (e.g. fetched by playbooks/collect_certs.yml)."
_H8 = "Also read TLS secrets of every kubernetes provider."
_out = Console()
_err = Console(stderr=True)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _config_or_none(ctx: typer.Context) -> Any:
    """The config when one exists; certificate verification also works without it."""
    try:
        return state(ctx).config()
    except ConfigError as exc:
        if "not found" in str(exc):
            return None
        raise


@app.command("verify")
def verify(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Argument(help=_H0)],
    ca: Annotated[list[Path] | None, typer.Option("--ca", help=_H1)] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help="CRL to check revocation against.")] = None,
    untrusted: Annotated[list[Path] | None, typer.Option("--untrusted", help="Intermediate certificates.")] = None,
    partial_chain: Annotated[bool, typer.Option("--partial-chain", help=_H2)] = False,
    password: Annotated[str | None, typer.Option("--password", help="PKCS#12 password.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify a certificate chain (SM2, RSA, ECDSA, Ed25519). Exit 0 valid, 1 invalid, 2 bad input."""
    from security import certs

    anchors = list(ca or [])
    if not anchors:
        config = _config_or_none(ctx)
        if config is not None:
            from security.tls_settings import settings_of

            anchors = settings_of(config).trust_anchor_paths(config.base_dir)
    result = certs.verify_files(
        cert,
        anchors,
        crl or [],
        untrusted or [],
        partial_chain=partial_chain,
        password=password.encode() if password is not None else None,
    )
    if as_json:
        _print_json(result.to_dict())
    else:
        key = "certs.valid" if result.valid else "certs.invalid"
        _out.print(t(key, subject=escape(result.leaf.get("subject", ""))), style="green" if result.valid else "red")
        for error in result.errors:
            _out.print(f"  - {escape(error)}")
        table = Table(title=t("certs.chain_title"))
        for col in ("col_subject", "col_issuer", "col_sigalg", "col_key", "col_not_after"):
            table.add_column(t(f"certs.{col}"))
        for entry in result.chain:
            table.add_row(
                escape(entry["subject"]),
                escape(entry["issuer"]),
                entry["signature_algorithm"],
                f"{entry['key_type']}-{entry['key_size']}",
                entry["not_after"],
            )
        _out.print(table)
    raise typer.Exit(0 if result.valid else 1)


@app.command("issue")
def issue(
    ctx: typer.Context,
    cn: Annotated[str | None, typer.Option("--cn", help="Common name of the server.")] = None,
    san: Annotated[list[str] | None, typer.Option("--san", help="DNS name or IP address (repeatable).")] = None,
    ca_dir: Annotated[Path | None, typer.Option("--ca-dir", help=_H3)] = None,
    renew: Annotated[Path | None, typer.Option("--renew", help=_H4)] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = 365,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue an SM2 signing + encryption certificate pair from the city's internal SM2 CA."""
    from security.ca import SmCa

    config = _config_or_none(ctx)
    if ca_dir is None:
        if config is None:
            raise ConfigError("no CA directory: pass --ca-dir or a configuration with tls.ca_dir")
        from security.tls_settings import settings_of

        ca_dir = settings_of(config).ca_path(config.base_dir)
    if (cn is None) == (renew is None):
        raise ConfigError("give exactly one of --cn NAME or --renew CERT")
    ca = SmCa(ca_dir)
    created = ca.ensure_root()
    pair = ca.renew(renew, days) if renew is not None else ca.issue(str(cn), san or None, days=days)
    details = {
        "subject": pair.subject,
        "sans": san or [],
        "days": days,
        "ca": str(ca.cert_path),
        "ca_created": created,
        "renewed": str(renew) if renew is not None else "",
        "cert": str(pair.sign_cert),
    }
    _record(config, "certs.issue", details)
    if as_json:
        _print_json(
            {
                "ca_created": created,
                "ca": str(ca.cert_path),
                "subject": pair.subject,
                "sign_cert": str(pair.sign_cert),
                "sign_key": str(pair.sign_key),
                "enc_cert": str(pair.enc_cert),
                "enc_key": str(pair.enc_key),
                "chain": str(pair.chain),
            }
        )
        return
    if created:
        _out.print(t("certs.ca_created", path=str(ca.cert_path)))
    key = "certs.renewed" if renew is not None else "certs.issued"
    _out.print(t(key, cn=pair.subject, dir=str(pair.directory)))


def _record(config: Any, action: str, details: dict[str, Any]) -> None:
    """Log to the configuration's audit log; a standalone run (--ca-dir, no config) has none to log to."""
    if config is None:
        _err.print(t("certs.not_logged", action=action))
        return
    record_action(config, action, details)


def _store(ctx: typer.Context) -> Any:
    from inventory.store import open_store

    return open_store(state(ctx).config().database_url)


@app.command("scan")
def scan(
    ctx: typer.Context,
    targets: Annotated[list[str] | None, typer.Argument(help="host:port targets.")] = None,
    from_inventory: Annotated[bool, typer.Option("--from-inventory", help=_H5)] = False,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, max=512)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, max=60)] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help=_H6)] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Probe TLS (versions, suite, chain), TLCP (GB/T 38636) and RFC 8998 on each endpoint."""
    from rich.progress import Progress

    from security import tlsscan
    from security.cert_collect import inventory_targets
    from security.tls_settings import TlsSettings, settings_of

    parsed = [tlsscan.parse_target(x) for x in targets or []]
    config = _config_or_none(ctx) if not from_inventory else state(ctx).config()
    settings = settings_of(config) if config is not None else TlsSettings()
    store = _store(ctx) if (from_inventory or (save and config is not None)) else None
    if from_inventory and store is not None:
        with store.session() as session:
            parsed += inventory_targets(session, config, settings)
    if not parsed:
        raise ConfigError(t("certs.no_targets"))
    # Label manual targets with what the config knows about them.
    known = {(e.host, e.port): e for e in settings.endpoints}
    for target in parsed:
        ep = known.get((target.host, target.port))
        if ep is not None and not target.system:
            target.system, target.department = ep.system, ep.department
    workers = concurrency or settings.concurrency
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task(t("certs.scanning", count=len(parsed)), total=len(parsed))
        results = tlsscan.scan(parsed, workers, timeout or settings.timeout, progress=lambda _r: progress.advance(task))
    if store is not None and save:
        from security.cert_store import save_scan

        with store.write_lock, store.session() as session:
            save_scan(session, results)
        _record(config, "certs.scan", {"endpoints": len(results), "failed": sum(not r.reachable for r in results)})
    if as_json:
        _print_json([r.to_dict() for r in results])
        return
    table = Table(title=t("certs.scan_title"))
    for col in (
        "col_endpoint",
        "col_system",
        "col_protocol",
        "col_versions",
        "col_suite",
        "col_key",
        "col_not_after",
        "col_error",
    ):
        table.add_column(t(f"certs.{col}"))
    for r in results:
        leaf = (r.tls.get("chain") or [None])[0] or r.tlcp.get("sign_cert") or {}
        suite = r.tls.get("cipher") or r.tlcp.get("cipher_name") or r.rfc8998.get("cipher_name") or ""
        table.add_row(
            r.target.address,
            escape(r.target.system),
            "+".join(r.protocols),
            " ".join(r.tls.get("versions", [])),
            suite,
            f"{leaf.get('key_type', '')}-{leaf.get('key_size', '')}" if leaf else "",
            str(leaf.get("not_after", ""))[:10],
            escape(r.error[:60]),
            style="red" if r.failed else None,
        )
    _out.print(table)
    _out.print(
        t(
            "certs.scan_summary",
            total=len(results),
            tlcp=sum(bool(r.tlcp.get("supported")) for r in results),
            rfc8998=sum(bool(r.rfc8998.get("supported")) for r in results),
            failed=sum(r.failed for r in results),
        )
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    endpoints: Annotated[bool, typer.Option("--endpoints", help="List endpoints instead of certificates.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Certificates (or endpoints) in the inventory, soonest expiry first."""
    from console.services import certificates
    from console.services.viewer import Viewer

    store, operator = _store(ctx), Viewer.operator()
    rows = certificates.endpoints(store, operator) if endpoints else certificates.certificates(store, operator)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        _out.print(t("certs.list_empty"))
        return
    if endpoints:
        table = Table(title=t("certs.scan_title"))
        for col in ("col_endpoint", "col_system", "col_protocol", "col_versions", "col_error"):
            table.add_column(t(f"certs.{col}"))
        for e in rows:
            protos = [p for p, on in (("TLS", e["tls_versions"]), ("TLCP", e["tlcp"]), ("RFC8998", e["rfc8998"])) if on]
            table.add_row(
                f"{e['host']}:{e['port']}",
                escape(e["system"]),
                "+".join(protos),
                " ".join(e["tls_versions"]),
                escape(e["error"][:60]),
            )
    else:
        table = Table(title=t("certs.list_title"))
        for col in ("col_subject", "col_sigalg", "col_key", "col_not_after", "col_days_left", "col_system", "col_seen"):
            table.add_column(t(f"certs.{col}"))
        for c in rows:
            days = c["days_left"]
            style = "red" if c["expired"] else "yellow" if days is not None and days <= 30 else None
            table.add_row(
                escape(c["subject"]),
                c["signature_algorithm"],
                f"{c['key_type']}-{c['key_size']}",
                (c["not_after"] or "")[:10],
                str(days),
                escape(c["system"]),
                escape(", ".join(c["seen_at"][:2])),
                style=style,
            )
    _out.print(table)


@app.command("collect")
def collect(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help=_H7)] = None,
    kubernetes: Annotated[bool, typer.Option("--kubernetes", help=_H8)] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add certificates from files and Kubernetes TLS secrets to the inventory."""
    from security.cert_collect import collect_from_files, collect_tls_secrets
    from security.cert_store import save_collected

    config = state(ctx).config()
    for path in paths or []:
        if not path.exists():
            raise ConfigError(t("certs.no_such_path", path=path))
    items, errors = collect_from_files(paths or [])
    if kubernetes:
        from inventory.credentials import provider_spec
        from providers import registry
        from providers.base import Capability
        from security.vault import VaultCredentials

        vault = VaultCredentials(config)
        for pc in config.providers:
            if Capability.TLS_SECRETS in registry.features(pc.driver):
                items += collect_tls_secrets(registry.create_provider(provider_spec(pc, vault)))
    store = _store(ctx)
    with store.write_lock, store.session() as session:
        count = save_collected(session, items)
    record_action(config, "certs.collect", {"certificates": count, "paths": [str(p) for p in paths or []],
                                            "kubernetes": kubernetes})  # fmt: skip
    if as_json:
        _print_json({"collected": count, "errors": errors})
    else:
        _out.print(t("certs.collected", count=count))
        for error in errors:
            _out.print(f"  - {escape(error)}", style="yellow")
    if errors:
        # Files the user pointed at that are not certificates: bad input, even if others were saved.
        raise ConfigError(t("certs.not_collected", count=len(errors)))


COMMAND = CommandSpec("certs", "certs.command_help", app)
