"""Jinja filters for files ganyun renders from inventory values (see inventory/tenant_text.py).

`{{ value | ganyun_escape }}`: the value on one line, backslash and control characters written
as escapes. Every expression in a template under playbooks/roles/*/templates ends with it
(tests/security/test_tenant_text_ansible.py checks that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inventory.tenant_text import escape_controls


class FilterModule:
    def filters(self) -> dict[str, Callable[[Any], str]]:
        return {"ganyun_escape": escape_controls}
