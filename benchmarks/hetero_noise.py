"""noise-14: the Bayesian strategy under noise that is large in one region only (the runs of results/hetero_noise.md).

Runs methods on the fresh set's ``hetero`` kind (the training set of this work) or on the
held-out group ``fresh_problems.hetero_holdout`` (written before any candidate ran on it),
scores them like ``benchmarks.fresh`` (the true loss at each run's best noisy observation,
Bayesmark's normalized score against random search) and prints per run where the trials
went: the share of the second half of the trials in the noisy region (noise sd above
``NOISY_SD``), the best true value among all trials and the final recommendation's.

``hyperstep-<variant>`` runs a candidate of ``results/hetero_noise_prereg.md``: ``cap1`` raises
``gp.LOG_NOISE_BOUNDS``'s cap to 1.0; ``hetero`` and ``hetero-pm`` set ``bayesian.NOISE_MODEL``,
which exists only with ``results/n14_candidates.diff`` applied (none was adopted; results in
``results/hetero_noise.md``). ``hyperstep`` is the default.

    nice -n 19 .venv/bin/python -m benchmarks.hetero_noise --set train --seeds 5 --methods hyperstep
    nice -n 19 .venv/bin/python -m benchmarks.hetero_noise --set holdout --seeds 5 \
        --methods random optuna-tpe hyperstep hyperstep-hetero --name hetero_holdout

The candidates join ``benchmarks.optimizers.FACTORIES`` here, so the other benchmarks run them
through this module (the no-harm check): ``python -m benchmarks.hetero_noise broad --set all
--methods random hyperstep hyperstep-hetero ...`` runs ``benchmarks.broad`` (likewise ``fresh``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import fresh_problems, reporting, scoring  # noqa: E402
from benchmarks.broad import recommended_true  # noqa: E402
from benchmarks.broad_problems import Params, Problem  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, HyperstepOptimizer, run_batches  # noqa: E402
from hyperstep.space import SearchSpace  # noqa: E402

VARIANTS = ("hetero", "hetero-pm", "cap1")
NOISY_SD = 0.1
"""A trial lies in the noisy region where the problem's noise sd is above this."""


def problems(which: str) -> list[Problem]:
    if which == "train":
        return fresh_problems.hetero()
    return fresh_problems.hetero_holdout()


@contextmanager
def candidate(variant: str) -> Iterator[None]:
    """The Bayesian strategy as the noise-14 candidate ``variant`` ("" = the default) within the block.

    ``hetero`` and ``hetero-pm`` need ``results/n14_candidates.diff`` applied (``git apply``): not
    adopted, their code is not in the library."""
    from hyperstep.strategies import bayesian, gp

    if variant.startswith("hetero") and not hasattr(bayesian, "NOISE_MODEL"):
        raise SystemExit(f"candidate {variant} needs benchmarks/results/n14_candidates.diff applied (git apply)")
    bounds, model = gp.LOG_NOISE_BOUNDS, getattr(bayesian, "NOISE_MODEL", None)
    if variant == "cap1":
        gp.LOG_NOISE_BOUNDS = (bounds[0], 0.0)
    elif variant:
        bayesian.NOISE_MODEL = variant
    try:
        yield
    finally:
        gp.LOG_NOISE_BOUNDS = bounds
        if model is not None:
            bayesian.NOISE_MODEL = model


class Candidate(BatchOptimizer):
    """hyperstep's Bayesian strategy as a noise-14 candidate (its flag set only while it asks)."""

    def __init__(self, space: SearchSpace, seed: int, variant: str) -> None:
        self.inner, self.variant = HyperstepOptimizer(space, seed), variant

    def ask(self, n: int) -> list[Params]:
        with candidate(self.variant):
            return self.inner.ask(n)

    def tell(self, losses: list[float | None]) -> None:
        self.inner.tell(losses)

    def plan(self, trials: int) -> None:
        self.inner.plan(trials)


for _variant in VARIANTS:
    FACTORIES[f"hyperstep-{_variant}"] = partial(Candidate, variant=_variant)


