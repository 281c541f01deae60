"""Ansible content and what runs it: migrations (plans into runs and steps) and DR drills."""

__all__ = ["drill", "migration", "migration_steps"]
