"""The Bayesian strategy's initial design at small budgets (strat-16; pre-registered in
``results/s16_small_budget_prereg.md``).

Today's default spends ``min(2 * dim + 1, 10)`` trials on Sobol' points whatever the budget.
Two budget-aware candidates (``RULES``) are run as the value they give for ``n_initial``
at each budget, against the default, random search and Optuna TPE, on held-out problems
(``GROUPS``), 2 trials a round. The default, random and TPE do not know the budget: one run
of the largest budget each, scored on its first B trials. Scores are the harness's
normalized score (``scoring.score``) at each budget, pooled and per group.

    # run (one process per problem list; raw losses appended as JSON lines)
    nice -n 19 .venv/bin/python -m benchmarks.small_budget run --out /tmp/s16/a.jsonl --problems t10-sphere12 ...
    # score every file's runs and write results/NAME.md/.json
    .venv/bin/python -m benchmarks.small_budget report /tmp/s16/a.jsonl /tmp/s16/b.jsonl --name s16_small_budget
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import hyperstep  # noqa: E402
from benchmarks import fresh, fresh_problems, heldout3_problems, reporting, scoring  # noqa: E402
from benchmarks.broad_problems import Problem  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, HyperstepOptimizer, run_batches  # noqa: E402
from hyperstep.space import SearchSpace  # noqa: E402

BUDGETS = (10, 16, 20, 30)
BATCH = 2
SEEDS = tuple(range(100, 110))
GROUPS = {
    "high-d": [
        "t10-sphere12",
        "t10-train10",
        "t10-logellipsoid11",
        "b16-griewank8",
        "ord-int8-small",
        "duplicated12-hartmann6",
    ],
    "low-d": [
        "tiny-train4",
        "tiny-camel3",
        "tiny-mixed3",
        "step-ellipsoid5",
        "edge-corner6",
        "needle4-log8",
        "b4-trid6",
    ],
    "real-cat": ["ord-train4-pow2", "et5-wine-logloss", "kernelridge4-diabetes-mse"],
}
ANCHORS = ("default", "random", "optuna-tpe")


def default_n_initial(dim: int) -> int:
    """The initial design size without a known budget (``bayesian.initial_design_size(dim, None)``):
    the default method's here, given as ``n_initial`` since the harness now passes ``max_trials``."""
    return min(2 * dim + 1, 10)


