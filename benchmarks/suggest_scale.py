"""Suggest at 10,000 trials: ``ask(8)`` latency on one core, peak memory, and the cold start.

    nice -n 19 .venv/bin/python -m benchmarks.suggest_scale [--trials 10000] [--reps 10]

- **latency**: ``Study.ask(8)`` of the Bayesian strategy (d = 10) on a job with ``--trials``
  completed trials, given the trials as Suggest's ``TrialView`` holds them (its snapshot,
  with the strategy's rows of the ended trials; the store is not read again), one BLAS
  thread, pinned to one CPU; p50 and p95 over ``--reps`` asks.
- **peak memory**: a fresh interpreter imports what the suggest function imports
  (``functions/suggest/app.py``: Powertools, hyperstep's handlers and service, boto3) and
  the Bayesian strategy, holds a ``TrialView`` snapshot of ``--trials`` trials (with the
  strategy's rows kept in it, as a warm Suggest holds them) and asks 8; its peak resident
  set (``ru_maxrss``) is what the function's ``MemorySize`` must hold.
- **cold start**: a fresh interpreter imports the suggest function's module, builds the
  AWS service as the first invocation does (``app.service()``: DynamoDB's client; the
  others are made on first use) and SageMaker's client (launching makes it), then makes
  the first call on a 100-trial history (a SQLite store: the DynamoDB read is not in it),
  timed from before the import to after the call, interpreter start-up excluded.

Results: ``benchmarks/results/suggest_scale.{md,json}``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import reporting  # noqa: E402
from benchmarks.latency import pin_one_cpu  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"ask8_p95_seconds": 1.0, "cold_start_seconds": 1.0}
STAGES = ("import app", "AWS service and SageMaker client", "study, strategy, scipy", "first ask(8)")

CHILD_SETUP = """
import os, sys, time
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hyperstep")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "hyperstep")
sys.path[:0] = [{functions!r}, {repo!r}]
"""

COLD = (
    CHILD_SETUP
    + """
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, range(os.cpu_count() or 1))  # the target is on 2 cores: not the parent's one
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="cold", AWS_SECRET_ACCESS_KEY="start",
                  HYPERSTEP_TABLE="t", HYPERSTEP_STATE_MACHINE_ARN="arn:aws:states:us-east-1:1:stateMachine:x")
started, cpu = time.perf_counter(), time.process_time()
stages = []
import app  # the suggest function's module: Powertools, handlers, service, wiring
stages.append(time.process_time())
app.service()  # the AWS service, as the first invocation builds it (DynamoDB's client; the others on first use)
import boto3
boto3.client("sagemaker")  # what launching on SageMaker makes on the first call
stages.append(time.process_time())
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
store = SQLiteStore({db!r})
job = store.get_job("cold")
study = Study.from_job(store, job)  # imports the strategy (the Bayesian one: scipy)
import scipy.linalg, scipy.optimize  # what its first fit imports
stages.append(time.process_time())
trials = study.ask(8, trials=store.list_trials("cold"))
stages.append(time.process_time())
spent = (b - a for a, b in zip([cpu, *stages], stages))
print(time.perf_counter() - started, time.process_time() - cpu, len(trials), *spent)
"""
)

PEAK = (
    CHILD_SETUP
    + """
import resource
import app, boto3
from benchmarks.suggest_scale import completed_study
from hyperstep.trial_view import Snapshot
study, trials = completed_study({n}, seed=1)
snapshot = Snapshot()  # what a warm Suggest keeps: the trials, by number, and the strategy's rows
snapshot.put(trials)
study.ask(8, trials=snapshot.ordered(), snapshot=snapshot)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
)


def space() -> object:
    import hyperstep

    params = [{"name": f"x{i}", "type": "float", "low": -5.0, "high": 10.0} for i in range(10)]
    return hyperstep.SearchSpace.model_validate({"parameters": params})


def completed_study(n: int, seed: int, path: str = ":memory:", job_id: str | None = None) -> tuple[object, list]:
    """A Bayesian study with ``n`` completed random trials (10-d Ackley), and its trials."""
    import hyperstep
    from hyperstep.models import Trial, TrialState, trial_id
    from hyperstep.stores.sqlite import SQLiteStore

    sp = space()
    store = SQLiteStore(path)
    study = hyperstep.Study(sp, goal="minimize", strategy="bayesian", seed=seed, store=store, job_id=job_id)
    rng = np.random.default_rng(seed)
    points = rng.random((n, sp.dim))
    x = points * 15 - 5
    values = -20 * np.exp(-0.2 * np.sqrt((x**2).mean(1))) - np.exp(np.cos(2 * np.pi * x).mean(1)) + 20 + np.e
    trials = store.add_trials(
        study.job_id,
        n,
        None,
        lambda i, k: Trial(
            job_id=study.job_id,
            id=trial_id(k),
            number=k,
            params=sp.decode(points[i]),
            state=TrialState.COMPLETED,
            value=float(values[i]),
        ),
    )
    return study, trials


