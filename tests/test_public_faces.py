"""Each package says what it exports, and nothing reaches past that.

- No module imports a `_private` name, or a module named `_private`, from another of ganyun's
  modules (tests included: they test through the same faces).
- A package that other code imports lists its public modules and names in `__all__`, and code
  outside the package imports only those (tests excepted: they may open a package up).
- Console pages read through console/services: they import neither SQLAlchemy nor any tables.
- There is no import circle, imports inside functions included.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("providers", "inventory", "playbooks", "security", "console", "lab")
OURS = (*PACKAGES, "tests")


def _modules(tops: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for top in tops:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules(OURS)
PACKAGE_NAMES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _imports(name: str, path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) with relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, base, alias.name


def _is_ours(module: str) -> bool:
    return module.split(".")[0] in OURS


def test_no_module_imports_a_private_name_of_another() -> None:
    found = []
    for name, path in MODULES.items():
        for line, module, imported in _imports(name, path):
            if not _is_ours(module) or module == name:
                continue
            private_part = [p for p in module.split(".") if p.startswith("_") and not p.startswith("__")]
            private_name = imported is not None and imported.startswith("_") and not imported.startswith("__")
            if private_part or private_name:
                found.append(f"{path.relative_to(ROOT)}:{line}: {module} {imported or ''}".strip())
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def _declared(package: str) -> set[str] | None:
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    return None


def _outside_uses() -> dict[str, dict[str, list[str]]]:
    """package -> {what product code outside it imports from it -> where}."""
    uses: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, path in _modules(PACKAGES).items():
        for line, module, imported in _imports(name, path):
            if not _is_ours(module):
                continue
            target = module if imported is None or module not in PACKAGE_NAMES else f"{module}.{imported}"
            parts = target.split(".")
            for i in range(1, len(parts)):
                package = ".".join(parts[:i])
                inside = name == package or name.startswith(package + ".")
                if package in PACKAGE_NAMES and not inside:
                    uses[package][parts[i]].append(f"{path.relative_to(ROOT)}:{line}")
    return uses


def test_imported_packages_state_their_exports_and_are_used_through_them() -> None:
    problems = []
    for package, used in sorted(_outside_uses().items()):
        declared = _declared(package)
        if declared is None:
            problems.append(f"{package}: imported from outside ({', '.join(sorted(used))}) but states no __all__")
            continue
        for child, where in sorted(used.items()):
            if child not in declared:
                problems.append(f"{package}.{child} is not in {package}.__all__ (imported at {where[0]})")
    assert not problems, "\n".join(problems)


def test_declared_exports_exist() -> None:
    for package in PACKAGE_NAMES:
        for exported in _declared(package) or ():
            module = f"{package}.{exported}"
            defined = module in MODULES or exported in MODULES[package].read_text(encoding="utf-8")
            assert defined, f"{package}.__all__ names {exported!r}, which is neither a module nor defined there"


@pytest.mark.parametrize("page", sorted((ROOT / "console" / "app_pages").glob("*.py")), ids=lambda p: p.stem)
def test_pages_read_only_through_the_service_layer(page: Path) -> None:
    name = f"console.app_pages.{page.stem}"
    for line, module, imported in _imports(name, page):
        table = (imported or module.rpartition(".")[2]).endswith("models")
        assert module.split(".")[0] != "sqlalchemy" and not table, f"{page.name}:{line} imports {module} {imported}"


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in _modules(PACKAGES).items():
        for _line, module, imported in _imports(name, path):
            for target in (f"{module}.{imported}" if imported else None, module):
                while target and target not in MODULES:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
                    break
    assert not _circles(graph)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for vertex in list(graph):
        if vertex not in index:
            visit(vertex)
    return found
