#!/usr/bin/python
"""Ansible module: one migration step against ganyun's providers.

Runs inside the venv's Python (ansible_python_interpreter), so it imports ganyun directly.
Credentials are read from the vault or environment inside this process; nothing secret is
passed as a module argument or returned.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ganyun_migrate
short_description: Run one step of a ganyun VM migration (snapshot, boot, copy, cutover, rollback...)
options:
  step: {description: Step name, required: true, type: str}
  config: {description: Path of ganyun.yaml, required: true, type: path}
  item: {description: The plan item (one VM), required: true, type: dict}
  state: {description: The VM's migration state so far, type: dict, default: {}}
  run_id: {description: Migration run id, required: true, type: int}
  workdir: {description: Directory for temporary images, required: true, type: path}
  faults: {description: Lab-only fault injection, type: list, elements: str, default: []}
"""

RETURN = r"""
state: {description: The VM's state after the step, returned: always, type: dict}
step: {description: The step that ran, returned: always, type: str}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation, as Ansible expects


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True},
            "config": {"type": "path", "required": True},
            "item": {"type": "dict", "required": True},
            "state": {"type": "dict", "default": {}},
            "run_id": {"type": "int", "required": True},
            "workdir": {"type": "path", "required": True},
            "faults": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        from playbooks.migration_steps import StepError, run_step
        from providers.errors import GanyunError
    except ImportError as exc:  # wrong interpreter: say which one
        module.fail_json(msg=f"ganyun is not importable from this Python: {exc}")
        return
    try:
        faults = frozenset(p["faults"])
        state = run_step(p["step"], p["config"], p["item"], p["state"], p["run_id"], p["workdir"], faults)
    except StepError as exc:
        module.fail_json(msg=str(exc), step=p["step"], state=exc.state or p["state"])
        return
    except GanyunError as exc:
        module.fail_json(msg=f"{p['item'].get('name', '?')}: {p['step']}: {exc}", step=p["step"], state=p["state"])
        return
    except Exception as exc:  # a bug still ends as one failed step, which the rescue handles
        from providers.masking import mask

        detail = mask(f"{type(exc).__name__}: {exc}")
        module.fail_json(msg=f"{p['item'].get('name', '?')}: {p['step']}: unexpected error: {detail}", step=p["step"],
                         state=p["state"])  # fmt: skip
        return
    module.exit_json(changed=True, step=p["step"], state=state)


if __name__ == "__main__":
    main()
