"""Measure the suggest function's cold start imports as Lambda would run them.

    scripts/build_layer.sh build/layer-x86_64   (with LAYER_ARCH=x86_64 on an x86 host)
    python scripts/cold_import.py --layer build/layer-x86_64/python --runtime build/runtime-boto3 \
        --python python3.12

Runs a fresh interpreter of the Lambda runtime's version per sample, with only the layer,
the function folder and a boto3 install (standing in for the runtime's) on ``sys.path``,
and ``-B`` (``/opt`` is read-only in Lambda: without shipped
``.pyc`` files every cold start compiles). Reports the median of: importing the handler
module (``app``), and that plus what the first ``suggest`` call imports (the AWS service
wiring and the Bayesian strategy with its GP), as wall time and as CPU time (steadier on
a busy machine). Also says whether ``scipy.stats`` is
imported anywhere on that path (it costs about half a second).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import app
t1, c1 = time.perf_counter(), time.process_time()
from hyperstep.wiring import build_aws_service
build_aws_service({"HYPERSTEP_TABLE": "t", "HYPERSTEP_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:x"})
from hyperstep.strategies import make_strategy
make_strategy("bayesian")
import hyperstep.strategies.gp, hyperstep.strategies.acquisition, hyperstep.strategies.transforms
import hyperstep.strategies.sobol, scipy.linalg, scipy.optimize
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"app": t1 - t0, "first_call": t2 - t0, "app_cpu": c1 - c0, "first_call_cpu": c2 - c0,
                  "scipy_stats": "scipy.stats" in sys.modules}))
"""


def sample(python: str, layer: Path, runtime: Path, importtime: bool = False) -> dict:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "suggest"), str(layer), str(runtime)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "cold",
        "AWS_SECRET_ACCESS_KEY": "start",
        "HYPERSTEP_TABLE": "t",
        "POWERTOOLS_SERVICE_NAME": "hyperstep",
        "POWERTOOLS_METRICS_NAMESPACE": "hyperstep",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    flags = ["-X", "importtime"] if importtime else []
    code = f"import sys; sys.path[:0] = {env['PYTHONPATH'].split(os.pathsep)!r}\n{CHILD}"
    run = subprocess.run(
        [python, "-I", "-B", *flags, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if importtime:
        result["slowest"] = slowest(run.stderr)
    return result


def slowest(log: str, n: int = 8) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (ms) from ``-X importtime`` output."""
    totals: dict[str, float] = {}
    for line in log.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not cumulative.isdigit():
            continue
        if name == name.lstrip():  # depth 0: a top-level import
            totals[name] = totals.get(name, 0) + int(cumulative) / 1000
    return sorted(totals.items(), key=lambda kv: -kv[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=Path, default=ROOT / "build/layer-x86_64/python")
    parser.add_argument("--runtime", type=Path, default=ROOT / "build/runtime-boto3")
    parser.add_argument("--python", default="python3.12")
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    args.layer, args.runtime = args.layer.resolve(), args.runtime.resolve()
    runs = [sample(args.python, args.layer, args.runtime) for _ in range(args.samples)]
    detail = sample(args.python, args.layer, args.runtime, importtime=True)
    for key, label in (("app", "import app (suggest)"), ("first_call", "+ first suggest call imports")):
        wall = 1000 * statistics.median(r[key] for r in runs)
        cpu = 1000 * statistics.median(r[f"{key}_cpu"] for r in runs)
        print(f"{label}: median {wall:.0f} ms wall, {cpu:.0f} ms CPU")
    print(f"scipy.stats imported: {any(r['scipy_stats'] for r in runs)}")
    print("slowest top-level imports (ms, one -X importtime run):")
    for name, ms in detail["slowest"]:
        print(f"  {name:<40} {ms:8.1f}")
    sys.exit(1 if any(r["scipy_stats"] for r in runs) else 0)


if __name__ == "__main__":
    main()
