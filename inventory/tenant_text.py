"""Text a tenant or a cloud wrote, made inert for each place ganyun puts it.

Names, tags, metadata and ids come from clouds that tenants control. They are data, never
code, in every sink:

- Ansible: `ansible_unsafe` marks every string `{"__ansible_unsafe": ...}` (the JSON form
  ansible-core reads in inventories and extra-vars files), so Jinja in a VM name is printed,
  never run. Module results are untrusted by ansible-core itself.
- rendered text files (app.conf): `escape_controls` keeps a value on its one line.
- file paths: `path_component` accepts an id only when it is one plain path segment.
- spreadsheets (CSV, XLSX): `inert_cell` is the OWASP CSV-injection rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from providers.errors import PlaybookError

if TYPE_CHECKING:
    from openpyxl import Workbook

UNSAFE_KEY = "__ansible_unsafe"
# ansible-core's JSON decoder turns any object holding one of these keys into something else
# (an untrusted string, a vault secret, a serialized type): data must never carry them.
_ANSIBLE_MAGIC_PREFIX = "__ansible"

_PATH_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_PLAIN_HOST = re.compile(r"[0-9A-Za-z_\u4e00-\u9fff][0-9A-Za-z_.\-\u4e00-\u9fff]{0,199}")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------- Ansible


def ansible_unsafe(value: Any) -> Any:
    """A JSON-ready copy of `value` in which every string is marked unsafe for Ansible.

    Mappings and sequences are walked; numbers, booleans and None stay as they are. Keys stay
    plain strings (ansible-core does not template keys) but may not look like the decoder's
    own markers.
    """
    if isinstance(value, str):
        return {UNSAFE_KEY: value}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if name.startswith(_ANSIBLE_MAGIC_PREFIX):
                raise PlaybookError(f"refusing to pass the key {name!r} to Ansible: it would be decoded, not read")
            out[name] = ansible_unsafe(item)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [ansible_unsafe(item) for item in value]
    return value


def plain_host_name(name: str) -> bool:
    """An inventory host name that is safe as a --limit pattern and as a directory name
    (collect_certs fetches into <dest>/<inventory_hostname>/): letters (CJK too), digits,
    `_`, `.`, `-`, no `..`."""
    return bool(_PLAIN_HOST.fullmatch(name)) and ".." not in name


def unsafe_inventory(inventory: Mapping[str, Any]) -> dict[str, Any]:
    """A YAML/JSON-structured inventory whose host and group variables are all marked unsafe.

    Host and group names are structure (keys), not variables: ansible-core does not template
    them, and callers keep them plain (`plain_host_name`).
    """
    out: dict[str, Any] = {}
    for group, body in inventory.items():
        if not isinstance(body, Mapping):
            out[group] = body
            continue
        section: dict[str, Any] = {}
        for key, value in body.items():
            if key == "hosts" and isinstance(value, Mapping):
                section[key] = {host: ansible_unsafe(dict(hv or {})) for host, hv in value.items()}
            elif key == "vars":
                section[key] = ansible_unsafe(value)
            elif key == "children" and isinstance(value, Mapping):
                section[key] = unsafe_inventory(value)
            else:
                section[key] = value
        out[group] = section
    return out


# --------------------------------------------------------------------------- rendered files


def _is_control(char: str) -> bool:
    # Cc covers C0, DEL and C1 (NEL included); Zl/Zp are the Unicode line and paragraph
    # separators that many readers also treat as line breaks.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def escape_controls(text: Any) -> str:
    """`text` on one line: backslash and every control character written as an escape.

    Reversible (`\\\\`, `\\n`, `\\r`, `\\t`, `\\0`, `\\xNN`, `\\uNNNN`), and a value without
    backslash or control characters is unchanged.
    """
    raw = "" if text is None else str(text)
    out: list[str] = []
    for char in raw:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif _is_control(char):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


# --------------------------------------------------------------------------- paths


def path_component(value: Any, what: str) -> str:
    """`value` when it can be one directory or file name, else a PlaybookError naming `what`.

    One segment of letters, digits, `.`, `_` and `-`, starting with a letter or digit (so
    never `.`, `..`, hidden or an option), at most 200 characters: every cloud's ids fit.
    """
    text = str(value)
    if not _PATH_COMPONENT.fullmatch(text):
        raise PlaybookError(f"{what} {text!r} cannot name a file: expected letters, digits, '.', '_' or '-'")
    return text


# --------------------------------------------------------------------------- spreadsheets


def inert_cell(value: Any) -> Any:
    """A spreadsheet cell that no reader evaluates (OWASP CSV injection).

    Text starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading single quote;
    numbers, booleans, dates and None are returned unchanged, so numeric columns stay numeric.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def inert_workbook(workbook: Workbook) -> None:
    """Every text cell of every sheet made inert, just before the workbook is saved.

    openpyxl stores a string starting with "=" as a formula; assigning the quoted text turns
    the cell back into a string cell.
    """
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS):
                    cell.value = inert_cell(cell.value)
