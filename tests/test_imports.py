"""The package's import graph has no cycle (STYLE rule 10; the map in lib/l2m/__init__.py).

Every `import` and `from ... import` in lib/l2m counts, those inside functions too: a cycle hidden in a
function still ties two modules together. Imports under `if TYPE_CHECKING:` are aside (never executed).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "l2m"


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """The l2m modules `tree` imports, at any depth, TYPE_CHECKING blocks aside."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_block(node):
            stack.extend(node.orelse)  # the `else:` branch does run
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "l2m" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            absolute = node.level == 0 and (node.module or "").split(".")[0] == "l2m"
            if node.level == 1 or absolute:
                inner = (node.module or "").split(".")[1:] if absolute else (node.module or "").split(".")
                if inner and inner[0]:
                    found.add(inner[0])  # from .corpus import X / from l2m.corpus import X
                else:
                    found.update(a.name for a in node.names if a.name in modules)  # from . import corpus
        stack.extend(ast.iter_child_nodes(node))
    return found & modules


def import_graph() -> dict[str, set[str]]:
    """module -> the l2m modules it imports."""
    files = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(ast.parse(path.read_text()), set(files)) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_sees_a_cycle_and_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_in_functions_count_and_type_checking_ones_do_not():
    source = ("from typing import TYPE_CHECKING\nfrom . import cache\nif TYPE_CHECKING:\n    from .train import X\n"
              "def f():\n    from .corpus import load\n    import l2m.fit\n")
    assert _imports(ast.parse(source), {"cache", "train", "corpus", "fit"}) == {"cache", "corpus", "fit"}


def test_the_graph_reads_every_module():
    graph = import_graph()
    assert {"corpus", "tokenizer", "train", "build", "figcheck"} <= set(graph)
    assert "cache" in graph["corpus"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
