"""The fault model on its own: parsing, defaults, the deterministic failure fraction."""

from __future__ import annotations

import pytest

from lab.faults import FailureCounter, FaultError, Faults, parse_assignment


def test_natural_on_values_and_parsing() -> None:
    f = Faults()
    for text in ("http500", "latency_ms=75", "timeout=2.5", "garbage", "forbidden=hypervisors,volumes", "boot_error"):
        f.set(*parse_assignment(text))
    assert f.active() == {
        "http500": 1.0,
        "latency_ms": 75,
        "timeout": 2.5,
        "garbage": True,
        "forbidden": ["hypervisors", "volumes"],
        "boot_error": True,
    }
    f.set("garbage", "off")
    assert "garbage" not in f.active()
    assert Faults.from_dict(f.to_dict()) == f


@pytest.mark.parametrize(
    "text", ["bogus", "http500=1.5", "latency_ms=abc", "forbidden=planets", "forbidden", "garbage=maybe"]
)
def test_bad_faults_are_refused(text: str) -> None:
    with pytest.raises(FaultError):
        Faults().set(*parse_assignment(text))


@pytest.mark.parametrize(("rate", "fails"), [(0.0, 0), (0.25, 5), (0.5, 10), (1.0, 20)])
def test_failure_fraction_is_exact(rate: float, fails: int) -> None:
    counter = FailureCounter()
    assert sum(counter.should_fail(rate) for _ in range(20)) == fails


def test_timing_and_transient_failure_kinds() -> None:
    f = Faults()
    for text in ("image_seconds=12.5", "boot_seconds", "image_failures=0.25", "boot_failures", "no_forced_host"):
        f.set(*parse_assignment(text))
    assert f.active() == {
        "image_seconds": 12.5,
        "boot_seconds": 30.0,
        "image_failures": 0.25,
        "boot_failures": 0.5,
        "no_forced_host": True,
    }
    for bad in ("image_failures=2", "boot_seconds=inf", "image_seconds=soon", "missing=floating_ipz"):
        with pytest.raises(FaultError):
            Faults().set(*parse_assignment(bad))
    assert Faults.from_dict({"missing": "floating_ips"}).missing == ["floating_ips"]
