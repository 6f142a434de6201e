"""The package's layers, checked by walking every import in src/ (issue 10).

Front doors (cli/, a web console) sit on flow/, which drives the layers
below; nothing runs back up, there is no cycle, and only cli/ speaks click.
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = "abuse_intake"
SRC = Path(__file__).resolve().parent.parent / "src" / PKG
FRONT = ("cli", "web")
BELOW_FLOW = ("intake", "parse", "extract", "cases", "notify", "policy", "store")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> [(imported module, names taken from it, line)] for every import statement."""
    found: dict[str, list[tuple[str, list[str], int]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out = found.setdefault(name, [])
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out.extend((a.name, [], node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [a.name for a in node.names]
                out.append((target, names, node.lineno))
                # `from . import x` / `from .store import cases`: x may be a module itself
                for n in names:
                    where = SRC.parent / f"{target}.{n}".replace(".", "/")
                    if where.with_suffix(".py").exists() or (where / "__init__.py").exists():
                        out.append((f"{target}.{n}", [], node.lineno))
    return found


IMPORTS = _imports()
MODULES = set(IMPORTS)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _internal(target: str) -> str | None:
    """The package module an import names (a module, or the package holding the name)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_the_walk_sees_the_package():
    assert {"abuse_intake.flow.process", "abuse_intake.flow.poll", "abuse_intake.store.db",
            "abuse_intake.intake.imap", "abuse_intake.cli"} <= MODULES
    # relative imports resolve: store/messages.py takes Cursor from models.py
    assert any(t == "abuse_intake.models" and "Cursor" in names for t, names, _ in IMPORTS["abuse_intake.store.messages"])
    # `from .store import cases as case_store` counts as an import of the module store.cases
    assert any(t == "abuse_intake.store.cases" for t, _, _ in IMPORTS["abuse_intake.flow.process"])


@pytest.mark.parametrize("layer", BELOW_FLOW)
def test_no_layer_below_the_flow_imports_the_flow_or_a_front_door(layer):
    bad = [f"{m}:{line} imports {t}" for m, deps in IMPORTS.items() if _layer(m) == layer
           for t, _, line in deps if _layer(_internal(t) or "") in ("flow", *FRONT) and t.startswith(PKG)]
    assert bad == []


def test_store_never_imports_intake():
    bad = [f"{m}:{line} imports {t}" for m, deps in IMPORTS.items() if _layer(m) == "store"
           for t, _, line in deps if t.startswith(f"{PKG}.intake")]
    assert bad == []


def test_the_flow_never_imports_a_front_door():
    bad = [f"{m}:{line} imports {t}" for m, deps in IMPORTS.items() if _layer(m) == "flow"
           for t, _, line in deps if _layer(t) in FRONT and t.startswith(PKG)]
    assert bad == []


def test_only_the_cli_imports_click():
    bad = [f"{m}:{line}" for m, deps in IMPORTS.items() if _layer(m) != "cli"
           for t, _, line in deps if t == "click" or t.startswith("click.")]
    assert bad == []


def test_no_private_name_is_imported_from_another_module():
    bad = [f"{m}:{line} takes {n} from {t}" for m, deps in IMPORTS.items()
           for t, names, line in deps if t.startswith(PKG) and t != m
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_there_is_no_import_cycle():
    graph = {m: sorted({i for t, _, _ in deps if (i := _internal(t)) and i != m}) for m, deps in IMPORTS.items()}
    # A package's __init__ is imported on the way to any of its modules: that edge is not a dependency
    # the module chose, so a package importing its own submodule (intake/__init__ -> intake.imap) is fine.
    for m in graph:
        graph[m] = [d for d in graph[m] if not (m.startswith(d + ".") and d != PKG)]
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in graph.get(node, []):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]) if dep in path else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
