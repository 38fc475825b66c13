"""A tree-shaped search (which model, then that model's own parameters) against the same search flattened.

The problem is Bayesmark's (``sklearn_problems``): one dataset and metric, but the model
is itself a parameter, ``model`` in {kNN, SVM, DT, ada, linear}, and each model's
parameters (Bayesmark's ranges, named ``<model>.<parameter>``) matter only for it.

- ``conditional``: hyperstep's ``bayesian`` strategy on the tree: each model's
  parameters carry ``when: {model: [<model>]}``, so a trial sets only its model's.
- ``flattened``: the same strategy on the same parameters without ``when``: every trial
  sets all 15, and the objective ignores those of the other models (what a user without
  conditional spaces writes).
- ``random``: uniform random search on the tree (the same distribution of models and
  their parameters as on the flat space): the Bayesmark reference, 0 in the score.

Both hyperstep methods see the same objective, seeds, rounds and batch; scores are
Bayesmark's normalized mean score (``scoring``): 100 = the best loss any method found,
0 = random search's expected best after as many evaluations.

    nice -n 19 .venv/bin/python -m benchmarks.conditional            # 4 problems, 3 seeds, 12 rounds x batch 4
    nice -n 19 .venv/bin/python -m benchmarks.conditional --seeds 5
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import reporting, scoring
from benchmarks.optimizers import HyperstepOptimizer, RandomOptimizer, run_batches
from benchmarks.sklearn_problems import DATASETS, Problem, model_spec
from hyperstep.space import SearchSpace

MODELS = ("kNN", "SVM", "DT", "ada", "linear")
PROBLEMS = (("wine", "nll"), ("iris", "nll"), ("breast", "acc"), ("diabetes", "mae"))


@dataclass(frozen=True)
class TreeProblem:
    """Choose a model and its parameters on one dataset and metric; ``conditional`` says how the space is written."""

    dataset: str
    metric: str
    conditional: bool = True

    @property
    def name(self) -> str:
        return f"tree_{self.dataset}_{self.metric}"

    @property
    def space(self) -> SearchSpace:
        parameters: list[dict[str, Any]] = [{"name": "model", "type": "categorical", "choices": list(MODELS)}]
        for model in MODELS:
            for name, (kind, scale, low, high) in model_spec(model, DATASETS[self.dataset], self.metric)[2].items():
                parameter: dict[str, Any] = (
                    {"name": f"{model}.{name}", "type": "categorical", "choices": [True, False]}
                    if kind == "bool"
                    else {"name": f"{model}.{name}", "type": kind, "low": low, "high": high, "scale": scale}
                )
                if self.conditional:
                    parameter["when"] = {"model": [model]}
                parameters.append(parameter)
        return SearchSpace.model_validate({"parameters": parameters})

    def __call__(self, params: dict[str, Any]) -> float:
        """The chosen model's mean CV loss with its own parameters (the others' are ignored)."""
        model = params["model"]
        own = {name.split(".", 1)[1]: value for name, value in params.items() if name.startswith(f"{model}.")}
        return Problem(model, self.dataset, self.metric)(own)


def run(problems: list[tuple[str, str]], seeds: list[int], rounds: int, batch: int) -> dict[str, Any]:
    """Every method on every problem and seed: losses ``{problem: {method: (seeds, rounds, batch)}}``."""
    losses: dict[str, dict[str, np.ndarray]] = {}
    seconds = {"conditional": 0.0, "flattened": 0.0, "random": 0.0}
    for dataset, metric in problems:
        tree, flat = TreeProblem(dataset, metric), TreeProblem(dataset, metric, conditional=False)
        makers: dict[str, Any] = {
            "conditional": lambda seed, space=tree.space: HyperstepOptimizer(space, seed),
            "flattened": lambda seed, space=flat.space: HyperstepOptimizer(space, seed),
            "random": lambda seed, space=tree.space: RandomOptimizer(space, seed),
        }
        losses[tree.name] = {}
        for method, make in makers.items():
            runs = []
            for seed in seeds:
                found, spent = run_batches(make(seed), tree, rounds, batch)
                runs.append(found)
                seconds[method] += spent
            losses[tree.name][method] = np.stack(runs)
            best = np.nanmin(losses[tree.name][method].reshape(len(seeds), -1), axis=1)
            print(f"{tree.name:20s} {method:11s} best per seed {np.round(best, 4).tolist()}", flush=True)
    return {"losses": losses, "optimizer_seconds": seconds, "scores": scoring.score(losses)}


def markdown(result: dict[str, Any], config: dict[str, Any]) -> str:
    """The summary and per-problem tables."""
    runs = config["n_problems"] * len(config["seeds"])
    methods, summary, per_problem = reporting.score_tables(result["scores"], result["optimizer_seconds"], runs)
    mean_best = reporting.table(
        ["problem", *methods],
        [
            [
                p,
                *[
                    float(np.nanmin(np.asarray(by[m]).reshape(len(config["seeds"]), -1), axis=1).mean())
                    for m in methods
                ],
            ]
            for p, by in result["losses"].items()
        ],
    )
    m = config["machine"]
    return (
        "# Conditional (tree) search space against the same space flattened\n\n"
        f"{m['date_utc']}, {m['cpus']} CPUs, Python {m['python']}; commit {config['commit']}; "
        f"models {', '.join(MODELS)} on {config['n_problems']} dataset/metric pairs, seeds {config['seeds']}, "
        f"{config['rounds']} rounds x batch {config['batch']}, wall time {config['wall_seconds']:.0f} s.\n\n"
        "Normalized score: 100 = best loss found by any method, 0 = random search's expected best "
        "(Bayesmark `norm_mean_perf`, see `benchmarks/scoring.py`).\n\n"
        f"{summary}\n\n## Per problem (100 x (1 - norm_mean_perf), last batch)\n\n{per_problem}\n\n"
        f"## Mean best loss over seeds\n\n{mean_best}\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", nargs="+", default=None, help="datasets to run (default: all four)")
    args = parser.parse_args(argv)
    problems = [p for p in PROBLEMS if not args.only or p[0] in args.only]
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    result = run(problems, seeds, args.rounds, args.batch)
    config = {
        "n_problems": len(problems),
        "problems": [f"{d}_{m}" for d, m in problems],
        "seeds": seeds,
        "rounds": args.rounds,
        "batch": args.batch,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
        "commit": reporting.commit(),
    }
    data = {
        "config": config,
        "scores": result["scores"],
        "optimizer_seconds": result["optimizer_seconds"],
        "losses": {p: {m: a.tolist() for m, a in by.items()} for p, by in result["losses"].items()},
    }
    text = markdown({**result, "losses": data["losses"]}, config)
    paths = reporting.write("conditional", text, data)
    print(text)
    print("wrote", *paths)


if __name__ == "__main__":
    main()
