"""hyperstep against Optuna TPE, random search, and (on what they finish) HEBO and Optuna's GP on
a fourth held-out set of kinds never tuned on (opt-23).

Problems and groups: ``heldout4_problems``; pre-registration: ``results/o23_heldout4_prereg.md``.
Budgets (``BUDGETS``): 20 trials asked one at a time, 48 at 4 a round. hyperstep and TPE run
once per budget (hyperstep knows its budget, ``max_trials``, as a job does); random search runs
48 once and is scored on its first B; HEBO and Optuna's GP run 48 x 4 only and are scored at 48
in a table of their own (``--methods``). A stochastic problem's draws come from
``default_rng(10_000 + seed)``; a noisy one is scored by the true loss at a run's best noisy
observation, as the broad sets' noisy problems.

    nice -n 19 .venv/bin/python -m benchmarks.heldout4 run --out /tmp/o23/a.jsonl --seeds 230 231
    .venv/bin/python -m benchmarks.heldout4 report /tmp/o23/*.jsonl --name o23_heldout4
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import hyperstep  # noqa: E402
from benchmarks import fresh, reporting, scoring  # noqa: E402
from benchmarks.broad import recommended_true  # noqa: E402
from benchmarks.broad_problems import Problem  # noqa: E402
from benchmarks.heldout4_problems import GROUPS, MAXIMIZE, problems  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, HyperstepOptimizer, run_batches  # noqa: E402
from benchmarks.small_budget import load, run_report_parser  # noqa: E402
from hyperstep.space import SearchSpace  # noqa: E402

BUDGETS = {20: 1, 48: 4}
"""Trials: trials a round."""
SEEDS = tuple(range(230, 240))
MAIN = ("hyperstep", "optuna-tpe", "random")
"""Every problem, every seed, both budgets."""
EXTRA = ("hebo", "optuna-gp")
"""48 x 4 only, on the problems and seeds they finish (scored in a table of their own)."""


@dataclass(frozen=True)
class HeldOut:
    """A held-out set run by this harness: its problems, groups, maximized problems, seeds and budgets
    (trials: trials a round). The fourth set is the default; ``heldout5`` passes its own."""

    title: str
    prereg: str
    problems: Callable[[], dict[str, Problem]] = problems
    groups: dict[str, list[str]] = field(default_factory=lambda: GROUPS)
    maximize: tuple[str, ...] = MAXIMIZE
    seeds: tuple[int, ...] = SEEDS
    budgets: dict[int, int] = field(default_factory=lambda: BUDGETS)


FOURTH = HeldOut("Fourth held-out set (opt-23)", "results/o23_heldout4_prereg.md")


class Maximizing(HyperstepOptimizer):
    """hyperstep with ``goal="maximize"``: it is told the negated loss (a score to maximize)."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        super().__init__(space, seed)
        self.study = hyperstep.Study(space, goal="maximize", strategy="bayesian", seed=seed)

    def tell(self, losses: list[float | None]) -> None:
        super().tell([None if v is None else -v for v in losses])


def runs(method: str, held: HeldOut = FOURTH) -> list[tuple[int, int]]:
    """``(trials, batch)`` of the runs ``method`` makes for one problem and seed."""
    if method in ("hyperstep", "optuna-tpe"):
        return list(held.budgets.items())
    return [(48, 4)]


def optimizer(method: str, problem: Problem, seed: int, held: HeldOut = FOURTH) -> BatchOptimizer:
    if method == "hyperstep" and problem.name in held.maximize:
        return Maximizing(problem.space, seed)
    return FACTORIES[method](problem.space, seed)


