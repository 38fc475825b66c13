"""Why a multi-fidelity method misses full fidelity's best within a third of its compute (issue 9).

For each problem and seed it runs full-fidelity Bayesian optimization (the target: its
final best at the budget) and one multi-fidelity method, and reads off, for the trials the
method started within the first third of the budget:

- how many it started and how many it ran to ``max_resource`` (few starts and many
  completions: it hardly stops anything, so it explores little more than full fidelity);
- the best final value it completed, and the best final value any of its proposals would
  have reached had it run to the end (computed apart, not charged): when the latter beats
  the target but the former does not, the scheduler stopped the winner; when neither does,
  the proposals never came near it;
- Spearman's rho between each rung's value and the final one over those proposals (near 0
  or below: that rung's ranking is noise or crosses, so decisions there cannot help);
- over the whole budget: the best final value completed, and how many trials the scheduler
  stopped whose final value would have beaten it (winners cut: on crossing-2d the incumbent
  stop cut three near the optimum before the curve fit's exponent was refined).

With ``--where`` it prints instead where the compute went before the method first *proposed*
a configuration whose final value reaches the target (its first winning proposal; a third
of the budget if it never did): when that proposal started and how it ended (run to the
end, or stopped at a rung: a winner cut), and before it, the steps spent on trials run to
the end (and how many of those did not improve the best final value so far: the compute
an incumbent stop could have saved) and on trials stopped at each rung.

With ``--proposals asha hyperband`` it reads how good the configurations each model-based
method proposes are, against full fidelity's of the same seed: the final value each would
reach (computed apart, not charged), its quantile among 200 random configurations' finals
(first and second half of the budget), how many land in those configurations' top tenth,
and how many would reach the target at all (winners), when the first was started and how
many the scheduler stopped. Proposals worse than full fidelity's: the strategy is the gap;
as good but no winner completed: the scheduler (or the target is a rare draw).

    nice -n 19 python -m benchmarks.early_stopping_diagnose --only gbm-cancer --seeds 0 1 --method hyperband
    nice -n 19 python -m benchmarks.early_stopping_diagnose --only crossing-2d --seeds 0 1 2 --where
    nice -n 19 python -m benchmarks.early_stopping_diagnose --only gbm-cancer --seeds 0 1 2 --proposals asha hyperband
"""

from __future__ import annotations

import argparse
import os
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from benchmarks.early_stopping import stopping  # noqa: E402
from benchmarks.learning_curves import CurveProblem, problems  # noqa: E402
from hyperstep.study import Study  # noqa: E402


def trials_of(
    problem: CurveProblem, budget: int, seed: int, scheduler: str | None, **options: Any
) -> list[dict[str, Any]]:
    """The benchmark's loop (``early_stopping.hyperstep_method``, model-based), one row per trial."""
    early = None if scheduler is None else stopping(scheduler, problem, True, **options)
    study = Study(problem.space, strategy="bayesian", seed=seed, early_stopping=early)
    spent, rows = 0, []
    while spent < budget:
        trial = study.ask(1)[0]
        start = spent
        for step in range(1, problem.max_resource + 1):
            value = problem.value(trial.params, step)
            spent += 1
            stop = study.report(trial.id, step, value)
            if step == problem.max_resource:
                study.tell(trial.id, value)
                break
            if stop or spent >= budget:
                study.tell(trial.id, value, state="stopped")
                break
        rows.append({"start": start, "steps": step, "value": value, "params": trial.params})
    return rows


def diagnose(problem: CurveProblem, seed: int, method: str, trials: int) -> str:
    budget, top = trials * problem.max_resource, problem.max_resource
    full = trials_of(problem, budget, seed, None)
    target = min(r["value"] for r in full)
    reached = next(r["start"] + top for r in full if r["value"] <= target)
    rows = trials_of(problem, budget, seed, method)
    early = [r for r in rows if r["start"] < budget / 3]
    finals = [problem.value(r["params"], top) for r in early]
    done = [r["value"] for r in early if r["steps"] == top and r["start"] + top <= budget / 3]
    rhos = [spearmanr([problem.value(r["params"], rung) for r in early], finals).correlation for rung in (1, 3, 9)]
    best = min((r["value"] for r in rows if r["steps"] == top), default=np.inf)
    cut = sum(r["steps"] < top and problem.value(r["params"], top) < best for r in rows)
    return (
        f"| {problem.name} | {seed} | {target:.4g} ({reached / budget:.2f}) | {len(early)} | {len(done)} | "
        f"{min(done, default=np.inf):.4g} | {min(finals):.4g} | " + " / ".join(f"{r:.2f}" for r in rhos) + " | "
        f"{best:.5g} | {cut} |"
    )


