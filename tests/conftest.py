"""Suite-wide checks on how the suite itself runs."""

from __future__ import annotations

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`make test` runs `--dist loadgroup`: the tests of one `xdist_group` share one worker, so
    a lab built by a session fixture is built once. pytest-xdist marks them by appending
    `@group` to each node id; when a pytest release stops honouring that (9.2 did), every
    group silently splits and the heavy labs are built once per worker. Fail those tests."""
    if (
        getattr(item.config.option, "loadgroup", False)
        and item.get_closest_marker("xdist_group")
        and "@" not in item.nodeid
    ):
        pytest.fail(
            "pytest-xdist could not group this test: this pytest and pytest-xdist do not work "
            "together (pin the versions in pyproject.toml)",
            pytrace=False,
        )
