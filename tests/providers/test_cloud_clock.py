"""The cloud's clock comes from the `Date` header a cloud (or a proxy before it) writes: any
value that is not an HTTP date gives no clock (the next sync then lists everything), never an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from providers.openstack_api import http_date


@pytest.mark.parametrize(
    "value",
    ["garbage", "", "Mon, 01 Jan 99999 00:00:00 GMT", "Sun, 06 Dec 2026 99:99:99 GMT", "9" * 5000,
     "{{ lookup('pipe','id') }}", None, ["Sun, 06 Dec 2026 13:59:22 GMT"], 1765029562],
)  # fmt: skip
def test_what_is_not_an_http_date_gives_no_clock(value: Any) -> None:
    assert http_date({"date": value}) is None


def test_an_http_date_is_an_aware_time_in_either_header_spelling() -> None:
    assert http_date({"date": "Sun, 06 Dec 2026 13:59:22 GMT"}) == datetime(2026, 12, 6, 13, 59, 22, tzinfo=UTC)
    east8 = http_date({"Date": "Sun, 06 Dec 2026 21:59:22 +0800"})
    assert east8 == datetime(2026, 12, 6, 21, 59, 22, tzinfo=timezone(timedelta(hours=8)))
    assert east8 == datetime(2026, 12, 6, 13, 59, 22, tzinfo=UTC)
    assert http_date({}) is None