def where(problem: CurveProblem, seed: int, method: str, trials: int, **options: Any) -> str:
    """One row of the ``--where`` table (see the module docstring)."""
    budget, top = trials * problem.max_resource, problem.max_resource
    full = trials_of(problem, budget, seed, None)
    target = min(r["value"] for r in full)
    full_reach = next(r["start"] + top for r in full if r["value"] <= target) / budget
    rows = trials_of(problem, budget, seed, method, **options)
    winner = next((r for r in rows if problem.value(r["params"], top) <= target + 1e-12), None)
    reach = next((r["start"] + top for r in rows if r["steps"] == top and r["value"] <= target + 1e-12), None)
    until = winner["start"] if winner else budget / 3
    before = [r for r in rows if r["start"] < until]
    incumbent, behind, stopped = np.inf, 0, {}
    for r in before:
        if r["steps"] == top:
            behind += r["value"] >= incumbent
            incumbent = min(incumbent, r["value"])
        else:
            stopped[r["steps"]] = stopped.get(r["steps"], 0) + r["steps"]
    completed = sum(r["steps"] == top for r in before)
    fate = "-" if winner is None else ("run to the end" if winner["steps"] == top else f"stopped at {winner['steps']}")
    started = "never" if winner is None else f"{winner['start'] / budget:.3f}"
    return (
        f"| {problem.name} | {seed} | {target:.6g} ({full_reach:.2f}) | "
        f"{'never' if reach is None else f'{reach / budget:.3f}'} | "
        f"{started} ({fate}) | {len(before)} | "
        f"{completed} ({completed * top / budget:.2f}; {behind} not improving) | "
        + ", ".join(f"{k}: {v / budget:.2f}" for k, v in sorted(stopped.items()))
        + " |"
    )


def reference_finals(problem: CurveProblem, n: int = 200) -> np.ndarray:
    """The final values of ``n`` uniformly random configurations (hyperstep's random strategy,
    seed 0): the scale a proposal's quality is read on (its quantile among these)."""
    study = Study(problem.space, strategy="random", seed=0)
    return np.sort([problem.value(t.params, problem.max_resource) for t in study.ask(n)])


def proposals(
    problem: CurveProblem, seed: int, methods: list[str], trials: int, reference: np.ndarray, **options: Any
) -> list[str]:
    """Rows of the ``--proposals`` table: how good the configurations a method proposes are,
    read off the final value each would reach (computed apart, not charged), against full
    fidelity's proposals of the same seed."""
    budget, top = trials * problem.max_resource, problem.max_resource
    full = trials_of(problem, budget, seed, None)
    target = min(r["value"] for r in full)
    tenth = float(np.quantile(reference, 0.1))
    out = []
    for method in [None, *methods]:
        rows = full if method is None else trials_of(problem, budget, seed, method, **options)
        finals = np.array([problem.value(r["params"], top) for r in rows])
        starts = np.array([r["start"] for r in rows]) / budget
        completed = np.array([r["steps"] == top for r in rows])
        q = np.searchsorted(reference, finals, side="right") / len(reference)  # quantile among random configs
        late = starts >= 0.5
        winners = finals <= target + 1e-12
        first = f"{starts[winners][0]:.2f}" if winners.any() else "never"
        halves = [f"{np.median(q[h]):.2f}" if h.any() else "-" for h in (~late, late)]
        out.append(
            f"| {problem.name} | {seed} | {method or 'full fidelity'} | {target:.5g} | {len(rows)} | "
            + " / ".join(f"{v:.4g}" for v in np.quantile(finals, [0.1, 0.5]))
            + f" | {' / '.join(halves)} | "
            f"{int((finals <= tenth).sum())} ({(finals <= tenth).mean():.2f}) | {int(winners.sum())} | {first} | "
            f"{int((winners & ~completed).sum())} | {min(finals[completed], default=np.inf):.5g} |"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="problems (default: the verdict's)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--method", default="hyperband", choices=["asha", "hyperband"])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--where", action="store_true", help="where the compute went before the first winner")
    parser.add_argument(
        "--proposals", nargs="*", choices=["asha", "hyperband"], help="proposal quality of these against full fidelity"
    )
    parser.add_argument("--resource-model", default="ranks", choices=["ranks", "gp"])
    parser.add_argument("--brackets", default="hyperband", choices=["hyperband", "uniform", "adaptive"])
    args = parser.parse_args(argv)
    every = problems()
    names = args.only or [k for k, p in every.items() if not p.held_out]
    if args.proposals is not None:
        options = {"resource_model": args.resource_model, "brackets": args.brackets}
        print(
            "| problem | seed | method | target | trials started | final they would reach: 10% / 50% | "
            "their median quantile among 200 random configurations: first / second half of the budget | "
            "in the random configurations' top tenth | winners proposed (final <= target) | first started at | "
            "winners stopped | best completed |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in names:
            every[name].load()
            reference = reference_finals(every[name])
            for seed in args.seeds:
                rows = proposals(every[name], seed, args.proposals, args.trials, reference, **options)
                print("\n".join(rows), flush=True)
            every[name].save()
        return
    if args.where:
        options = {"resource_model": args.resource_model, "brackets": args.brackets}
        print(
            "| problem | seed | target (full fidelity reaches it at) | method reaches it at | first winning proposal "
            "started at (its fate) | trials started before it | run to the end before it (compute) | "
            "compute on trials stopped at rung 1 / 3 / 9 before it |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in names:
            every[name].load()
            for seed in args.seeds:
                print(where(every[name], seed, args.method, args.trials, **options), flush=True)
            every[name].save()
        return
    print(
        "| problem | seed | target (full fidelity reaches it at) | trials started in 1/3 | completed in 1/3 | "
        "best completed in 1/3 | best final of those proposals | rho rung 1 / 3 / 9 vs final | "
        "best completed (whole budget) | stopped trials that would have beaten it |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        problem = every[name]
        problem.load()
        for seed in args.seeds:
            print(diagnose(problem, seed, args.method, args.trials), flush=True)
        problem.save()


if __name__ == "__main__":
    main()
