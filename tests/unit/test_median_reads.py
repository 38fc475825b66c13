"""Median stopping reads the others' values at the step and the trial's best, never the
job's curves: a step report costs about the same at any length of them (issue 9's curves
of up to 10,000 steps; the timing is ``benchmarks.curve_reports --peers``)."""

from __future__ import annotations

from pathlib import Path

import hyperstep
from hyperstep.models import Trial
from hyperstep.stores.sqlite import SQLiteStore

SPACE = hyperstep.SearchSpace.model_validate({"parameters": [{"name": "rate", "type": "float", "low": 0, "high": 1}]})
MEDIAN = {"name": "median", "min_resource": 2, "max_resource": 100}


class Counted(SQLiteStore):
    """The SQLite store, counting the reads that return whole curves."""

    whole_reads = 0

    def list_trials(self, job_id: str) -> list[Trial]:
        self.whole_reads += 1
        return super().list_trials(job_id)

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        self.whole_reads += 1
        return super().get_trial(job_id, trial_id)


def test_a_median_step_report_reads_no_curve_and_still_stops_the_worse_trial(tmp_path: Path) -> None:
    store = Counted(tmp_path / "store.db")
    study = hyperstep.Study(SPACE, goal="maximize", strategy="random", seed=0, early_stopping=MEDIAN, store=store)
    first, second, judged = study.ask(3)
    for trial, level in ((first, 0.5), (second, 0.7)):
        for step in (*range(1, 5), *range(5, 61, 5)):  # from step 5 on, every fifth: the next one counts
            assert not study.report(trial.id, step, level + step / 100)
    store.whole_reads = 0
    # the others' median at step s is 0.6 + s/100 to step 5, at step 6 their value at step 10, 0.7;
    # the judged trial's best so far (to be maximized) is 0.695 from step 2 on: above it to step 5
    answers = [study.report(judged.id, step, 0.695 if step > 1 else 0.1) for step in range(1, 7)]
    assert answers == [False] * 5 + [True]
    assert store.whole_reads == 0


def test_the_judged_trials_best_so_far_counts_beyond_its_newest_steps(tmp_path: Path) -> None:
    """A trial that was once above the others' median (to be maximized) goes on though its
    newest values are below it: its best so far comes from the store (``curve_best``), not
    from the few newest points a step report reads."""
    study = hyperstep.Study(
        SPACE, goal="maximize", strategy="random", seed=0, early_stopping=MEDIAN, store=SQLiteStore()
    )
    first, second, judged = study.ask(3)
    for trial, level in ((first, 0.5), (second, 0.7)):
        for step in range(1, 11):
            assert not study.report(trial.id, step, level)
    answers = [study.report(judged.id, step, 0.9 if step == 2 else 0.1) for step in range(1, 11)]
    assert answers == [False] * 10  # its best, 0.9 at step 2, beats the median 0.6 at every step
