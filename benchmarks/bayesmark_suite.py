"""Bayesmark-style suite: tune scikit-learn models on toy datasets, score like Bayesmark.

Every method (hyperstep's ``bayesian`` strategy, uniform random search, Optuna TPE and,
when installed, scikit-optimize's GP) runs 16 rounds of 8 parallel suggestions on each
problem from ``sklearn_problems`` under several seeds, in the same process and harness.
Scores are Bayesmark's normalized mean score (see ``scoring``): 100 = the best loss any
method found, 0 = random search's expected best after as many evaluations.

    .venv/bin/python -m benchmarks.bayesmark_suite --quick      # 8 cheap problems, 2 seeds
    .venv/bin/python -m benchmarks.bayesmark_suite              # 80 problems, 3 seeds (hours)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks import reporting, scoring
from benchmarks.optimizers import FACTORIES, default_methods, run_batches
from benchmarks.sklearn_problems import QUICK, Problem, all_problems


def run_suite(
    problems: list[Problem],
    methods: list[str],
    seeds: list[int],
    rounds: int,
    batch: int,
    log: bool = True,
    name: str | None = None,
    merge_files: list[str] | None = None,
) -> dict[str, Any]:
    """Run every method on every problem and seed; return raw losses, timings and scores.

    With ``name`` the raw losses so far are written after every problem
    (``results/NAME.partial.json``, as ``broad`` does); ``merge_files`` adds methods of
    earlier runs of the same problems and seeds (``broad.merge``) before scoring.
    """
    from benchmarks.broad import _checkpoint, merge

    losses: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    for problem in problems:
        losses[problem.name] = {}
        for method in methods:
            runs = []
            for seed in seeds:
                optimizer = FACTORIES[method](problem.space, seed)
                run, spent = run_batches(optimizer, problem, rounds, batch)
                runs.append(run)
                seconds[method] += spent
            losses[problem.name][method] = np.stack(runs)
            if log:
                best = np.nanmin(losses[problem.name][method].reshape(len(seeds), -1), axis=1)
                print(f"{problem.name:26s} {method:11s} best per seed {np.round(best, 4).tolist()}", flush=True)
        if name:
            _checkpoint(name, losses, {}, seeds)
    merged = merge(losses, {}, merge_files or [], len(seeds), seeds[0]) if merge_files else {}
    scored = any("random" in by for by in losses.values())  # --no-random and nothing merged: nothing to score against
    scores = score_with_partial(losses) if scored else None
    return {"losses": losses, "optimizer_seconds": seconds, "scores": scores, "merged": merged}


def score_with_partial(losses: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Scores of the methods that ran on every problem, and, apart (``partial``), of each
    method that ran on only some (HEBO, slow here) beside the others on those problems."""
    everywhere = set.intersection(*(set(by) for by in losses.values()))
    full = {p: {m: a for m, a in by.items() if m in everywhere} for p, by in losses.items()}
    scores: dict[str, Any] = {**scoring.score(full), "partial": {}}
    for method in sorted({m for by in losses.values() for m in by} - everywhere):
        where = {p: by for p, by in losses.items() if method in by}
        common = set.intersection(*(set(by) for by in where.values()))
        kept = {p: {m: by[m] for m in common} for p, by in where.items()}
        scores["partial"][method] = {"problems": sorted(where), **scoring.score(kept)}
    return scores


def _partial_tables(scores: dict[str, Any]) -> str:
    out = ""
    for method, part in scores.get("partial", {}).items():
        cols = sorted(part["normalized"], key=lambda m: -part["normalized"][m])
        rows = [[p, *[by[m] for m in cols]] for p, by in part["per_problem"].items()]
        rows.append(["**these problems**", *[part["normalized"][m] for m in cols]])
        out += f"\n## Where {method} ran ({len(part['problems'])} problems)\n\n" + reporting.table(
            ["problem", *cols], rows
        )
        out += "\n"
    return out


def markdown(result: dict[str, Any], config: dict[str, Any]) -> str:
    """The summary and per-problem tables."""
    scores, runs = result["scores"], config["n_problems"] * len(config["seeds"])
    _, summary, per_problem = reporting.score_tables(scores, result["optimizer_seconds"], runs)
    sources = "".join(
        f"\n- `{method}`: seeds {src['seeds']} from `{src['file']}` (commit {src['commit']})"
        for method, srcs in config.get("merged", {}).items()
        for src in srcs
    )
    if sources:
        sources = "\n\nMethods taken from earlier runs of the same problems and seeds (`--merge`):" + sources + "\n"
    m = config["machine"]
    return (
        f"# Bayesmark-style suite ({config['mode']})\n\n"
        f"{m['date_utc']}, {m['cpus']} CPUs, Python {m['python']}; {config['n_problems']} problems, "
        f"seeds {config['seeds']}, {config['rounds']} rounds x batch {config['batch']}, "
        f"wall time {config['wall_seconds']:.0f} s.\n\n"
        "Normalized score: 100 = best loss found by any method, 0 = random search's expected best "
        "(Bayesmark `norm_mean_perf`, see `benchmarks/scoring.py`).\n\n"
        f"{sources}\n{summary}\n\n## Per problem (100 x (1 - norm_mean_perf), last batch)\n\n{per_problem}\n"
        + _partial_tables(scores)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 cheap problems, 2 seeds (about 10 minutes)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, quick 2)")
    parser.add_argument("--methods", nargs="+", default=None, choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="run problems whose name contains any of these")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="results file name (default bayesmark or bayesmark_quick)")
    parser.add_argument(
        "--merge", nargs="+", default=[], help="earlier results JSON files whose methods join the scoring"
    )
    parser.add_argument("--no-random", action="store_true", help="do not run random search (take it from --merge)")
    args = parser.parse_args(argv)

    problems = QUICK if args.quick else all_problems()
    if args.only:
        problems = [p for p in problems if any(s in p.name for s in args.only)]
    methods = args.methods or default_methods()
    if "random" not in methods and not args.no_random:
        methods = ["random", *methods]
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or (2 if args.quick else 3))))
    name = args.name or ("bayesmark_quick" if args.quick else "bayesmark")
    start = time.perf_counter()
    result = run_suite(problems, methods, seeds, args.rounds, args.batch, name=name, merge_files=args.merge)
    if result["scores"] is None:
        print("no random search to score against; raw losses in", reporting.RESULTS / f"{name}.partial.json")
        return
    config = {
        "mode": "quick" if args.quick else "full",
        "n_problems": len(problems),
        "problems": [p.name for p in problems],
        "methods": methods,
        "seeds": seeds,
        "rounds": args.rounds,
        "batch": args.batch,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
        "merged": result["merged"],
    }
    text = markdown(result, config)
    data = {
        "config": config,
        "scores": result["scores"],
        "optimizer_seconds": result["optimizer_seconds"],
        "losses": {p: {m: a.tolist() for m, a in by.items()} for p, by in result["losses"].items()},
    }
    reporting.write_final(name, text, data)


if __name__ == "__main__":
    main()
