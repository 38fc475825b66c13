"""Every early-stopping decision of a few seeded runs, as JSON: what a change to how the
schedulers are asked (not what they decide) must leave byte-identical.

    nice -n 19 .venv/bin/python -m benchmarks.decision_trace > before.json

Two paths, each scheduler (asha, hyperband, hyperband with adaptive brackets, median) and
seeds 0 and 1:

- ``study``: ``Study.ask``/``report``/``tell`` on the synthetic ``crossing-2d`` learning
  curves (``benchmarks.learning_curves``), one trial at a time, every step reported; the
  trace is each report's (trial number, step, answer).
- ``service``: ``run_local`` of a simulated job (the crossing curves of
  ``examples/simulated``, the real state machine and handlers, SQLite, a virtual clock),
  one trial at a time so the order of events is the seed's; the trace is each trial's
  number, state, newest step and value as the store ends it.

``--dynamodb``: the ``study`` path alone, over the DynamoDB store under moto, seed 0 and a
sixth of the budget (moto lists a job's items slowly; its traces should start as the SQLite
store's do).

The last line of the output is the SHA-256 of everything before it."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import simulated_run
from benchmarks.learning_curves import problems
from hyperstep.local.runner import run_local
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study

SCHEDULERS: dict[str, dict[str, Any]] = {
    "asha": {"name": "asha"},
    "hyperband": {"name": "hyperband"},
    "hyperband-adaptive": {"name": "hyperband", "brackets": "adaptive", "model_based": True},
    "median": {"name": "median"},
}
SEEDS = (0, 1)


def study_trace(
    block: dict[str, Any], seed: int, budget: int = 27 * 30, store: TrialStore | None = None
) -> list[list[Any]]:
    """(trial number, step, stop) of every report of a ``Study`` run spending ``budget``
    steps (over ``store``; None: SQLite in memory)."""
    problem = problems()["crossing-2d"]
    early = {"min_resource": 1, "max_resource": problem.max_resource, "reduction_factor": 3, **block}
    study = Study(problem.space, strategy="random", seed=seed, early_stopping=early, store=store)
    spent, trace = 0, []
    while spent < budget:
        trial = study.ask(1)[0]
        for step in range(1, problem.max_resource + 1):
            value = problem.value(trial.params, step)
            spent += 1
            stop = study.report(trial.id, step, value)
            trace.append([trial.number, step, stop])
            if step == problem.max_resource:
                study.tell(trial.id, value)
            elif stop or spent >= budget:
                study.tell(trial.id, value, state="stopped")
                break
    return trace


def service_trace(block: dict[str, Any], seed: int, trials: int = 40) -> list[list[Any]]:
    """(number, state, newest step, value) of every trial of a simulated job, one at a time."""
    spec = {
        **simulated_run.spec(trials, 1, seed),  # the crossing curves of examples/simulated, timed
        "name": "decision-trace",
        "early_stopping": {"min_resource": 1, "max_resource": 27, "reduction_factor": 3, **block},
    }
    with tempfile.TemporaryDirectory() as tmp:
        job = run_local(parse_spec(spec), Path(tmp) / "store.db", Path(tmp) / "runs", env={})
        ended = SQLiteStore(Path(tmp) / "store.db").list_trials(job.id)
    return [[t.number, t.state.value, max(t.curve, default=None), t.value] for t in ended]


def dynamodb_traces() -> dict[str, Any]:
    """Every scheduler's ``study_trace`` (seed 0, 135 steps) over one DynamoDB table under moto."""
    import boto3
    from moto import mock_aws

    from hyperstep.stores.dynamodb import DynamoDBStore, create_table

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    out = {}
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_table(raw, "decision-trace")
        for name, block in SCHEDULERS.items():
            store = DynamoDBStore("decision-trace", client=raw)
            out[f"study/{name}/0"] = study_trace(block, 0, 27 * 5, store)
            print(f"{name} seed 0 done", file=sys.stderr)
    return out


def main(argv: list[str]) -> None:
    out: dict[str, Any] = {}
    if "--dynamodb" in argv:
        out = dynamodb_traces()
    else:
        for name, block in SCHEDULERS.items():
            for seed in SEEDS:
                out[f"study/{name}/{seed}"] = study_trace(block, seed)
                out[f"service/{name}/{seed}"] = service_trace(block, seed)
                print(f"{name} seed {seed} done", file=sys.stderr)
    text = json.dumps(out, sort_keys=True)
    print(text)
    print(hashlib.sha256(text.encode()).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1:])
