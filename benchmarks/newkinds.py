"""hyperstep against random search and Optuna TPE on kinds of problem not tuned on (strat-17).

Problems and groups: ``newkinds_problems``; pre-registration:
``results/s17_newkinds_prereg.md``. Budgets (``BUDGETS``): 16 trials at 2 a round, 24 at 4,
64 at 4. hyperstep knows its budget (``max_trials``, as a job does), so it runs once per
budget; random search once at 64 and Optuna TPE once at 16 x 2 and once at 64 x 4 (it does
not know the budget: 24 x 4 is the first 24 trials of its 64), scored on their first B.

    nice -n 19 .venv/bin/python -m benchmarks.newkinds run --out /tmp/s17/a.jsonl --seeds 200 201
    .venv/bin/python -m benchmarks.newkinds report /tmp/s17/*.jsonl --name s17_newkinds
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import fresh, reporting, scoring  # noqa: E402
from benchmarks.broad_problems import Problem  # noqa: E402
from benchmarks.newkinds_problems import GROUPS, problems  # noqa: E402
from benchmarks.optimizers import FACTORIES, HyperstepOptimizer, Params, run_batches  # noqa: E402
from benchmarks.small_budget import load  # noqa: E402
from hyperstep.strategies import bayesian  # noqa: E402

BUDGETS = {16: 2, 24: 4, 64: 4}
"""Trials: trials a round."""
SEEDS = tuple(range(200, 210))
CANDIDATES = ("hyperstep", "hyperstep-intbox")
"""Budget-aware methods (one run per budget): the default and the pre-registered candidate."""
INTBOX_PROBLEMS = ("ord-int8-small", "int5-tiny-mixed", "binary14-select")
"""Where ``intbox`` can change anything: an int parameter and a trust region (5+ numeric dimensions).
Elsewhere it returns the default's box unchanged, so its runs there are the default's (not rerun)."""


@contextmanager
def widened_box(widen: Callable[[np.ndarray, np.ndarray, np.ndarray, Any], None]) -> Iterator[None]:
    """While the block runs, the trust region's box is widened in place by ``widen(lo, hi, center, proj)``."""
    default = bayesian.BayesianOptimization._trust_region

    def widened(self: Any, center: Any, lengths: Any, proj: Any, shrink: float = 1.0) -> tuple[Any, Any]:
        lo, hi = default(self, center, lengths, proj, shrink)
        widen(lo, hi, center, proj)
        return lo, hi

    bayesian.BayesianOptimization._trust_region = widened  # type: ignore[method-assign]
    try:
        yield
    finally:
        bayesian.BayesianOptimization._trust_region = default  # type: ignore[method-assign]


def _to_neighbours(lo: np.ndarray, hi: np.ndarray, center: np.ndarray, proj: Any) -> None:
    if (lo == 0).all() and (hi == 1).all():
        return
    for col, param in proj.ints:
        k = param.decode(center[col : col + 1])
        lo[col] = min(lo[col], param.encode(max(param.low, k - 1))[0])
        hi[col] = max(hi[col], param.encode(min(param.high, k + 1))[0])


def intbox() -> AbstractContextManager[None]:
    """Candidate ``intbox`` (prereg): the trust region along an int column reaches the integers
    next to the incumbent's on both sides (the default's is often narrower than one step)."""
    return widened_box(_to_neighbours)


class Patched(HyperstepOptimizer):
    """hyperstep asking while a candidate's change (``patch``: a widened trust region, a
    transform of the history) is in place."""

    patch: Callable[[], AbstractContextManager[None]]

    def ask(self, n: int) -> list[Params]:
        with self.patch():
            return super().ask(n)


class IntBox(Patched):
    patch = staticmethod(intbox)


FACTORIES["hyperstep-intbox"] = IntBox


