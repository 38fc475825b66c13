"""Boundaries of the library's layout that no import error would show.

- ``hyperstep.asl``, the state machine engine, knows nothing of tuning: it imports
  nothing of ``hyperstep`` outside itself.
- Only the documented entry points read the environment: the CLI and
  ``hyperstep.report`` (the handlers in ``functions/`` pass theirs to ``hyperstep.wiring``);
  nothing in the library writes it but ``hyperstep.blas``, which the console script runs
  before numpy loads (one BLAS thread, unless the user set one) and which hands the CLI
  the user's environment without it.
- The library reaches the handlers' logic through imports (``hyperstep.handlers``),
  never by loading ``functions/<name>/app.py`` by name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "layers" / "hyperstep" / "hyperstep"
ENVIRONMENT_READERS = {"cli.py", "reporting.py", "blas.py"}
ENVIRONMENT_WRITERS = {"blas.py"}
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


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


def environment_uses(path: Path) -> list[str]:
    """Where a file touches the process environment: ``os.environ`` and friends, however imported."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            found.append(f"{path.relative_to(LIBRARY)}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{path.relative_to(LIBRARY)}:{node.lineno}: {a.name}" for a in node.names if a.name in ENVIRONMENT
            ]
    return found


def test_only_the_documented_entry_points_read_the_environment() -> None:
    touching = [use for path in LIBRARY.rglob("*.py") for use in environment_uses(path)]
    assert {use.split(":")[0] for use in touching} <= ENVIRONMENT_READERS, touching


def test_the_entry_points_only_read_it() -> None:
    for name in ENVIRONMENT_READERS - ENVIRONMENT_WRITERS:
        tree = ast.parse((LIBRARY / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                assert not any("environ" in ast.unparse(t) for t in targets), f"{name}:{node.lineno} writes it"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                written = ("update", "setdefault", "pop", "clear", "putenv", "unsetenv")
                assert not (node.func.attr in written and "environ" in ast.unparse(node.func)), f"{name}:{node.lineno}"


def test_no_library_module_loads_a_handler_by_name() -> None:
    loaders = {
        f"{path.relative_to(LIBRARY)}: {name}"
        for path in LIBRARY.rglob("*.py")
        for name in imported_modules(path)
        if name in ("importlib.import_module", "hyperstep_functions") or name.startswith("hyperstep_functions.")
    }
    texts = {path.relative_to(LIBRARY): path.read_text() for path in LIBRARY.rglob("*.py")}
    assert not loaders
    assert not [p for p, text in texts.items() if "HYPERSTEP_RUNTIME" in text]
    # The modules that import by name: the package's __init__ loads its own names lazily
    # (hyperstep.<module>, the console script's Ctrl-C comes first), and simulation loads the
    # user's callable the spec names (``trial.objective: "module:function"``); never a handler.
    importing = sorted(p for p, text in texts.items() if "import_module(" in text)
    assert importing == [Path("__init__.py"), Path("backends/simulated/simulation.py")]
    assert all("hyperstep_functions" not in texts[p] and "handler" not in texts[p] for p in importing)
    assert all(
        call.startswith("hyperstep.") for call in re.findall(r"import_module\(f?\"([^\"]*)\"", texts[importing[0]])
    )
