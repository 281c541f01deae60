"""The lab estate: simulated peers for `ganyun lab` and the tests, never imported by product code.

`seed.build_estate(scale)` gives the data; `server` serves it over HTTP; `control` starts and
stops the server in the background and writes a ready ganyun.yaml.
"""

__all__ = ["catalog", "control", "demo", "disks", "dr", "faults", "seed", "server", "vsphere"]
