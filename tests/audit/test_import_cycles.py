"""No import cycles in audit/, probes/ and reports/.

Two checks. The static one: the graph is read from the source (AST), not from ``sys.modules``: every import statement counts, at module
level, inside functions (a lazy import still closes a cycle when it runs) and under ``TYPE_CHECKING`` (the type
checker follows those). An edge goes to the module named, or to its package when the name is not a module
(``from audit import distributed`` is audit.distributed; ``import audit`` is the package ``audit``).
The run-time one: every module imported first, into an interpreter holding none of the project's modules,
because importing ``a.b.c`` also runs ``a/b/__init__.py``, an edge the static graph leaves out (a package
``__init__`` that imports the module now being imported fails with "partially initialized module").
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("audit", "probes", "reports")


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module name → the project's modules it imports."""
    files: dict[str, Path] = {}
    for top in packages:
        for path in (root / top).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for name in names:
                target = known(name)
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(_cycle_through(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One closed path inside a component, from its first module back to it (breadth-first, shortest)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError("a strongly connected component has a cycle through each of its modules")


KNOWN: list[list[str]] = []
"""Cycles still open; empty: each one that lands breaks this test until it is broken."""


def test_no_import_cycles():
    graph = import_graph(ROOT)
    assert {"audit.loading", "audit.tasks", "audit.tasks.base", "probes.base", "reports.html"} <= set(graph)
    found = cycles(graph)
    assert sorted(found) == KNOWN, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checker_finds_lazy_relative_and_type_checking_cycles(tmp_path):
    """The checker on a made-up tree whose cycles are known: one through a lazy import, one through a relative
    import under TYPE_CHECKING, and an acyclic module that imports both sides."""
    pkg = tmp_path / "audit"
    (pkg / "sub").mkdir(parents=True)
    (tmp_path / "probes").mkdir()
    (tmp_path / "reports").mkdir()
    files = {
        "audit/__init__.py": "",
        "audit/a.py": "def f():\n    from audit import b\n",
        "audit/b.py": "import audit.a\n",
        "audit/sub/__init__.py": "",
        "audit/sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import X\n",
        "audit/sub/d.py": "from audit.sub.c import Y\n",
        "probes/__init__.py": "from audit import a\nfrom audit.sub import d\n",
        "reports/__init__.py": "import os\nimport json\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["probes"] == {"audit.a", "audit.sub.d"} and graph["reports"] == set()
    assert sorted(cycles(graph)) == [["audit.a", "audit.b", "audit.a"], ["audit.sub.c", "audit.sub.d", "audit.sub.c"]]


_IMPORT_EACH_FIRST = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("audit", "probes", "reports")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first():
    """Each module as the first one a user imports (in one subprocess: torch stays loaded, ours are dropped)."""
    names = sorted(m for m in import_graph(ROOT) if not m.endswith("__main__"))  # __main__ runs the CLI
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH_FIRST, *names], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, "modules that fail when imported first:\n" + proc.stdout + proc.stderr[-2000:]
