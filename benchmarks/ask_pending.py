"""Two checks of the bayesian strategy's bound on the pending trials its models fantasize
(``strategies.search.nearest``), each run against a tree on ``PYTHONPATH`` (``git archive``):

    nice -n 19 .venv/bin/python -m benchmarks.ask_pending digest      # seeded ask(1)..ask(16) studies
    nice -n 19 .venv/bin/python -m benchmarks.ask_pending seconds 1000  # one proposal, 20 told, 1000 pending
    nice -n 19 .venv/bin/python -m benchmarks.ask_pending mo-digest   # the same, two objectives (and a constraint)
    nice -n 19 .venv/bin/python -m benchmarks.ask_pending mo-seconds 1000

``digest``: for k = 1..16, a seeded study asks k trials three times (telling the first two
rounds) and once more with the last round pending; a SHA-256 of every proposal's params per
k and of all. ``seconds``: the wall time of one ``propose`` with 20 told points and that many
pending. The ``mo-`` forms do the same with two objectives (``multiobjective.suggest_pareto``);
``mo-digest`` runs each k once without and once with a constraint. Record: benchmarks/README.md
("Bayesian asks with many pending trials")."""

from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np

from hyperstep import SearchSpace, Study
from hyperstep.strategies.base import History

SPACE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
            {"name": "layers", "type": "int", "low": 1, "high": 6},
            {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu"]},
        ]
    }
)


def loss(params: dict) -> float:
    act = {"relu": 0.0, "tanh": 0.1, "gelu": 0.05}[params["act"]]
    return (params["lr"] - 0.01) ** 2 * 1e3 + 0.05 * abs(params["layers"] - 3) + act


def digest() -> None:
    total = hashlib.sha256()
    for k in range(1, 17):
        study, one = Study(SPACE, goal="minimize", strategy="bayesian", seed=k), hashlib.sha256()
        for round_ in range(4):
            trials = study.ask(k)
            one.update(json.dumps([t.params for t in trials], sort_keys=True).encode())
            for trial in trials if round_ < 2 else []:
                study.tell(trial.id, loss(trial.params))
        print(k, one.hexdigest()[:16], flush=True)
        total.update(one.digest())
    print("all", total.hexdigest()[:16])


def losses(params: dict) -> tuple[list[float], dict[str, float]]:
    """Two objectives in conflict (the loss and the learning rate's distance from 0.05) and a
    constraint metric on the layers."""
    return [loss(params), abs(params["lr"] - 0.05) * 10], {"layers": float(params["layers"])}


def mo_digest() -> None:
    total = hashlib.sha256()
    for k in range(1, 17):
        for constraints in ([], [{"metric": "layers", "max": 4}]):
            goal = ["minimize", "minimize"]
            study = Study(SPACE, goal=goal, strategy="bayesian", seed=k, constraints=constraints)
            one = hashlib.sha256()
            for round_ in range(4):
                trials = study.ask(k)
                one.update(json.dumps([t.params for t in trials], sort_keys=True).encode())
                for trial in trials if round_ < 2 else []:
                    values, metrics = losses(trial.params)
                    study.tell(trial.id, values, metrics=metrics)
            print(k, "constrained" if constraints else "plain", one.hexdigest()[:16], flush=True)
            total.update(one.digest())
    print("all", total.hexdigest()[:16])


def seconds(pending: int, several: bool = False) -> None:
    goal = ["minimize", "minimize"] if several else "minimize"
    strategy = Study(SPACE, goal=goal, strategy="bayesian", seed=0).strategy
    rng = np.random.default_rng(1)
    X = rng.random((20, SPACE.dim))
    empty = np.empty((0, SPACE.dim))
    Y = np.column_stack([((X - 0.3) ** 2).sum(1), ((X - 0.7) ** 2).sum(1)])
    history = History(
        space=SPACE,
        X=X,
        y=Y[:, 0],
        X_failed=empty,
        X_pending=rng.random((pending, SPACE.dim)),
        Y=Y if several else None,
    )
    start = time.perf_counter()
    strategy.propose(history, 1, np.random.default_rng(0))
    print(f"pending {pending}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    mode, pending = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    if mode in ("digest", "mo-digest"):
        digest() if mode == "digest" else mo_digest()
    else:
        seconds(pending, mode == "mo-seconds")
