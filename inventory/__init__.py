"""The resource inventory and everything computed from it: configuration, the store and its
tables, sync, queries, capacity, migration planning and the account scope."""

__all__ = [
    "ansible",
    "assessment",
    "bulk",
    "capacity",
    "config",
    "credentials",
    "dr_config",
    "drill_models",
    "migration_models",
    "models",
    "plan_schema",
    "planning",
    "query",
    "scope",
    "store",
    "sync",
    "tenant_text",
    "topology",
]
