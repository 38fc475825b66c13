"""Suggestion latency: ``Study.ask(8)`` against history size, and the suggester's cold import.

Runs on ONE core: the BLAS/OpenMP thread counts are pinned to 1 before numpy is imported
(and again with threadpoolctl), and the process is pinned to one CPU where the OS
allows it, as a Lambda with one vCPU would run. Histories are built by telling uniform
random points of a 10-d space (values from a 10-d Ackley function), never by running BO.
Each repetition builds a fresh study with a different seed, so every timed ``ask`` sees
exactly ``n`` completed trials.

    .venv/bin/python -m benchmarks.latency --quick     # 5 repetitions per size [--name NAME: results/NAME.*]
    .venv/bin/python -m benchmarks.latency             # 20 repetitions (10 at 500 and 1000)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import hyperstep  # noqa: E402
from benchmarks import reporting  # noqa: E402
from hyperstep.models import Trial, TrialState, trial_id  # noqa: E402

SIZES = (50, 200, 500, 1000)
TARGETS = {200: 1.0, 1000: 5.0}
IMPORT_TARGET = 1.0
SPACE = hyperstep.SearchSpace.model_validate(
    {"parameters": [{"name": f"x{i}", "type": "float", "low": -5.0, "high": 10.0} for i in range(10)]}
)


def _ackley(x: np.ndarray) -> float:
    return float(-20 * np.exp(-0.2 * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(2 * np.pi * x))) + 20 + np.e)


def study_with_history(n: int, seed: int, strategy: str = "bayesian") -> hyperstep.Study:
    """A study whose store holds ``n`` completed random trials, written straight to the store."""
    study = hyperstep.Study(SPACE, goal="minimize", strategy=strategy, seed=seed)
    rng = np.random.default_rng(seed)
    params = [SPACE.decode(u) for u in rng.random((n, SPACE.dim))]
    trials = study.store.add_trials(
        study.job_id, n, None, lambda i, k: Trial(job_id=study.job_id, id=trial_id(k), number=k, params=params[i])
    )
    for trial in trials:
        value = _ackley(np.array(list(trial.params.values())))
        study.store.finish_trial(study.job_id, trial.id, TrialState.COMPLETED, value=value)
    return study


def time_ask(n: int, reps: int, batch: int = 8) -> list[float]:
    """Seconds of ``ask(batch)`` on ``reps`` fresh studies with ``n`` completed trials each.

    One untimed ask first, so lazily imported modules do not land in the first sample.
    """
    study_with_history(n, seed=reps).ask(batch)
    out = []
    for seed in range(reps):
        study = study_with_history(n, seed)
        start = time.perf_counter()
        trials = study.ask(batch)
        out.append(time.perf_counter() - start)
        assert len(trials) == batch, f"asked {batch}, got {len(trials)}"
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def cold_import(module: str = "hyperstep.strategies.bayesian", reps: int = 5) -> list[float]:
    """Seconds to import ``module`` in fresh interpreters (interpreter start-up excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(reps)
    ]


def pin_one_cpu() -> str:
    """Pin this process to one CPU if the OS allows; say what happened."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned (threads limited to 1)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 repetitions per history size")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--name", default=None, help="results file name (default latency or latency_quick)")
    args = parser.parse_args(argv)
    pinning = pin_one_cpu()
    rows, data = [], {}
    with threadpool_limits(limits=1):
        for n in args.sizes:
            reps = 5 if args.quick else (20 if n <= 200 else 10)
            times = time_ask(n, reps)
            stats = {"p50": percentile(times, 50), "p95": percentile(times, 95), "max": max(times), "reps": reps}
            target = TARGETS.get(n)
            verdict = "" if target is None else ("met" if stats["p95"] <= target else "MISSED")
            rows.append([n, reps, stats["p50"], stats["p95"], stats["max"], f"{target} s" if target else "", verdict])
            data[str(n)] = {**stats, "target_p95": target, "seconds": times}
            print(f"history {n:5d}: p50 {stats['p50']:.3f} s, p95 {stats['p95']:.3f} s", flush=True)
    imports = cold_import()
    med_import = statistics.median(imports)
    m = reporting.machine()
    text = (
        f"# Suggestion latency ({'quick' if args.quick else 'full'})\n\n{m['date_utc']}, {m['cpus']} CPUs, "
        f"one thread, {pinning}; 10-d float space, ask(8), fresh study per repetition.\n\n"
        + reporting.table(["completed trials", "reps", "p50 s", "p95 s", "max s", "p95 target", "verdict"], rows)
        + f"\n\nCold import of `hyperstep.strategies.bayesian` (fresh interpreter, {len(imports)} runs): "
        f"median {med_import:.3f} s, max {max(imports):.3f} s, target <= {IMPORT_TARGET} s "
        f"({'met' if med_import <= IMPORT_TARGET else 'MISSED'}).\n"
    )
    result = {"machine": m, "pinning": pinning, "ask8": data, "cold_import_seconds": imports}
    paths = reporting.write(args.name or ("latency_quick" if args.quick else "latency"), text, result)
    print(text)
    print("wrote", *paths)


if __name__ == "__main__":
    main()
