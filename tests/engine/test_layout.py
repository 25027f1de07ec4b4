"""The engine's rooms (issue 17): no import circle inside app/engine, the flows never reach back up to the
module that runs them, and no flow builds SQL of its own (the store names the questions: app.store.repository).

Read from the source (ast), so a function-level import counts too; imports under ``if TYPE_CHECKING:`` are
for type hints only and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "app" / "engine"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from app.engine import bankwatch`` imports the module bankwatch (its package is already there)
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(name for name in names if name in modules)
            if not all(name in modules for name in names):
                found.add(node.module)
    return found


def _engine_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ENGINE.rglob("*.py")}
    return {name: {m for m in _runtime_imports(path, set(modules)) if m in modules and m != name}
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_circle_inside_the_engine():
    assert _cycle(_engine_graph()) == []


def test_the_cycle_finder_sees_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_flows_lane_and_recovery_do_not_import_the_engine_module():
    graph = _engine_graph()
    low = [name for name in graph if name.startswith(("app.engine.flows", "app.engine.lane", "app.engine.recovery",
                                                      "app.engine.context", "app.engine.dryrun"))]
    assert {name: "app.engine.engine" for name in low if "app.engine.engine" in graph[name]} == {}


def test_flows_ask_the_store_by_name_instead_of_building_queries():
    # The two store readers of the flows package (the mappings of an invoices flow, the match candidates of a
    # batch) are queries by purpose; every other flow module goes through app.store.repository.
    readers = {"bill_lines.py", "vendor_pool.py"}
    inline = sorted(p.name for p in (ENGINE / "flows").glob("*.py")
                    if p.name not in readers and "select(" in p.read_text(encoding="utf-8"))
    assert inline == []
