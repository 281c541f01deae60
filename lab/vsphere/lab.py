"""`ganyun lab up --vsphere`: the legacy cloud gov-vmware, a simulated vCenter in gz-prod.

`start` runs the simulator in D/vsphere (reusing one that already serves the same estate with
the password in the vault), keeps its password in the lab's vault like the other clouds' and
returns its D/ganyun.yaml provider entry; `stop` stops exactly that simulator.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from lab.vsphere import simulator
from lab.vsphere.estate import USERNAME, vsphere_estate

PROVIDER = "gov-vmware"
CENTER = "gz-prod"
STATE_DIR = "vsphere"
PROVIDER_TIMEOUT_S = 15.0


def _vault(root: Path, config: dict[str, Any]) -> Any:
    from inventory.config import parse_config
    from security.vault import Vault

    return Vault.open(parse_config(config, base_dir=str(root)), create=True)


def start(root: Path, config: dict[str, Any], scale: str, seed: int) -> dict[str, Any]:
    """Start (or keep) the simulator; the provider entry for D/ganyun.yaml."""
    state_dir = root / STATE_DIR
    estate = vsphere_estate(scale, seed)
    vault = _vault(root, config)
    try:
        user, password = vault.get(PROVIDER)
    except KeyError:
        user, password = USERNAME, ""
    wanted = estate.seed({n: str(simulator.datastore_dir(state_dir.resolve(), n)) for n in estate.datastores})
    running = simulator.running(state_dir)
    if running is not None and (not password or _served_seed(state_dir) != wanted):
        # A new password (the lab's vault was renewed) or another scale: a new vCenter.
        simulator.stop(state_dir)
        running = None
    if not password:
        password = secrets.token_urlsafe(18)
        vault.set(PROVIDER, user, password)
    if running is None:
        running = simulator.start(state_dir, estate, user, password)
    return {
        "name": PROVIDER,
        "driver": "vsphere",
        "center": CENTER,
        "pool": "legacy",
        "credentials": f"vault:{PROVIDER}",
        "options": {"host": running.host, "port": running.port, "ca_cert": str(running.ca_file)},
        "timeout_s": PROVIDER_TIMEOUT_S,
    }


def _served_seed(state_dir: Path) -> Any:
    try:
        return json.loads((state_dir / simulator.SEED_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def is_running(root: Path) -> bool:
    return simulator.running(root / STATE_DIR) is not None


def stop(root: Path) -> int | None:
    """Stop the simulator of this lab directory; its pid, or None when none ran."""
    return simulator.stop(root / STATE_DIR)
