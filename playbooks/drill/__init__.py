"""Two-site three-center DR drills: the engine, their history and reports, and the PostgreSQL
operations a drill performs."""

__all__ = ["engine", "history", "pgops", "report"]