def run_one(problem: Any, method: str, seed: int) -> dict[str, Any]:
    """One run: the losses to score, random search's (noisy, true) pair, and where the trials went."""
    rounds, batch = fresh_problems.budget(problem.kind)
    truths: list[float] = []
    sds: list[float] = []
    asked: list[Params] = []
    seen = problem.noisy(np.random.default_rng(10_000 + seed))

    def objective(params: Params) -> float:
        asked.append(params)
        truths.append(problem.true(params))
        sds.append(problem.sd(params))
        return seen(params)

    losses, spent = run_batches(FACTORIES[method](problem.space, seed), objective, rounds, batch)
    true = np.array(truths).reshape(rounds, batch)
    late = np.array(sds[len(sds) // 2 :])
    rec = recommended_true(problem, losses, true)
    return {
        "noisy": losses.tolist(),
        "true": true.tolist(),
        "recommended": rec.tolist(),
        "seconds": spent,
        "params": asked,
        "late_noisy_share": float((late > NOISY_SD).mean()),
        "best_true": float(np.nanmin(true)),
        "final_true": float(rec[-1, 0]),
    }


def score(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Normalized scores per problem and over the problems (every method against random search)."""
    losses = {p: {m: np.array([r["recommended"] for r in rs]) for m, rs in by.items()} for p, by in runs.items()}
    pairs = {
        p: (np.array([r["noisy"] for r in by["random"]]), np.array([r["true"] for r in by["random"]]))
        for p, by in runs.items()
    }
    return scoring.score(losses, noisy_pairs=pairs)


def bootstrap(runs: dict[str, dict[str, list[dict[str, Any]]]], draws: int = 500) -> dict[str, tuple[float, float]]:
    """Each method's score minus the default's: the 5th and 95th percentiles over seed resamples (every
    method and problem resampled with the same seeds, as they share each seed's noise)."""
    rng = np.random.default_rng(0)
    n = min(len(rs) for by in runs.values() for rs in by.values())
    out: dict[str, list[float]] = {}
    for _ in range(draws):
        pick = rng.integers(0, n, n)
        scores = score({p: {m: [rs[i] for i in pick] for m, rs in by.items()} for p, by in runs.items()})["normalized"]
        for m, v in scores.items():
            out.setdefault(m, []).append(v - scores["hyperstep"])
    return {m: (float(np.percentile(v, 5)), float(np.percentile(v, 95))) for m, v in out.items()}


def summary(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    scores = score(runs)
    methods = sorted(scores["normalized"], key=lambda m: -scores["normalized"][m])
    spread = bootstrap(runs) if "hyperstep" in methods else {}
    rows = [["**all problems**", *[f"{scores['normalized'][m]:.1f}" for m in methods]]]
    if spread:
        ranges = [f"{spread[m][0]:+.1f} to {spread[m][1]:+.1f}" for m in methods]
        rows.append(["minus default, 90% seed bootstrap", *ranges])
    for p, by in runs.items():
        one = score({p: by})["normalized"]
        rows.append([p, *[f"{one[m]:.1f}" for m in methods]])
    detail = []
    for p, by in runs.items():
        for m in methods:
            rs = by[m]
            detail.append(
                [
                    p,
                    m,
                    f"{np.mean([r['late_noisy_share'] for r in rs]):.2f}",
                    f"{np.median([r['best_true'] for r in rs]):.4g}",
                    f"{np.median([r['final_true'] for r in rs]):.4g}",
                    " ".join(f"{r['final_true']:.3g}" for r in rs),
                ]
            )
    return (
        reporting.table(["problem", *methods], rows)
        + "\n\n"
        + reporting.table(
            ["problem", "method", "late noisy share", "median best true", "median final true", "final true per seed"],
            detail,
        )
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("broad", "fresh"):
        from benchmarks import broad, fresh

        (broad if argv[0] == "broad" else fresh).main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=["train", "holdout"], default="train")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["random", "hyperstep"], choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="problems whose name contains one of these")
    parser.add_argument("--merge", nargs="+", default=[], help="earlier results of this script whose runs join")
    parser.add_argument("--name", default="hetero_noise_run", help="results file name (results/NAME.md/.json)")
    args = parser.parse_args(argv)
    chosen = [p for p in problems(args.set) if not args.only or any(s in p.name for s in args.only)]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {p.name: {} for p in chosen}
    for name in args.merge:
        for p, by in json.loads((reporting.RESULTS / name).read_text())["runs"].items():
            if p in runs:
                for m, rs in by.items():
                    runs[p].setdefault(m, rs[: args.seeds])
    start = time.perf_counter()
    for problem in chosen:
        for method in args.methods:
            if method in runs[problem.name]:
                continue
            runs[problem.name][method] = []
            for seed in range(args.seeds):
                run = run_one(problem, method, seed)
                runs[problem.name][method].append(run)
                print(
                    f"{problem.name:24s} {method:22s} seed {seed} final true {run['final_true']:.4g} best true "
                    f"{run['best_true']:.4g} late noisy {run['late_noisy_share']:.2f} ({run['seconds']:.0f} s)",
                    flush=True,
                )
            partial = {"runs": runs, "machine": reporting.machine()}
            (reporting.RESULTS / f"{args.name}.partial.json").write_text(json.dumps(partial) + "\n")
    config = {"set": args.set, "seeds": list(range(args.seeds)), "wall_seconds": time.perf_counter() - start}
    text = (
        f"# Hetero noise: {args.set}\n\n{reporting.machine()}\n\n{config}\n\n"
        "Normalized score (100 = best any method found, 0 = random search's expected recommendation), "
        "scored on the true loss at each run's best noisy observation; late noisy share = the share of "
        f"the second half of the trials where the noise sd is above {NOISY_SD}.\n\n" + summary(runs) + "\n"
    )
    (reporting.RESULTS / f"{args.name}.md").write_text(text)
    data = {"runs": runs, "config": config, "machine": reporting.machine()}
    (reporting.RESULTS / f"{args.name}.json").write_text(json.dumps(data) + "\n")  # compact: every trial's params
    (reporting.RESULTS / f"{args.name}.partial.json").unlink(missing_ok=True)
    print(text)


if __name__ == "__main__":
    main()
