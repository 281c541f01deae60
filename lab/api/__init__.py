"""The OpenStack APIs of the lab, as pure request -> Reply functions (no sockets here): one
module per service (identity, compute, image, volume, network), the libvirt exporter, the shared cloud state
in cloud.py and the dispatch with its faults in runtime.py (LabRuntime)."""

__all__ = ["cloud", "compute", "exporter", "http", "identity", "image", "network", "runtime", "tokens", "volume"]
