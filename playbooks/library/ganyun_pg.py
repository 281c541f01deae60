#!/usr/bin/python
"""Ansible module ganyun_pg: one DR step taken from the control node (read the members' state,
wait for replication, ask the HA manager), through the drill's ClusterOps.

It runs with ganyun's own interpreter on the control node; what changes a member's host is
the other module, ganyun_pgnode, delegated to that host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ganyun_pg
short_description: DR drill steps on the control node (preflight, waits, Patroni API, verification)
options:
  action: {required: true, type: str}
  config_file: {required: true, type: str}
  center: {type: str}
  upstream: {type: str}
  centers: {type: list, elements: str}
  lsn: {type: str}
  since: {type: float, default: 0, description: verify_manager - the manager reached the DCS after this epoch}
  require_sync: {type: bool, default: false}
  require: {type: list, elements: str}
"""

from typing import Any  # noqa: E402 - Ansible wants DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ACTIONS = (
    "status",
    "preflight",
    "wait_caught_up",
    "wait_leader",
    "wait_streaming",
    "checkpoint",
    "follow_plan",
    "sync_names",
    "wait_sync",
    "switchover",
    "failover",
    "record_fenced",
    "clear_fenced",
    "verify",
    "verify_manager",
    "safe_state",
    "appsync",
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
            "config_file": {"type": "str", "required": True},
            "center": {"type": "str"},
            "upstream": {"type": "str"},
            "centers": {"type": "list", "elements": "str", "default": []},
            "lsn": {"type": "str"},
            "since": {"type": "float", "default": 0.0},
            "require_sync": {"type": "bool", "default": False},
            "require": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        from playbooks.drill import steps
    except ImportError as exc:
        module.fail_json(msg=f"ganyun is not importable by {__import__('sys').executable}: {exc}")
        return
    try:
        result: dict[str, Any] = steps.dispatch(p)
    except Exception as exc:  # every failure becomes a task failure with its message
        module.fail_json(msg=f"{p['action']}: {exc}")
        return
    changed = bool(result.pop("changed", False))
    module.exit_json(changed=changed, ganyun_drill={"action": p["action"], **result})


if __name__ == "__main__":
    main()
