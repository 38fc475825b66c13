"""One Suggest round's CPU time against the job's length: does a round cost more at 10,000 trials?

    nice -n 19 .venv/bin/python -m benchmarks.suggest_round --trials 1000 10000 [--rounds 200]

For each size, a job of that many trials (10 float parameters, strategy ``random``: the strategy's own model is
``benchmarks.suggest_scale``'s business) starts with all but its last rounds' trials completed
in an in-memory SQLite store and 100 running; then, ``--rounds`` times, one running trial's
result is collected and the service runs one Suggest round (``suggest_and_launch``: plan
one new trial, launch it on a fake backend) on its warm ``TrialView``, as a warm Lambda
does. Reported: the median and p95 CPU time of a round (one thread), and the share of it
in ``hyperstep.study_history.history_of`` (cProfile over separate rounds).

Results: ``benchmarks/results/suggest_round.{md,json}``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from typing import Any

import numpy as np

from benchmarks import reporting

PARALLEL = 100


def seeded_service(n: int, completed: int) -> tuple[Any, str]:
    """A service whose ``n``-trial job has ``completed`` trials completed and ``PARALLEL``
    running, its view warm."""
    from hyperstep.messages import SuggestRequest
    from hyperstep.models import Trial, TrialState, trial_id
    from hyperstep.service import TuningService
    from hyperstep.spec import parse_spec
    from hyperstep.stores.sqlite import SQLiteStore
    from tests.conftest import spec_document
    from tests.unit.test_service import FakeBackend, FakeOrchestrator

    params = [{"name": f"x{i}", "type": "float", "low": -5.0, "high": 10.0} for i in range(10)]
    budget = {"max_trials": n, "max_parallel": PARALLEL}
    document = spec_document(parameters=params, budget=budget, strategy={"name": "random", "seed": 1})
    store = SQLiteStore(":memory:")
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    job = service.create_job(parse_spec(document))
    space = job.spec.space
    rng = np.random.default_rng(0)
    numbers = store.reserve_trials(job.id, completed, None)
    now = store.clock()
    store.put_trials(
        [
            Trial(
                job_id=job.id,
                id=trial_id(k),
                number=k,
                params=space.decode(rng.random(space.dim)),
                state=TrialState.COMPLETED,
                value=float(rng.random()),
                created_at=now,
                ended_at=now,
            )
            for k in numbers
        ]
    )
    service.suggest_and_launch(SuggestRequest(job_id=job.id))  # loads the view, launches PARALLEL
    return service, job.id


def one_round(service: Any, job_id: str, oldest: list[int]) -> float:
    """Collect the oldest running trial's result, then time one Suggest round (CPU seconds)."""
    from hyperstep.messages import SuggestRequest, TrialResult
    from hyperstep.models import TrialState, trial_id

    while service.store.get_trial(job_id, trial_id(oldest[0])).state is not TrialState.RUNNING:
        oldest[0] += 1
    result = TrialResult(job_id=job_id, trial_id=trial_id(oldest[0]), state="completed", metrics={"loss": 0.5})
    assert service.collect(result)
    used = time.process_time()
    plan = service.suggest_and_launch(SuggestRequest(job_id=job_id))
    cpu = time.process_time() - used
    assert len(plan.trial_ids) == 1, plan
    return cpu


def measure(n: int, rounds: int) -> dict[str, Any]:
    completed = n - PARALLEL - 5 - rounds - (rounds // 4 or 1)  # the last rounds of an n-trial job
    service, job_id = seeded_service(n, completed)
    oldest = [completed + 1]
    for _ in range(5):  # warm
        one_round(service, job_id, oldest)
    cpu = [one_round(service, job_id, oldest) for _ in range(rounds)]
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(rounds // 4 or 1):
        one_round(service, job_id, oldest)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    suggest = sum(v[3] for k, v in stats.items() if k[2] == "suggest_and_launch")
    made = {k[2]: v[3] for k, v in stats.items() if k[0].endswith("study.py")}
    history = made.get("history", made.get("history_of", 0.0))  # Study.history, or history_of before it was
    return {
        "trials": n,
        "rounds": rounds,
        "round_cpu_seconds": cpu,
        "round_cpu_median": float(np.median(cpu)),
        "round_cpu_p95": float(np.percentile(cpu, 95)),
        "history_share": history / suggest if suggest else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", default="suggest_round")
    args = parser.parse_args(argv)
    results = [measure(n, args.rounds) for n in args.trials]
    m = reporting.machine()
    rows = [
        [f"{r['trials']:,}", f"{r['round_cpu_median'] * 1000:.1f} ms", f"{r['round_cpu_p95'] * 1000:.1f} ms",
         f"{r['history_share']:.0%}"]
        for r in results
    ]  # fmt: skip
    text = (
        "# One Suggest round against the job's length\n\n"
        f"Command: `nice -n 19 .venv/bin/python -m benchmarks.suggest_round {' '.join(argv or sys.argv[1:])}`\n\n"
        f"Measured {m['date_utc']} on {m['cpus']} CPUs (Python {m['python']}), commit {m['hyperstep_commit']}, "
        f"load average {m['load_average_1m']}; in-memory SQLite store, strategy random, 10 floats, "
        f"{PARALLEL} running, one result a round.\n\n"
        + reporting.table(["trials in the job", "round CPU median", "round CPU p95", "of it in the history"], rows)
        + "\n"
    )
    reporting.write(args.out, text, {"results": results, "machine": m})
    print(text)
    print(json.dumps([{k: v for k, v in r.items() if k != "round_cpu_seconds"} for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
