"""hyperstep against Optuna TPE, random search, Optuna's GP and HEBO on a fifth held-out set of kinds
never tuned on (opt-25), in the fourth set's harness (``heldout4``) with one budget, 48 trials at 4 a round.

Problems and groups: ``heldout5_problems``; pre-registration: ``results/o25_heldout5_prereg.md``.
hyperstep, TPE and random run every problem and seed; Optuna's GP and HEBO (``--methods``) are scored
in tables of their own over the problems and consecutive seeds they finish.

    nice -n 19 .venv/bin/python -m benchmarks.heldout5 run --out /tmp/o25/a.jsonl --seeds 250 251
    .venv/bin/python -m benchmarks.heldout5 report /tmp/o25/*.jsonl --name o25_heldout5
"""

from __future__ import annotations

from benchmarks import heldout4
from benchmarks.heldout5_problems import GROUPS, MAXIMIZE, problems

FIFTH = heldout4.HeldOut(
    "Fifth held-out set (opt-25)",
    "results/o25_heldout5_prereg.md",
    problems,
    GROUPS,
    MAXIMIZE,
    seeds=tuple(range(250, 255)),
    budgets={48: 4},
)


def main(argv: list[str] | None = None) -> None:
    heldout4.cli(FIFTH, __doc__, "o25_heldout5", argv)


if __name__ == "__main__":
    main()
