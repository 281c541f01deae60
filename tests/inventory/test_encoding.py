"""Row encoding: one value per stored column, canonical JSON, fingerprints that move with content."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from inventory.encoding import columns_for, dumps, encode_listing
from providers.base import Host, Kind, Record, Volume
from tests.fakes import make_node

RECORDS: list[tuple[Kind, Record]] = [
    (Kind.NODE, make_node("p", 1)),
    (Kind.HOST, Host(provider="p", id="h1", name="h1", vcpus=64, rack="A01", power_kw=0.45)),
    (Kind.VOLUME, Volume(provider="p", id="v1", name="v1", size_gb=100, attached_to=("n1",))),
]


@pytest.mark.parametrize(("kind", "record"), RECORDS)
def test_one_value_per_column_and_fingerprint_follows_content(kind: Kind, record: Record) -> None:
    listing = encode_listing(kind, [record, replace(record, name="renamed"), record])
    assert all(len(values) == len(columns_for(kind)) for values in listing.values)
    first, renamed, again = listing.fingerprints
    assert first == again != renamed and len(first) == 40


def test_canonical_json_sorts_keys_keeps_chinese_and_stringifies_datetimes() -> None:
    moment = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert dumps({"b": 1, "a": {"单位": "市人社局"}}) == '{"a":{"单位":"市人社局"},"b":1}'
    assert dumps({"at": moment}) == '{"at":"2026-11-29 08:00:00+00:00"}'
    assert dumps({"big": 2**70}) == '{"big":1180591620717411303424}'
