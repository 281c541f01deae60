"""The test doubles every test shares: a fake provider that declares what it can do as data
(`FakeProvider` over a `FakeCloud`), an in-memory cloud with the optional abilities a migration
drives (`MemoryCloud`), and the fixed estates built from them (`tests.fakes.estates`).

A test that needs a provider to break one way builds it from these (a `FakeCloud` with
`fail_nodes` or `forbidden`, a `MemoryCloud` with `refuse_host`), not a class of its own.
"""

from tests.fakes.memory import EVERY_ABILITY, MemoryCloud
from tests.fakes.provider import LISTINGS, UNAVAILABLE, FakeCloud, FakeProvider, factory, make_node

__all__ = [
    "EVERY_ABILITY",
    "LISTINGS",
    "UNAVAILABLE",
    "FakeCloud",
    "FakeProvider",
    "MemoryCloud",
    "factory",
    "make_node",
]