@dataclass(frozen=True)
class Plan:
    """One pre-registered comparison: its problems and groups, seeds, and the candidate against the
    default (``hyperstep``), run only where it can change anything (``changed``): elsewhere its
    report reuses the default's runs."""

    problems: Callable[[], dict[str, Problem]]
    groups: dict[str, list[str]]
    seeds: tuple[int, ...]
    candidate: str
    changed: tuple[str, ...]
    record: str
    """The report's default name (``results/<record>.md``)."""
    others: tuple[str, ...] = ()
    """Further candidates, run and reused exactly as ``candidate``."""

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.candidate, *self.others)


S17 = Plan(problems, GROUPS, SEEDS, "hyperstep-intbox", INTBOX_PROBLEMS, "s17_newkinds")


def runs(plan: Plan, problem: str) -> list[tuple[str, int, int]]:
    """``(method, trials, batch)`` of every run ``problem`` needs for one seed."""
    methods = ("hyperstep", *plan.candidates) if problem in plan.changed else ("hyperstep",)
    out = [(m, b, k) for m in methods for b, k in BUDGETS.items()]
    return [*out, ("random", 64, 4), ("optuna-tpe", 16, 2), ("optuna-tpe", 64, 4)]


def source(method: str, budget: int, problem: str, plan: Plan = S17) -> tuple[str, int]:
    """Which run's first ``budget`` trials score ``method`` at ``budget`` on ``problem``."""
    if method in plan.candidates and problem not in plan.changed:
        return "hyperstep", budget
    if method == "hyperstep" or method in plan.candidates:
        return method, budget
    return method, 16 if method == "optuna-tpe" and budget == 16 else 64


