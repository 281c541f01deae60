"""The lab estate: OpenStack-API clouds on loopback, seeded deterministically, with faults.

`seed.build_estate(scale)` gives the data; `server` serves it over HTTP; `control` starts and
stops the server in the background and writes a ready ganyun.yaml.
"""
