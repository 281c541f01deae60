"""The read services: what console pages, exports, the CLI and the REST API call.

Every function takes the Viewer (viewer.py) who reads and applies its scope there, once, in
SQL where the data allows (ownership.py says what a scoped account owns). Pages never filter
by department themselves. One module per area.
"""

__all__ = ["audit", "capacity", "certificates", "compliance", "drills", "inventory", "migration", "viewer"]
