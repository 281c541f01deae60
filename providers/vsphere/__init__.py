"""VMware vSphere (vCenter, ESXi) through pyVmomi: session, property-collector reads and change
tracking, record mapping, actions and error mapping, one module each; the adapter is
providers.vsphere.adapter.VSphereAdapter."""

__all__ = ["adapter"]
