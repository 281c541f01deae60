"""One seeded vSphere simulator per test module (VMware's govmomi simulator, see lab/vsphere)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.vsphere import simulator
from lab.vsphere.estate import USERNAME, VSphereEstate, vsphere_estate
from providers.base import ProviderSpec
from providers.vsphere import session as vsphere_session
from providers.vsphere.adapter import VSphereAdapter

PASSWORD = "test-Passw0rd-vcsim"
PROVIDER = "gov-vmware"


@dataclass
class VCenter:
    running: simulator.Running
    state_dir: Path
    estate: VSphereEstate

    def spec(self, password: str = PASSWORD, port: int | None = None) -> ProviderSpec:
        return ProviderSpec(
            name=PROVIDER,
            driver="vsphere",
            key=USERNAME,
            secret=password,
            options={
                "host": self.running.host,
                "port": port or self.running.port,
                "ca_cert": str(self.running.ca_file),
            },
            timeout_s=15.0,
        )

    def adapter(self) -> VSphereAdapter:
        return VSphereAdapter(self.spec())

    def client(self) -> Any:
        """A separate administrator's session: changes made here are someone else's."""
        from pyVim.connect import SmartConnect

        context = ssl.create_default_context(cafile=str(self.running.ca_file))
        return SmartConnect(
            host=self.running.host, port=self.running.port, user=USERNAME, pwd=PASSWORD, sslContext=context
        )


@pytest.fixture(scope="module")
def vcenter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCenter]:
    state_dir = tmp_path_factory.mktemp("vcenter")
    estate = vsphere_estate("small")
    running = simulator.start(state_dir, estate, USERNAME, PASSWORD)
    try:
        yield VCenter(running, state_dir, estate)
    finally:
        vsphere_session.forget(PROVIDER)
        simulator.stop(state_dir)
