"""One module per `ganyun` command group; console.cli composes them."""

__all__ = [
    "audit_cmd",
    "capacity_cmd",
    "certs_cmd",
    "comply_cmd",
    "console_cmd",
    "drill_cmd",
    "inventory_cmd",
    "lab_cmd",
    "migrate_cmd",
    "sync_cmd",
    "users_cmd",
    "vault_cmd",
    "version_cmd",
]