def latency(n: int, reps: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each ask (one thread: CPU time is the wall time of an idle core)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        from hyperstep.trial_view import Snapshot

        study, trials = completed_study(n, seed=0)
        snapshot = Snapshot()
        snapshot.put(trials)
        snapshot.put(study.ask(8, trials=snapshot.ordered(), snapshot=snapshot))  # imports, caches
        wall, cpu = [], []
        for _ in range(reps):
            started, used = time.perf_counter(), time.process_time()
            new = study.ask(8, trials=snapshot.ordered(), snapshot=snapshot)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
            snapshot.put(new)
    return wall, cpu


def child(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def cold_start(reps: int) -> tuple[list[float], list[float], list[list[float]]]:
    """Wall and CPU seconds of import plus first call, in ``reps`` fresh interpreters, and
    each one's CPU seconds by stage (``STAGES``)."""
    with tempfile.TemporaryDirectory() as tmp:
        made, db = str(Path(tmp) / "made.db"), str(Path(tmp) / "cold.db")
        completed_study(100, seed=2, path=made, job_id="cold")
        code = COLD.format(functions=str(REPO / "functions" / "suggest"), repo=str(REPO), db=db)
        runs = []
        for _ in range(reps):  # each from the 100-trial history (an ask adds 8 pending trials to it)
            Path(db).unlink(missing_ok=True)
            with sqlite3.connect(made) as source, sqlite3.connect(db) as copy:
                source.backup(copy)  # the WAL's pages too, which a file copy would miss
            runs.append([float(v) for v in child(code).split()])
        return [r[0] for r in runs], [r[1] for r in runs], [r[3:] for r in runs]


def peak_mb(n: int) -> float:
    return float(child(PEAK.format(functions=str(REPO / "functions" / "suggest"), repo=str(REPO), n=n)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args(argv)
    pinning = pin_one_cpu()
    asks, ask_cpu = latency(args.trials, args.reps)
    peak = peak_mb(args.trials)
    colds, cold_cpu, cold_stages = cold_start(5)
    stage_cpu = {name: float(np.median([r[i] for r in cold_stages])) for i, name in enumerate(STAGES)}
    result = {
        "trials": args.trials,
        "ask8_seconds": asks,
        "ask8_cpu_seconds": ask_cpu,
        "ask8_p50": float(np.percentile(asks, 50)),
        "ask8_p95": float(np.percentile(asks, 95)),
        "ask8_cpu_p95": float(np.percentile(ask_cpu, 95)),
        "peak_rss_mb": peak,
        "cold_start_seconds": colds,
        "cold_start_cpu_seconds": cold_cpu,
        "cold_start_median": float(np.median(colds)),
        "cold_start_cpu_median": float(np.median(cold_cpu)),
        "cold_start_stage_cpu_median": stage_cpu,
        "pinning": pinning,
    }
    m = reporting.machine()
    rows = [
        [f"ask(8) at {args.trials:,} trials, d = 10, one core: p50 / p95 wall (p95 CPU)",
         f"{result['ask8_p50']:.2f} s / {result['ask8_p95']:.2f} s ({result['ask8_cpu_p95']:.2f} s)",
         f"p95 <= {TARGETS['ask8_p95_seconds']:g} s"],
        [f"peak resident memory (imports + {args.trials:,}-trial snapshot + ask)", f"{peak:.0f} MB", "sets MemorySize"],
        ["cold start on 2 cores: import + first ask(8) on 100 trials, median of 5: wall (CPU)",
         f"{result['cold_start_median']:.2f} s ({result['cold_start_cpu_median']:.2f} s)",
         f"<= {TARGETS['cold_start_seconds']:g} s"],
        ["cold start CPU by stage, medians: " + ", ".join(STAGES),
         " / ".join(f"{v:.2f}" for v in stage_cpu.values()) + " s", ""],
    ]  # fmt: skip
    text = (
        "# Suggest at scale\n\n"
        f"Command: `nice -n 19 .venv/bin/python -m benchmarks.suggest_scale {' '.join(argv or sys.argv[1:])}`\n\n"
        f"Measured {m['date_utc']} on {m['cpus']} CPUs (Python {m['python']}), commit {m['hyperstep_commit']}, "
        f"one BLAS thread, {pinning}, load average {m['load_average_1m']} (a shared machine: wall times there are\n"
        "inflated by other work; CPU time of the one thread is what an idle core would take).\n\n"
        + reporting.table(["what", "measured", "target"], rows)
        + "\n"
    )
    reporting.write("suggest_scale", text, {"result": result, "machine": m, "targets": TARGETS})
    print(text)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
