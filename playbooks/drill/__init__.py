"""Two-site three-center DR drills: the engine, the scenarios (one folder each under
playbooks/drills/), the ClusterOps interface to each center's database, the steps the
playbooks run, and the drills' history and reports."""

__all__ = ["cluster", "engine", "history", "report", "scenarios", "steps"]
