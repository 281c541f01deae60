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


# The longest xdist groups, longest first (about 7, 3, 2.5, 3, 2 and 1.5 minutes here). With
# `--no-loadscope-reorder` xdist hands out work in collection order; started last, the
# Patroni lab alone would add its seven minutes to the end of the run.
LONGEST_GROUPS = ("dr_patroni", "migration-real-clouds", "dr_netns", "demo", "dr_loopback", "file-modes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("xdist_group")
        name = str(marker.args[0]) if marker and marker.args else ""
        return LONGEST_GROUPS.index(name) if name in LONGEST_GROUPS else len(LONGEST_GROUPS)

    items.sort(key=rank)  # stable: everything else keeps its collection order