def run(args: argparse.Namespace, plan: Plan = S17) -> None:
    chosen = plan.problems()
    with Path(args.out).open("a") as out:
        for seed in args.seeds:
            for name in args.problems or list(chosen):
                problem = chosen[name]
                for method, trials, batch in runs(plan, name):
                    if args.methods and method not in args.methods:
                        continue
                    checked = fresh.Checked(FACTORIES[method](problem.space, seed), problem.space)
                    losses, spent = run_batches(checked, problem.f, trials // batch, batch)
                    line = {"problem": name, "seed": seed, "method": method, "trials": trials}
                    line |= {"losses": losses.ravel().tolist(), "seconds": spent, "defects": checked.problems}
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    print(f"{name:22s} {method:12s} B={trials} seed {seed} {spent:.1f} s", flush=True)


def losses_at(
    lines: list[dict[str, Any]], budget: int, methods: list[str], plan: Plan = S17
) -> tuple[dict[str, Any], list[int]]:
    """``{problem: {method: losses (seeds, rounds, batch)}}`` at ``budget`` over the seeds, consecutive
    from the plan's first, that every method finished on every problem; and those seeds."""
    by = {(d["problem"], d["seed"], d["method"], d["trials"]): d["losses"] for d in lines}
    names, seeds = list(plan.problems()), []
    for seed in plan.seeds:
        if not all((n, seed, *source(m, budget, n, plan)) in by for n in names for m in methods):
            break
        seeds.append(seed)
    batch = BUDGETS[budget]
    out = {
        n: {
            m: np.array([by[(n, s, *source(m, budget, n, plan))][:budget] for s in seeds], dtype=float).reshape(
                len(seeds), budget // batch, batch
            )
            for m in methods
        }
        for n in names
    }
    return out, seeds


def scores_by_budget(
    lines: list[dict[str, Any]], methods: list[str], plan: Plan = S17
) -> tuple[dict[int, dict[str, Any]], dict[int, list[int]], dict[int, dict[str, Any]]]:
    """Normalized scores ``{budget: {"all" | group: {method: score}, "per_problem": ...}}`` (``"all"``:
    the problems of every group but those the plan adds to newkinds'), the seeds scored, and the losses."""
    scores: dict[int, dict[str, Any]] = {}
    seeds: dict[int, list[int]] = {}
    losses: dict[int, dict[str, Any]] = {}
    pooled = {n for names in GROUPS.values() for n in names}
    for budget in BUDGETS:
        at, seeds[budget] = losses_at(lines, budget, methods, plan)
        if not seeds[budget]:
            raise SystemExit(f"no seed finished every problem at {budget} trials")
        losses[budget] = at
        scores[budget] = {"all": scoring.score({n: by for n, by in at.items() if n in pooled})["normalized"]}
        for group, names in plan.groups.items():
            scores[budget][group] = scoring.score({n: at[n] for n in names})["normalized"]
        scores[budget]["per_problem"] = {n: scoring.score({n: by})["normalized"] for n, by in at.items()}
    return scores, seeds, losses


def verdict(scores: dict[int, dict[str, Any]], without: dict[int, dict[str, float]]) -> dict[str, Any]:
    """The pre-registered rule for ``hyperstep-intbox`` against ``hyperstep`` (points 1-3; 4 is not measured).
    ``without``: the small-int group's scores without ord-int8-small, per budget."""
    new, old = "hyperstep-intbox", "hyperstep"
    gain = float(np.mean([scores[b]["all"][new] - scores[b]["all"][old] for b in BUDGETS]))
    small = [b for b in BUDGETS if scores[b]["small-int"][new] > scores[b]["small-int"][old]]
    rest = float(np.mean([without[b][new] - without[b][old] for b in BUDGETS]))
    harm = [
        f"{g} at {b}: {scores[b][g][new] - scores[b][g][old]:+.2f}"
        for b in BUDGETS
        for g in GROUPS
        if scores[b][g][new] < scores[b][g][old] - 3.0
    ]
    passes = gain >= 2.0 and len(small) >= 2 and rest >= 0.0 and not harm
    return {
        "mean_gain_all": gain,
        "small_int_up_at": small,
        "small_int_without_ord_gain": rest,
        "harm": harm,
        "passes_1_to_3": passes,
    }


def report(args: argparse.Namespace) -> None:
    lines = load(args.files)
    methods = [*CANDIDATES, "optuna-tpe", "random"]
    if args.methods:
        methods = [m for m in methods if m in args.methods or m == "random"]
    scores, seeds, losses = scores_by_budget(lines, methods)
    rest = [n for n in GROUPS["small-int"] if n != "ord-int8-small"]
    without = {b: scoring.score({n: losses[b][n] for n in rest})["normalized"] for b in BUDGETS}
    decision = verdict(scores, without) if "hyperstep-intbox" in methods else None
    config = {"seeds": seeds, "budgets": BUDGETS, "groups": GROUPS, "machine": reporting.machine()}
    title = "New kinds of problem (strat-17)"
    text = (
        markdown(scores, methods, config, lines, (title, "s17_newkinds_prereg.md"))
        + f"\n## Verdict (pre-registered rule, points 1-3)\n\n{decision}\n"
    )
    reporting.write(args.name, text, {"config": config, "scores": scores, "verdict": decision, "runs": lines})
    print(text)


def candidate_gains(
    scores: dict[int, dict[str, Any]], groups: dict[str, list[str]], candidate: str
) -> tuple[Callable[[str, int], float], dict[int, float], list[str]]:
    """What a pre-registered rule reads: the candidate's gain over the default for a group or
    problem at a budget, the pooled gain by budget, and the groups more than 3 worse."""

    def gain(group: str, budget: int) -> float:
        at = scores[budget]["per_problem"][group] if group in scores[budget]["per_problem"] else scores[budget][group]
        return float(at[candidate] - at["hyperstep"])

    pooled = {b: gain("all", b) for b in BUDGETS}
    harm = [f"{g} at {b}: {gain(g, b):+.2f}" for b in BUDGETS for g in groups if gain(g, b) < -3.0]
    return gain, pooled, harm


def candidate_record(
    args: argparse.Namespace,
    plan: Plan,
    candidates: list[str],
    decide: Callable[[dict[int, dict[str, Any]], dict[str, list[str]]], Any],
    title: tuple[str, str],
) -> None:
    """The record of a pre-registered candidate set over the problems the runs hold (every problem
    of ``plan``, or fewer when runs were cut short: then ``"all"`` pools the newkinds problems among
    them and groups keep those they hold); ``decide`` gives the verdict from the scores and groups;
    ``title`` is the record's title and its pre-registration's file name."""
    lines = load(args.files)
    held = {d["problem"] for d in lines}
    chosen = {n: p for n, p in plan.problems().items() if n in held}
    kept = {g: [n for n in names if n in held] for g, names in plan.groups.items()}
    kept = {g: names for g, names in kept.items() if names}
    methods = ["hyperstep", *candidates, "optuna-tpe", "random"]
    scores, seeds, _ = scores_by_budget(lines, methods, replace(plan, problems=lambda: chosen, groups=kept))
    decision = decide(scores, kept)
    config = {"seeds": seeds, "budgets": BUDGETS, "groups": kept, "machine": reporting.machine()}
    text = markdown(scores, methods, config, lines, title)
    text += f"\n## Verdict (pre-registered rule, points 1-4)\n\n{decision}\n"
    reporting.write(args.name, text, {"config": config, "scores": scores, "verdict": decision, "runs": lines})
    print(text)


def markdown(
    scores: dict[int, dict[str, Any]],
    methods: list[str],
    config: dict[str, Any],
    lines: list[dict[str, Any]],
    names: tuple[str, str],
) -> str:
    """The record: ``names`` are its title and its pre-registration's file in ``results/``."""
    m, (title, prereg) = config["machine"], names
    seconds = {x: float(np.mean([d["seconds"] for d in lines if d["method"] == x] or [0.0])) for x in methods}
    defects = [f"{d['method']} {d['problem']} seed {d['seed']}: {x}" for d in lines for x in d["defects"]]
    problem_names = list(scores[next(iter(BUDGETS))]["per_problem"])
    summary, per = reporting.budget_tables(scores, methods, list(config["groups"]), problem_names, list(BUDGETS))
    head = (
        f"# {title}\n\n{m['date_utc']}, {m['cpus']} CPUs, commit {m['hyperstep_commit']}; "
        f"seeds per budget {config['seeds']}; budgets (trials: per round) {config['budgets']}. "
        f"Pre-registration: `results/{prereg}`. HEBO not run (no HEBO virtualenv in this worktree).\n\n"
        "Normalized score (100 = best any method found within B trials, 0 = random search's expected best of B).\n"
    )
    return "\n".join(
        [
            head,
            summary,
            "\n## Optimizer seconds per run (mean over every run of the method)\n",
            reporting.table(["method", "seconds"], [[x, seconds[x]] for x in methods]),
            "\n## Per problem\n",
            per,
            fresh.crashes_section({"all": defects}),
        ]
    )


def main(
    argv: list[str] | None = None,
    plan: Plan = S17,
    reporter: Callable[[argparse.Namespace], None] = report,
    doc: str | None = __doc__,
) -> None:
    """The command line of ``plan``'s comparison: ``run`` with ``run``, ``report`` with ``reporter``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--out", required=True, help="JSON-lines file the runs are appended to")
    go.add_argument("--problems", nargs="*", default=None, choices=sorted(plan.problems()))
    go.add_argument("--seeds", nargs="*", type=int, default=list(plan.seeds))
    go.add_argument("--methods", nargs="*", default=None)
    score = sub.add_parser("report")
    score.add_argument("files", nargs="+")
    score.add_argument("--name", default=plan.record)
    score.add_argument("--methods", nargs="*", default=None)
    args = parser.parse_args(argv)
    run(args, plan) if args.command == "run" else reporter(args)


if __name__ == "__main__":
    main()