def run_one(
    problem: Problem, method: str, seed: int, trials: int, batch: int, held: HeldOut = FOURTH
) -> dict[str, Any]:
    """One run: the losses it saw, the true ones, its optimizer seconds and the invalid suggestions."""
    truths: list[float] = []
    seen = problem.noisy(np.random.default_rng(10_000 + seed))

    def objective(params: dict[str, Any]) -> float:
        truths.append(problem.true(params))
        return seen(params)

    checked = fresh.Checked(optimizer(method, problem, seed, held), problem.space)
    losses, spent = run_batches(checked, objective, trials // batch, batch)
    line = {"problem": problem.name, "seed": seed, "method": method, "trials": trials, "batch": batch}
    return line | {"losses": losses.ravel().tolist(), "true": truths, "seconds": spent, "defects": checked.problems}


def run(args: argparse.Namespace, held: HeldOut = FOURTH) -> None:
    chosen = held.problems()
    with Path(args.out).open("a") as out:
        for seed in args.seeds:
            for name in args.problems or list(chosen):
                for method in args.methods:
                    for trials, batch in runs(method, held):
                        line = run_one(chosen[name], method, seed, trials, batch, held)
                        out.write(json.dumps(line) + "\n")
                        out.flush()
                        print(
                            f"{name:20s} {method:11s} B={trials}x{batch} seed {seed} {line['seconds']:.1f} s",
                            flush=True,
                        )


def _scored(problem: Problem, line: dict[str, Any], budget: int, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A run's losses to score at ``budget`` (rounds, batch), and on a noisy problem its (noisy, true) pair."""
    shape = (budget // batch, batch)
    seen = np.array(line["losses"][:budget], dtype=float).reshape(shape)
    if problem.noise <= 0:
        return seen, None
    true = np.array(line["true"][:budget], dtype=float).reshape(shape)
    return recommended_true(problem, seen, true), np.stack([seen, true])


def _source(method: str, budget: int) -> int:
    """The trials of the run that scores ``method`` at ``budget``."""
    return budget if method in ("hyperstep", "optuna-tpe") else 48


def scores_at(
    lines: list[dict[str, Any]], budget: int, methods: list[str], names: list[str], held: HeldOut = FOURTH
) -> dict[str, Any]:
    """Normalized scores at ``budget`` over the seeds, consecutive from the first, that every method
    finished on every problem of ``names``: ``{"all" | group: {method: score}, "per_problem": ..., "seeds": ...}``."""
    chosen, batch = held.problems(), held.budgets[budget]
    by = {(d["problem"], d["seed"], d["method"], d["trials"]): d for d in lines}
    seeds = []
    for seed in held.seeds:
        if not all((n, seed, m, _source(m, budget)) in by for n in names for m in methods):
            break
        seeds.append(seed)
    if not seeds:
        return {}
    losses: dict[str, dict[str, np.ndarray]] = {}
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for n in names:
        losses[n] = {}
        for m in methods:
            scored = [_scored(chosen[n], by[(n, s, m, _source(m, budget))], budget, batch) for s in seeds]
            losses[n][m] = np.stack([a for a, _ in scored])
            if m == "random" and scored[0][1] is not None:
                pairs[n] = (np.stack([p[0] for _, p in scored]), np.stack([p[1] for _, p in scored]))  # type: ignore[index]
    out: dict[str, Any] = {"seeds": seeds, "all": scoring.score(losses, noisy_pairs=pairs)["normalized"]}
    for group, members in held.groups.items():
        kept = {n: losses[n] for n in members if n in losses}
        if kept:
            out[group] = scoring.score(kept, noisy_pairs=pairs)["normalized"]
    out["per_problem"] = {n: scoring.score({n: losses[n]}, noisy_pairs=pairs)["normalized"] for n in names}
    out["final_best"] = {
        n: {m: [float(np.nanmin(np.append(a.ravel(), np.inf))) for a in losses[n][m]] for m in methods} for n in names
    }
    return out


def behind(scores: dict[str, Any], budget: int, anchors: list[str], held: HeldOut = FOURTH) -> list[str]:
    """Where hyperstep is behind an anchor by the pre-registered clear margin at ``budget``: a problem more
    than 15 points below with the anchor's final best better in at least 70 % of the seeds, a group more
    than 10 below."""
    out = []
    for a in anchors:
        for n, by in scores["per_problem"].items():
            ours, theirs = np.array(scores["final_best"][n]["hyperstep"]), np.array(scores["final_best"][n][a])
            if by["hyperstep"] < by[a] - 15.0 and np.mean(theirs < ours) >= 0.7:
                out.append(f"{n} at {budget}: {by['hyperstep']:.1f} against {a} {by[a]:.1f}")
        for g in ["all", *held.groups]:
            if g in scores and scores[g]["hyperstep"] < scores[g][a] - 10.0:
                out.append(f"group {g} at {budget}: {scores[g]['hyperstep']:.1f} against {a} {scores[g][a]:.1f}")
    return out


def report(args: argparse.Namespace, held: HeldOut = FOURTH) -> None:
    lines = load(args.files)
    names = list(held.problems())
    main_scores = {b: scores_at(lines, b, list(MAIN), names, held) for b in held.budgets}
    extra = [m for m in EXTRA if any(d["method"] == m for d in lines)]
    extra_scores = {}
    for m in extra:  # each over the problems it finished a first seed of, beside the main methods
        done = [n for n in names if any((d["problem"], d["method"], d["seed"]) == (n, m, held.seeds[0]) for d in lines)]
        extra_scores[m] = scores_at(lines, 48, [*MAIN, m], done, held)
    config = {
        "title": held.title,
        "prereg": held.prereg,
        "budgets": held.budgets,
        "groups": held.groups,
        "maximize": held.maximize,
        "machine": reporting.machine(),
    }
    lagging = [x for b in held.budgets for x in behind(main_scores[b], b, ["optuna-tpe"], held)]
    lagging += [x for m, at in extra_scores.items() for x in behind(at, 48, [m], held)]
    text = markdown(main_scores, extra_scores, [*MAIN, *extra], lines, config)
    text += (
        "\n## Behind an anchor by the registered margin\n\n" + ("\n".join(f"- {x}" for x in lagging) or "none") + "\n"
    )
    data = {"config": config, "scores": main_scores, "extra": extra_scores, "behind": lagging, "runs": lines}
    reporting.write(args.name, text, data)
    print(text)


def markdown(
    main_scores: dict[int, dict[str, Any]],
    extra: dict[str, dict[str, Any]],
    methods: list[str],
    lines: list[dict[str, Any]],
    config: dict[str, Any],
) -> str:
    m = config["machine"]
    seconds = {x: float(np.mean([d["seconds"] for d in lines if d["method"] == x] or [0.0])) for x in methods}
    defects = [f"{d['method']} {d['problem']} seed {d['seed']}: {x}" for d in lines for x in d["defects"]]
    budgets = list(config["budgets"])
    names = list(main_scores[budgets[0]]["per_problem"])
    summary, per = reporting.budget_tables(main_scores, list(MAIN), list(config["groups"]), names, budgets)
    seeds = {b: main_scores[b]["seeds"] for b in budgets}
    parts = [
        f"# {config['title']}\n\n{m['date_utc']}, {m['cpus']} CPUs, commit {m['hyperstep_commit']}; "
        f"seeds per budget {seeds}; budgets (trials: per round) {config['budgets']}. "
        f"Pre-registration: `{config['prereg']}`.\n\n"
        "Normalized score (100 = best any method found within B trials, 0 = random search's expected best of B).\n",
        summary,
        "\n## Per problem\n",
        per,
    ]
    for x, at in extra.items():
        cols = [*MAIN, x]
        rows = [["all", *[at["all"][c] for c in cols]]]
        rows += [[n, *[at["per_problem"][n][c] for c in cols]] for n in at["per_problem"]]
        parts += [
            f"\n## At 48 x 4 with {x} (seeds {at['seeds']}; the problems it finished)\n",
            reporting.table(["problem", *cols], rows),
        ]
    parts += [
        "\n## Optimizer seconds per run (mean over every run of the method)\n",
        reporting.table(["method", "seconds"], [[x, seconds[x]] for x in methods]),
        fresh.crashes_section({"all": defects}),
    ]
    return "\n".join(parts)


def cli(held: HeldOut, doc: str | None, stem: str, argv: list[str] | None) -> None:
    """The ``run`` / ``report`` command line of a held-out set run by this harness (``stem``: the report's name)."""
    parser, go = run_report_parser(doc, list(held.problems()), held.seeds, stem)
    go.add_argument("--methods", nargs="*", default=list(MAIN), choices=[*MAIN, *EXTRA])
    args = parser.parse_args(argv)
    run(args, held) if args.command == "run" else report(args, held)


def main(argv: list[str] | None = None) -> None:
    cli(FOURTH, __doc__, "o23_heldout4", argv)


if __name__ == "__main__":
    main()
