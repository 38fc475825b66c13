"""Boundaries of the library's layout that no import error would show.

- ``hyperstep.asl``, the state machine engine, knows nothing of tuning: it imports
  nothing of ``hyperstep`` outside itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "layers" / "hyperstep" / "hyperstep"


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports (also inside functions); ``from a import b``
    counts as ``a.b`` too, since ``b`` may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_the_engine_imports_nothing_of_hyperstep_outside_itself() -> None:
    outside = {
        f"{path.relative_to(LIBRARY)}: {name}"
        for path in (LIBRARY / "asl").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] == "hyperstep" and not name.startswith("hyperstep.asl")
    }
    assert not outside