RULES = {
    "c1": lambda dim, budget: min(default_n_initial(dim), max(3, math.ceil(budget / 3))),
    "c2": lambda dim, budget: min(default_n_initial(dim), max(3, budget // 4)),
}
"""The pre-registered candidates: ``n_initial`` from the encoded dimension and the budget."""


def problems() -> dict[str, Problem]:
    every = {p.name: p for p in [*heldout3_problems.problems(), *fresh_problems.problems()]}
    return {name: every[name] for names in GROUPS.values() for name in names}


class WithInitial(HyperstepOptimizer):
    """hyperstep's Bayesian strategy with ``n_initial`` given (what a rule computes)."""

    def __init__(self, space: SearchSpace, seed: int, n_initial: int) -> None:
        options = {"n_initial": n_initial}
        self.study = hyperstep.Study(space, goal="minimize", strategy="bayesian", seed=seed, strategy_options=options)
        self._pending: list[str] = []


def runs_of(problem: Problem) -> list[tuple[str, int, int | None]]:
    """``(method, trials, n_initial)`` of every run one seed needs: the anchors once at the largest
    budget, a candidate at each budget where its ``n_initial`` is not the default's."""
    dim = problem.space.dim
    out: list[tuple[str, int, int | None]] = [(m, max(BUDGETS), None) for m in ANCHORS]
    for rule, n_initial in RULES.items():
        out += [(rule, b, n_initial(dim, b)) for b in BUDGETS if n_initial(dim, b) != default_n_initial(dim)]
    return out


def optimizer(problem: Problem, method: str, seed: int, n_initial: int | None) -> BatchOptimizer:
    if method == "default":
        return WithInitial(problem.space, seed, default_n_initial(problem.space.dim))
    if n_initial is not None:
        return WithInitial(problem.space, seed, n_initial)
    return FACTORIES[method](problem.space, seed)


def run(args: argparse.Namespace) -> None:
    chosen = problems()
    names = args.problems or list(chosen)
    with Path(args.out).open("a") as out:
        for seed in args.seeds:
            for name in names:
                problem = chosen[name]
                for method, trials, n_initial in runs_of(problem):
                    checked = fresh.Checked(optimizer(problem, method, seed, n_initial), problem.space)
                    losses, spent = run_batches(checked, problem.f, trials // BATCH, BATCH)
                    line = {
                        "problem": name,
                        "seed": seed,
                        "method": method,
                        "trials": trials,
                        "n_initial": n_initial,
                        "losses": losses.ravel().tolist(),
                        "seconds": spent,
                        "defects": checked.problems,
                    }
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    print(f"{name:26s} {method:10s} B={trials} seed {seed} {spent:.1f} s", flush=True)


def load(files: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.strip()]


def complete_seeds(lines: list[dict[str, Any]]) -> list[int]:
    """The longest run of consecutive seeds from the first that every problem finished (prereg)."""
    done = {(d["problem"], d["seed"], d["method"], d["trials"]) for d in lines}
    chosen, seeds = problems(), []
    for seed in SEEDS:
        need = {(n, seed, m, t) for n, p in chosen.items() for m, t, _ in runs_of(p)}
        if not need <= done:
            break
        seeds.append(seed)
    return seeds


def losses_at(lines: list[dict[str, Any]], seeds: list[int], budget: int) -> dict[str, dict[str, np.ndarray]]:
    """``{problem: {method: losses (seeds, budget / BATCH, BATCH)}}`` at ``budget``: the anchors' first
    ``budget`` trials; a candidate's own run at that budget, or the default's where it is the default."""
    by = {(d["problem"], d["seed"], d["method"], d["trials"]): np.array(d["losses"], dtype=float) for d in lines}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, problem in problems().items():
        dim, top = problem.space.dim, max(BUDGETS)
        out[name] = {}
        for method in [*ANCHORS, *RULES]:
            rows = []
            for seed in seeds:
                own = method in RULES and RULES[method](dim, budget) != default_n_initial(dim)
                base = method if method in ANCHORS else "default"
                key = (name, seed, method, budget) if own else (name, seed, base, top)
                rows.append(by[key][:budget].reshape(budget // BATCH, BATCH))
            out[name][method] = np.stack(rows)
    return out


def verdict(scores: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The pre-registered adoption rule, applied to each candidate."""
    chosen = problems()
    out: dict[str, Any] = {}
    for rule, n_initial in RULES.items():
        gains = {b: scores[b]["all"][rule] - scores[b]["all"]["default"] for b in BUDGETS}
        changed = {
            b: sum(n_initial(p.space.dim, b) != default_n_initial(p.space.dim) for p in chosen.values())
            for b in BUDGETS
        }
        changes = [b for b in BUDGETS if 2 * changed[b] >= len(chosen)]
        better = all(gains[b] > 0 for b in changes)
        mean_gain = float(np.mean(list(gains.values())))
        harm = [
            f"{g} at {b}: {scores[b][g][rule] - scores[b][g]['default']:+.2f}"
            for b in BUDGETS
            for g in GROUPS
            if scores[b][g][rule] < scores[b][g]["default"] - 5.0
        ]
        out[rule] = {
            "gains": gains,
            "changes_at": changes,
            "1_strictly_better": better,
            "mean_gain": mean_gain,
            "2_mean_gain_at_least_2": mean_gain >= 2.0,
            "3_no_group_harm": not harm,
            "harm": harm,
            "passes": better and mean_gain >= 2.0 and not harm,
        }
    passing = [r for r in RULES if out[r]["passes"]]
    out["adopt"] = max(passing, key=lambda r: out[r]["mean_gain"]) if passing else None
    return out


def report(args: argparse.Namespace) -> None:
    lines = load(args.files)
    seeds = complete_seeds(lines)
    if not seeds:
        raise SystemExit("no seed finished on every problem")
    scores: dict[int, dict[str, Any]] = {}
    for budget in BUDGETS:
        at = losses_at(lines, seeds, budget)
        scores[budget] = {"all": scoring.score(at)["normalized"]}
        for group, names in GROUPS.items():
            scores[budget][group] = scoring.score({n: at[n] for n in names})["normalized"]
        scores[budget]["per_problem"] = {n: scoring.score({n: by})["normalized"] for n, by in at.items()}
    decision = verdict(scores)
    methods = ["default", *RULES, "optuna-tpe", "random"]
    seconds = {m: float(np.mean([d["seconds"] for d in lines if d["method"] == m])) for m in methods}
    defects = [f"{d['method']} {d['problem']} seed {d['seed']}: {x}" for d in lines for x in d["defects"]]
    config = {"seeds": seeds, "budgets": BUDGETS, "batch": BATCH, "groups": GROUPS, "machine": reporting.machine()}
    text = markdown(scores, decision, methods, config, seconds, defects)
    reporting.write(args.name, text, {"config": config, "scores": scores, "verdict": decision, "runs": lines})
    print(text)


def markdown(
    scores: dict[int, dict[str, Any]],
    decision: dict[str, Any],
    methods: list[str],
    config: dict[str, Any],
    seconds: dict[str, float],
    defects: list[str],
) -> str:
    m = config["machine"]
    summary, per = reporting.budget_tables(scores, methods, list(GROUPS), list(problems()), list(BUDGETS))
    lines = [
        f"# Small budgets: the Bayesian strategy's initial design (strat-16)\n\n{m['date_utc']}, {m['cpus']} CPUs, "
        f"commit {m['hyperstep_commit']}; seeds {config['seeds']}, budgets {list(BUDGETS)} at {BATCH} a round. "
        "Pre-registration: `results/s16_small_budget_prereg.md`.\n\n"
        "Normalized score (100 = best any method found within B trials, 0 = random search's expected best of B).\n",
        summary,
        "\n## Verdict (the pre-registered rule)\n",
        *[
            f"- **{r}**: gains by budget { ({b: round(g, 2) for b, g in decision[r]['gains'].items()}) }; (1) strictly "
            f"better where it changes n_initial ({decision[r]['changes_at']}): {decision[r]['1_strictly_better']}; "
            f"(2) mean gain {decision[r]['mean_gain']:+.2f} >= 2: {decision[r]['2_mean_gain_at_least_2']}; "
            f"(3) no group loses > 5: {decision[r]['3_no_group_harm']} {decision[r]['harm']}"
            for r in RULES
        ],
        f"- **adopted**: {decision['adopt']}\n",
        "## Optimizer seconds per run (mean over every run of the method)\n",
        reporting.table(["method", "seconds"], [[x, seconds[x]] for x in methods]),
        "\n## Per problem\n",
        per,
        fresh.crashes_section({"all": defects}),
    ]
    return "\n".join(lines)


def run_report_parser(
    doc: str | None, names: list[str], seeds: tuple[int, ...], record: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """A ``run`` / ``report`` command line over JSON-lines files: the parser and its ``run`` subparser."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--out", required=True, help="JSON-lines file the runs are appended to")
    go.add_argument("--problems", nargs="*", default=None, choices=sorted(names))
    go.add_argument("--seeds", nargs="*", type=int, default=list(seeds))
    score = sub.add_parser("report")
    score.add_argument("files", nargs="+")
    score.add_argument("--name", default=record)
    return parser, go


def main(argv: list[str] | None = None) -> None:
    parser, _ = run_report_parser(__doc__, list(problems()), SEEDS, "s16_small_budget")
    args = parser.parse_args(argv)
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
