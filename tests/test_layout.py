"""The house rules of app/, read from the source with ast (nothing is imported):

- no import circle between modules (imports inside functions count: they are only deferred, not gone);
- Qt (PySide6, shiboken6) is imported in app/ui only;
- no module imports a higher layer: domain ← clients ← store ← engine ← push / cli / ui (LAYERS);
- every import of app.something names a module that exists (a merge may bring back an old path);
- app/ holds packages, plus __init__, __main__ and log only;
- each package's __init__ starts with a docstring of at most two lines saying what lives there and what it may
  import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

# The layer of each module, by the longest matching prefix: a module may import its own layer and the ones below.
LAYERS = {
    "app": 0,  # the package itself: product name and version
    "app.log": 0,
    "app.domain": 0,
    "app.clients": 1,
    "app.setup.config": 1,  # where the files are
    "app.setup.file_lock": 1,  # OS file locks: the SQLite run lock, the BILL request ledger
    "app.setup.vault": 1,
    "app.sandbox": 2,  # NAV and BILL on loopback; the runner hands out client connections for them
    "app.store": 2,
    "app.setup": 2,  # profiles (they build the clients' connections)
    "app.setup.wiring": 3,  # opens a profile's store, vault and clients
    "app.engine": 3,
    "app.check": 3,
    "app.push": 4,
    "app.ui": 5,
    "app.cli": 5,  # the command line starts the window (the default command), never the other way round
    "app.__main__": 6,
}
# Within a layer: the window never imports the command line, nor a command the window; the connection test never
# needs the engine.
FORBIDDEN = {"app.ui": ("app.cli",), "app.cli.commands": ("app.ui",), "app.check": ("app.engine",)}

# Circles still in the code, each with who removes it. An entry that no longer exists fails the test (remove it).
KNOWN_CIRCLES: set[frozenset[str]] = set()

QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "qtpy")
LOOSE_MODULES_ALLOWED = {"__init__.py", "__main__.py", "log.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in APP.rglob("*.py"):
        parts = ["app", *path.relative_to(APP).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of app/ that ``name`` (a module, or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``: names for annotations, never run, so never a circle."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return skipped


def _imports(module: str, *, at_run_time: bool = False) -> list[tuple[str, int]]:
    """(imported name, line) for every import in the module, at any depth (``at_run_time``: not the ones under
    ``if TYPE_CHECKING:``)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = _type_only(tree) if at_run_time else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found += [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, node.lineno)
                      for alias in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        targets = {_owner(name) for name, _ in _imports(module, at_run_time=True)
                   if name == "app" or name.startswith("app.")}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _layer(module: str) -> int:
    prefix = module
    while prefix not in LAYERS:
        prefix = prefix.rpartition(".")[0]
    return LAYERS[prefix]


def test_there_is_no_import_circle_beyond_the_known_ones():
    circles = set(_circles(_graph()))
    new = [sorted(c) for c in circles - KNOWN_CIRCLES]
    assert not new, f"import circles: {new}"
    gone = [sorted(c) for c in KNOWN_CIRCLES - circles]
    assert not gone, f"these circles are gone: take them out of KNOWN_CIRCLES: {gone}"


def test_only_app_ui_imports_qt():
    offenders = [f"{module} line {line}: {name}"
                 for module in MODULES if not _within(module, ("app.ui",))
                 for name, line in _imports(module) if name.split(".")[0] in QT]
    assert not offenders, offenders


def test_no_module_imports_a_higher_layer():
    offenders = []
    for module in MODULES:
        for name, line in _imports(module):
            target = _owner(name) if name == "app" or name.startswith("app.") else None
            if target is None or target == module:
                continue
            if _layer(target) > _layer(module):
                offenders.append(f"{module} (layer {_layer(module)}) line {line} imports {target} "
                                 f"(layer {_layer(target)})")
            for package, banned in FORBIDDEN.items():
                if _within(module, (package,)) and _within(target, banned):
                    offenders.append(f"{module} line {line} imports {target}")
    assert not offenders, "\n".join(offenders)


def test_the_graph_sees_deferred_imports():
    """A check that cannot see imports inside functions would pass on every circle the code has had."""
    graph = _graph()
    assert "app.cli.commands.sync" in graph["app.cli"]  # imported inside _runner() only
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_every_import_of_app_names_a_module_that_exists():
    """A module that moved leaves no import behind (in app/ or tests/), deferred ones included."""
    stale = []
    for path in [*APP.rglob("*.py"), *APP.parent.joinpath("tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "app":  # from app import config
                names = [f"app.{alias.name}" for alias in node.names
                         if alias.name.islower() and not alias.name.startswith("__")]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            stale += [f"{path.relative_to(APP.parent)} line {node.lineno}: {name}" for name in names
                      if name.startswith("app.") and name not in MODULES]
    assert not stale, "imports of modules that do not exist (moved? see the README's layout):\n" + "\n".join(stale)


def test_app_holds_packages_and_no_loose_modules():
    loose = sorted(p.name for p in APP.glob("*.py") if p.name not in LOOSE_MODULES_ALLOWED)
    assert not loose, f"loose modules in app/: {loose}; put each in the package it belongs to"


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_each_package_says_what_lives_there_and_what_it_may_import(package):
    docstring = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")), clean=True)
    assert docstring, f"{package}: __init__.py has no docstring"
    head = docstring.split("\n\n")[0].splitlines()
    assert len(head) <= 2, f"{package}: the docstring's first paragraph has {len(head)} lines, not two"
    assert "import" in " ".join(head).lower(), f"{package}: the docstring's first lines do not say what it may import"
