"""The failure model judged on every held-out problem whose trials crash (opt-28, pre-registered in
benchmarks/README.md section 2n), in the fourth set's harness (``heldout4.run_one``: the same runs and
scoring) at one budget, 48 trials at 4 a round, on seeds never run before.

A run of hyperstep is labelled (``--label``): the default and the candidate are the same harness with
a different library on ``PYTHONPATH`` (each a ``git archive``), scored together with TPE and random.

    nice -n 19 .venv/bin/python -m benchmarks.crashes run --out /tmp/o28/d.jsonl --label default
    .venv/bin/python -m benchmarks.crashes report /tmp/o28/*.jsonl --name o28_crashes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from benchmarks import broad_holdout, diverging, heldout4, heldout4_problems, heldout5_problems, heldout6_problems
from benchmarks.broad_problems import Problem
from benchmarks.small_budget import load, run_report_parser

GROUPS = {
    "broad-holdout": ["ackley6-crash-ball", "hartmann6-crash-slab", "training5-crash-diverge"],
    "heldout4": ["flaky6-hartmann"],
    "heldout5": ["oom5-max"],
    "heldout6": ["heads6-divisible"],
    "diverging": ["cliff3-lr-batch-nan"],
}
"""The held-out problems that crash, by the set they come from."""
METHODS = ("default", "candidate", "optuna-tpe", "random")


def problems() -> dict[str, Problem]:
    """Every problem of ``GROUPS`` by name."""
    every = [
        *broad_holdout.crash(),
        heldout4_problems.problems()["flaky6-hartmann"],
        heldout5_problems.problems()["oom5-max"],
        heldout6_problems.problems()["heads6-divisible"],
        diverging.lr_batch(3, nan=True),
    ]
    return {p.name: p for p in every}


CRASHES = heldout4.HeldOut(
    "Crash problems of the held-out sets (opt-28)",
    "benchmarks/README.md, section 2n",
    problems,
    GROUPS,
    ("oom5-max",),
    seeds=tuple(range(270, 275)),
    budgets={48: 4},
)


def run(args: argparse.Namespace) -> None:
    chosen = problems()
    with Path(args.out).open("a") as out:
        for seed in args.seeds:
            for name in args.problems or list(chosen):
                for method in args.methods:
                    line = heldout4.run_one(chosen[name], method, seed, 48, 4, CRASHES)
                    line["method"] = args.label if method == "hyperstep" else method
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    print(f"{name:24s} {line['method']:11s} seed {seed} {line['seconds']:.1f} s", flush=True)


def verdict(scores: dict[str, Any]) -> dict[str, Any]:
    """The registered rule: the candidate's pooled score over every crash problem above the default's,
    and no set's crash problems more than 5 points below the default's pooled."""
    drops = {g: scores[g]["candidate"] - scores[g]["default"] for g in GROUPS}
    gain = scores["all"]["candidate"] - scores["all"]["default"]
    return {"pooled_gain": gain, "set_gains": drops, "adopt": gain > 0.0 and min(drops.values()) >= -5.0}


def report(args: argparse.Namespace) -> None:
    from benchmarks import reporting

    lines = load(args.files)
    held = dataclasses.replace(CRASHES, seeds=tuple(sorted({d["seed"] for d in lines})))  # 275-289: the second look
    scores = heldout4.scores_at(lines, 48, list(METHODS), list(problems()), held)
    rows = [[g, *[scores[g][m] for m in METHODS]] for g in ["all", *GROUPS]]
    rows += [[n, *[scores["per_problem"][n][m] for m in METHODS]] for n in problems()]
    ruled = verdict(scores)
    text = (
        f"# {CRASHES.title}\n\nseeds {scores['seeds']}, 48 x 4; normalized score (100 = best any method found, "
        "0 = random search's expected best).\n\n"
        + reporting.table(["set / problem", *METHODS], rows)
        + f"\n\nRegistered rule: {ruled}\n"
    )
    reporting.write(args.name, text, {"scores": scores, "verdict": ruled, "runs": lines})
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser, go = run_report_parser(__doc__, list(problems()), CRASHES.seeds, "o28_crashes")
    go.add_argument("--methods", nargs="*", default=["hyperstep", "optuna-tpe", "random"])
    go.add_argument("--label", default="default", help="the name a hyperstep run is recorded under")
    args = parser.parse_args(argv)
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
