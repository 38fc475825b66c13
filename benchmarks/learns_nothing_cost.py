"""What an ask costs a ``Study`` whose strategy reads no result (random, sobol, grid) under
asha or hyperband, and every decision it makes: the trace a change to what the strategy is
given (not what it decides) must leave byte-identical.

    nice -n 19 .venv/bin/python -m benchmarks.learns_nothing_cost > after.json

The issue's loop (``Study.ask(1)``, ``report`` every step, ``tell``) on the synthetic
``crossing-2d`` learning curves (``benchmarks.learning_curves``), 40 trials (``--trials``; a grid's
points, if fewer), seed 0, the
early-stopping block's defaults (``model_based: true``, ``curve_model: true``). Per
strategy and scheduler: the trace (each trial's number and parameters, each report's step
and answer, the state it was told) and the CPU seconds of the 40 trials (process time, best
of ``--repeat`` runs, 3 by default). The last line is the SHA-256 of the traces alone."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

from benchmarks.learning_curves import problems
from hyperstep.study import Study

STRATEGIES = ("random", "sobol", "grid")
SCHEDULERS = ("asha", "hyperband")
TRIALS = 40


def trace(strategy: str, scheduler: str, seed: int = 0, trials: int = TRIALS) -> list[list[Any]]:
    """(number, params, [(step, stop)...], told state) of every trial of one run."""
    problem = problems()["crossing-2d"]
    early = {"name": scheduler, "min_resource": 1, "max_resource": problem.max_resource, "reduction_factor": 3}
    study = Study(problem.space, strategy=strategy, seed=seed, early_stopping=early)
    out: list[list[Any]] = []
    for _ in range(trials):
        asked = study.ask(1)
        if not asked:  # a grid done
            break
        trial = asked[0]
        reports, state = [], "completed"
        for step in range(1, problem.max_resource + 1):
            value = problem.value(trial.params, step)
            stop = study.report(trial.id, step, value)
            reports.append([step, stop])
            if stop and step < problem.max_resource:
                state = "stopped"
                break
        told = study.tell(trial.id, value, state=state)
        out.append([trial.number, trial.params, reports, told.state.value])
    return out


def main(argv: list[str]) -> None:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    trials = int(argv[argv.index("--trials") + 1]) if "--trials" in argv else TRIALS
    traces, seconds = {}, {}
    for strategy in STRATEGIES:
        for scheduler in SCHEDULERS:
            name = f"{strategy}/{scheduler}"
            best = float("inf")
            for _ in range(repeat):
                start = time.process_time()
                traces[name] = trace(strategy, scheduler, trials=trials)
                best = min(best, time.process_time() - start)
            seconds[name] = round(best, 3)
            print(f"{name}: {best:.3f} s CPU, {len(traces[name])} trials", file=sys.stderr)
    text = json.dumps(traces, sort_keys=True)
    print(json.dumps({"cpu_seconds": seconds, "traces": traces}, sort_keys=True))
    print(hashlib.sha256(text.encode()).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1:])
