"""Capacity: allocation against physical, forecasts, rack fill, showback, Xinchuang progress,
rightsizing and migration headroom.

The modules form layers, each importing only those below it:

    api, upkeep                   the public faces (read side, write side)
    report, export                the report and its workbook and HTML renderings
    headroom, forecast            what-if and forecasts over the sections and the samples
    history                       the capacity history file, imported once into the samples
    provider_rollups, daily_rollups, rollup_guard, forecast_fits
                                  derived tables that keep the report cheap
    pools, showback, rightsizing  sections computed from query rows
    queries, models               the GROUP BYs and the tables

Code outside this package imports `api` (reports) or `upkeep` (what sync and the store call
to keep the derived tables current), nothing else.
"""

__all__ = ["api", "upkeep"]
