"""A vCenter for the lab and the tests: VMware's govmomi simulator, built here and seeded with
part of the estate (clusters, hosts with their CPU models, VMs with guest OS and custom
attributes, real VMDK files in the datastores)."""

__all__ = ["estate", "lab"]
