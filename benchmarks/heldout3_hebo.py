"""HEBO's seed 0 on the third held-out set, against the record's seed 0 of every other method.

HEBO ran one seed (about 2-8 minutes a run here). A record merged with ``--seeds 1`` would
build random search's reference from one run (a degenerate one: random search is then its
own optimum). This scores seed 0 of every method against the reference of the record's
random search on all its seeds (``scoring.score`` takes runs of any number per method):

    .venv/bin/python -m benchmarks.heldout3_hebo benchmarks/results/heldout3.json benchmarks/results/h3_hebo_s0.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import heldout3_problems, reporting, scoring
from benchmarks.heldout3 import infeasible_at_clip


def seed0_scores(record: dict[str, Any], hebo: dict[str, Any]) -> dict[str, Any]:
    """Per kind and problem where HEBO ran: seed 0 of each method, random search's reference from all its seeds."""
    kinds = {p.name: p.kind for p in heldout3_problems.problems()}
    problems: dict[str, dict[str, np.ndarray]] = {}
    for p, runs in hebo["losses"].items():
        by = {m: np.array(a, dtype=float) for m, a in record["losses"][p].items()}
        by = infeasible_at_clip(by) if kinds[p] == "constrained" else by
        problems[p] = {m: a if m == "random" else a[:1] for m, a in by.items()} | {
            "hebo": np.array(runs["hebo"], dtype=float)[:1]
        }
    per_kind = {
        k: scoring.score({p: by for p, by in problems.items() if kinds[p] == k})["normalized"]
        for k in heldout3_problems.KINDS
        if any(kinds[p] == k for p in problems)
    }
    return {
        "per_kind": per_kind,
        "per_problem": {p: scoring.score({p: by})["normalized"] for p, by in problems.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record")
    parser.add_argument("hebo")
    parser.add_argument("--name", default="heldout3_hebo_s0")
    args = parser.parse_args(argv)
    record, hebo = (json.loads(Path(f).read_text()) for f in (args.record, args.hebo))
    scores = seed0_scores(record, hebo)
    methods = ["hyperstep", "hebo", "optuna-tpe", "random"]
    rows = [[k, *[by[m] for m in methods]] for k, by in scores["per_kind"].items()]
    problems = [[p, *[by[m] for m in methods]] for p, by in scores["per_problem"].items()]
    text = (
        f"# Third held-out set: seed 0 with HEBO\n\n{reporting.machine()['date_utc']}; seed 0 of each method from "
        f"`{args.record}` and HEBO's from `{args.hebo}` (commit {hebo['config']['machine']['hyperstep_commit']}); "
        "random search's reference from all the record's seeds.\n\n"
        + reporting.table(["kind", *methods], rows)
        + "\n\n## Per problem\n\n"
        + reporting.table(["problem", *methods], problems)
        + "\n"
    )
    reporting.write(args.name, text, {"config": vars(args), "scores": scores})
    print(text)


if __name__ == "__main__":
    main()
