"""hyperstep against Optuna TPE, random search, Optuna's GP and HEBO on a sixth held-out set of kinds
never tuned on (opt-27), in the fourth set's harness (``heldout4``) with one budget, 48 trials at 4 a round.

Problems and groups: ``heldout6_problems``; pre-registration: ``results/o27_heldout6_prereg.md``.
hyperstep, TPE and random run every problem and seed; Optuna's GP and HEBO (``--methods``) are scored
in tables of their own over the problems and consecutive seeds they finish.

    nice -n 19 .venv/bin/python -m benchmarks.heldout6 run --out /tmp/o27/a.jsonl --seeds 260 261
    .venv/bin/python -m benchmarks.heldout6 report /tmp/o27/*.jsonl --name o27_heldout6
"""

from __future__ import annotations

from benchmarks import heldout4
from benchmarks.heldout6_problems import GROUPS, MAXIMIZE, problems

SIXTH = heldout4.HeldOut(
    "Sixth held-out set (opt-27)",
    "results/o27_heldout6_prereg.md",
    problems,
    GROUPS,
    MAXIMIZE,
    seeds=tuple(range(260, 265)),
    budgets={48: 4},
)


def main(argv: list[str] | None = None) -> None:
    heldout4.cli(SIXTH, __doc__, "o27_heldout6", argv)


if __name__ == "__main__":
    main()
