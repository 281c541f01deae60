"""The resource inventory and everything computed from it: configuration, the store and its
tables, sync, queries, capacity, migration planning and the account scope."""

__all__ = [
    "ansible",
    "assessment",
    "bulk",
    "capacity",
    "clouds_yaml",
    "config",
    "credentials",
    "dr_config",
    "drill_models",
    "migration_models",
    "models",
    "plan_schema",
    "planning",
    "provider_check",
    "query",
    "scope",
    "store",
    "sync",
    "tenant_text",
    "topology",
]
