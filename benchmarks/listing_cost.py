"""What a step report and the listing of the job's trials after it cost the SQLite store (a
file in a temp folder) at N trials: what every early-stopping decision at a rung does (the
report commits, ``early_stopping.should_stop`` lists the job). Each of N trials started with
one step; then 50 reports spread over the job, each followed by a listing (``--alone``: no
listing, the report's write alone); thread CPU a report, best of 5 rounds.

    nice -n 19 .venv/bin/python -m benchmarks.listing_cost 500 2000 [--alone]

To compare two commits, run it with each tree on ``PYTHONPATH`` (``layers/hyperstep`` and
the tree)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hyperstep.models import Job, MetricReport, trial_id
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import full_spec, trials_of

ROUNDS, REPORTS = 5, 50


def report(store: SQLiteStore, number: int, step: int) -> None:
    store.report_metrics("job", trial_id(number), {"val-loss": MetricReport(value=1.0 / step, step=step)}, "val-loss")


def cost(trials: int, listing: bool) -> float:
    """Thread CPU seconds of a report (and the listing after it), best of ``ROUNDS``."""
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "store.db")
        job = Job(id="job", spec=full_spec())
        store.create_job(job)
        store.put_trials(trials_of(job, list(range(1, trials + 1))))
        for number in range(1, trials + 1):
            store.start_trial("job", trial_id(number), "ref")
            report(store, number, 1)
        store.list_trials("job")
        best = float("inf")
        for round_ in range(ROUNDS):
            start = time.thread_time()
            for i in range(REPORTS):
                report(store, 1 + (i * 37) % trials, 2 + round_ * REPORTS + i)
                if listing:
                    store.list_trials("job")
            best = min(best, (time.thread_time() - start) / REPORTS)
        store.close()
    return best


def main(argv: list[str]) -> None:
    listing = "--alone" not in argv
    for trials in [int(a) for a in argv if not a.startswith("--")] or [500, 2000]:
        what = "a report and the listing after it" if listing else "a report alone"
        print(f"{trials} trials: {what} {cost(trials, listing) * 1000:.2f} ms (thread CPU, best of {ROUNDS})")


if __name__ == "__main__":
    main(sys.argv[1:])
