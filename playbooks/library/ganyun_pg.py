#!/usr/bin/python
"""Ansible module ganyun_pg: one DR step on the lab's PostgreSQL clusters.

The logic lives in playbooks.drill.pgops (importable because the controller runs modules
with ganyun's own interpreter); this module only maps arguments and errors.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ganyun_pg
short_description: DR drill steps (preflight, fence, promote, follow, ...) on PostgreSQL
options:
  action: {required: true, type: str}
  lab_dir: {required: true, type: str}
  center: {type: str}
  upstream: {type: str}
  centers: {type: list, elements: str}
  lsn: {type: str}
  run_id: {type: str}
  require_sync: {type: bool, default: false}
  require: {type: list, elements: str}
  promote: {type: str, description: after fence or stop_primary, promote this center in the same step}
"""

from typing import Any  # noqa: E402 - Ansible wants DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ACTIONS = (
    "status",
    "verify",
    "preflight",
    "fence",
    "stop_primary",
    "wait_caught_up",
    "promote",
    "set_sync",
    "follow",
    "safe_state",
    "appsync",
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
            "lab_dir": {"type": "str", "required": True},
            "center": {"type": "str"},
            "upstream": {"type": "str"},
            "centers": {"type": "list", "elements": "str", "default": []},
            "lsn": {"type": "str"},
            "run_id": {"type": "str", "default": "manual"},
            "require_sync": {"type": "bool", "default": False},
            "require": {"type": "list", "elements": "str", "default": []},
            "promote": {"type": "str"},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        from playbooks.drill import pgops
    except ImportError as exc:
        module.fail_json(msg=f"ganyun is not importable by {__import__('sys').executable}: {exc}")
        return
    try:
        section = pgops.load(p["lab_dir"])
        result: dict[str, Any] = _dispatch(pgops, section, p)
    except Exception as exc:  # every failure becomes a task failure with its message
        module.fail_json(msg=f"{p['action']}: {exc}")
        return
    changed = bool(result.pop("changed", False))
    module.exit_json(changed=changed, ganyun_drill={"action": p["action"], **result})


def _dispatch(pgops: Any, section: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    action = p["action"]
    if action == "status":
        return {"changed": False, "clusters": pgops.statuses(section)}
    if action == "verify":
        return dict(pgops.expect_primary(section, p["center"]))
    if action == "preflight":
        return {"changed": False, **pgops.preflight(section, p["center"], p["require_sync"], p["require"])}
    if action == "fence":
        out: dict[str, Any] = {"changed": False, "fenced": []}
        for center in p["centers"]:
            res = pgops.fence(section, center, p["run_id"], "drill fault injection")
            out["changed"] = out["changed"] or res["changed"]
            out["fenced"].append(res)
        times = [r["fault_at"] for r in out["fenced"] if r["fault_at"]]
        out["fault_at"] = min(times) if times else None
        # Promotion follows in the same process: Ansible's per-task start-up (1-3 s on a
        # loaded host) would otherwise be counted in the RTO.
        if p["promote"]:
            out["promotion"] = pgops.promote(section, p["promote"])
            out["promoted_at"] = out["promotion"].get("promoted_at")
        return out
    if action == "stop_primary":
        out = dict(pgops.stop_primary(section, p["center"]))
        if p["promote"]:
            out["catchup"] = pgops.wait_caught_up(section, p["promote"], out["end_lsn"])
            out["promotion"] = pgops.promote(section, p["promote"])
            out["promoted_at"] = out["promotion"].get("promoted_at")
            out["changed"] = True
        return out
    if action == "wait_caught_up":
        return dict(pgops.wait_caught_up(section, p["center"], p["lsn"]))
    if action == "promote":
        return dict(pgops.promote(section, p["center"]))
    if action == "set_sync":
        return dict(pgops.set_sync(section, p["center"]))
    if action == "follow":
        out = {"changed": False, "followed": []}
        for center in p["centers"]:
            res = pgops.follow(section, center, p["upstream"])
            out["changed"] = out["changed"] or res["changed"]
            out["followed"].append(res)
        out["sync"] = pgops.set_sync(section, p["upstream"])
        out["changed"] = out["changed"] or out["sync"].pop("changed")
        return out
    if action == "safe_state":
        return dict(pgops.safe_state(section, p["center"]))
    return dict(pgops.appsync(section, p["center"]))


if __name__ == "__main__":
    main()
