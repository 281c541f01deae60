"""Fixed estates synced into a real inventory store through the fake providers.

city: three centers, four clouds (one failing), a user per role (console pages).
capacity: three small clouds whose capacity figures the tests compute by hand.
migration: one legacy cloud and two Xinchuang targets (planning, migration pages).
compliance: two systems with volumes and security groups, plus certificate and endpoint facts.
lab: the lab's seeded estate without HTTP (capacity at city scale, benchmarks).
"""
