"""The OpenStack APIs of the lab, as pure request -> Reply functions (no sockets here): one
module per service (identity, compute, image, volume, network, metric), the shared cloud state
in cloud.py and the dispatch with its faults in runtime.py."""

from lab.api.http import Reply, Request
from lab.api.runtime import LabRuntime

__all__ = ["LabRuntime", "Reply", "Request"]
