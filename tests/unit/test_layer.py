"""What the Lambda layer ships and how the handlers load from it.

- ``layers/hyperstep/requirements.txt`` installs every third-party package the library and
  the handlers import (boto3/botocore come with the Lambda runtime);
- each ``functions/<name>/app.py`` imports as the plain top-level module ``app`` (how
  Lambda loads ``Handler: app.lambda_handler``), configured for AWS, without touching AWS.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "layers" / "hyperstep" / "hyperstep"
REQUIREMENTS = ROOT / "layers" / "hyperstep" / "requirements.txt"
FUNCTIONS = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))

RUNTIME_PROVIDED = {"boto3", "botocore"}
OPTIONAL_EXTRAS = {"job_report": "report"}
"""Library folders that need an optional extra of the pip package (``hyperstep[report]``), not
the layer: only the CLI imports them."""
DISTRIBUTION_OF = {"yaml": "pyyaml", "aws_lambda_powertools": "aws-lambda-powertools"}


def third_party_imports(paths: list[Path]) -> set[str]:
    """Top-level names imported anywhere (also inside functions) that are not stdlib or ours."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    ours = {"hyperstep", "hyperstep_functions", "app", "__future__"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in ours}


def required_distributions() -> set[str]:
    found = set()
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            found.add(line.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower())
    return found


def layer_sources() -> list[Path]:
    """The library's modules that the layer needs, and the handlers."""
    library = [p for p in LIBRARY.rglob("*.py") if p.relative_to(LIBRARY).parts[0] not in OPTIONAL_EXTRAS]
    return [*library, *(f / "app.py" for f in FUNCTIONS)]


def test_requirements_cover_every_third_party_import_of_library_and_handlers() -> None:
    sources = layer_sources()
    needed = {DISTRIBUTION_OF.get(n, n).lower() for n in third_party_imports(sources) - RUNTIME_PROVIDED}
    assert needed <= required_distributions(), f"missing from requirements.txt: {needed - required_distributions()}"
    assert not {"boto3", "botocore"} & required_distributions(), "the runtime provides boto3"


def test_optional_folders_need_only_their_extra_and_only_the_cli_imports_them() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for folder, extra in OPTIONAL_EXTRAS.items():
        needed = {
            DISTRIBUTION_OF.get(n, n).lower() for n in third_party_imports(list((LIBRARY / folder).rglob("*.py")))
        }
        offered = {re.split(r"[\[<>=~! ]", req)[0].lower() for req in extras[extra]} | required_distributions()
        assert needed - RUNTIME_PROVIDED <= offered, f"missing from the {extra!r} extra: {needed - offered}"
        importers = [
            path.name for path in layer_sources() if path.name != "cli.py" and f"hyperstep.{folder}" in path.read_text()
        ]
        assert importers == [], f"hyperstep.{folder} needs the {extra!r} extra; the layer does not have it"


def test_every_handler_imports_as_plain_app() -> None:
    """One fresh interpreter loads each folder's ``app`` the way Lambda does."""
    script = f"""
import importlib, json, os, sys
os.environ.update({{"HYPERSTEP_TABLE": "t", "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "hyperstep", "POWERTOOLS_SERVICE_NAME": "hyperstep"}})
loaded = {{}}
for folder in {[str(f) for f in FUNCTIONS]!r}:
    sys.path.insert(0, folder)
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    loaded[os.path.basename(folder)] = callable(getattr(module, "lambda_handler", None))
    sys.path.remove(folder)
print(json.dumps(loaded))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/", timeout=120)
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == {f.name: True for f in FUNCTIONS}
    assert {"api", "start", "suggest", "collect", "finish", "reaper"} <= set(loaded)


def test_sam_builds_the_layer_with_the_build_script() -> None:
    """``BuildMethod: makefile`` runs ``build-<LogicalId>`` from the layer's own Makefile."""
    from tests.unit.test_template import resources

    (name, layer), *_ = resources("AWS::Serverless::LayerVersion").items()
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    folder = ROOT / layer["Properties"]["ContentUri"]
    makefile = (folder / "Makefile").read_text()
    assert re.search(rf"^build-{name}:\n\t.*\./build_layer\.sh \"\$\(ARTIFACTS_DIR\)\"", makefile, re.M)
    assert (folder / "build_layer.sh").stat().st_mode & 0o111, "build_layer.sh must be executable"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
