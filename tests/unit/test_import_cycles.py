"""No module of the library imports, directly or through others, one that imports it back.

A cycle works at runtime only while one side imports lazily, and it hides which module a
helper belongs to (``history_rows`` and ``study`` imported each other for two helpers both
need, now in ``hyperstep.objectives``). Imports inside ``if TYPE_CHECKING:`` are left out:
they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hyperstep

PACKAGE = Path(hyperstep.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The library modules ``tree`` imports anywhere (functions too), outside ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # ``from hyperstep import completion`` names a module
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found & known


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: runtime_imports(ast.parse(path.read_text()), known) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that lies on one (depth-first search)."""
    found, state = [], dict.fromkeys(graph, "new")

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state[target] == "open":
                found.append([*path[path.index(target) :], target])
            elif state[target] == "new":
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if state[name] == "new":
            visit(name, [name])
    return found


def test_the_library_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "hyperstep.study" in graph["hyperstep.service"]  # the graph is read
    assert cycles(graph) == []


def test_a_cycle_through_a_lazy_import_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
