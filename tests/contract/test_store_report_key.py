"""A trial's report key (``hyperstep.report_signing``) is kept by every store through
every write of the trial, and read back without its curve; no other dump of the trial
holds it."""

from __future__ import annotations

from collections.abc import Callable

from hyperstep.models import Job, MetricReport, Trial, TrialState, trial_id
from hyperstep.stores.base import TrialStore

KEY = "ab" * 32


def test_the_key_survives_every_write_of_the_trial(store: TrialStore, make_job: Callable[..., Job]) -> None:
    job = make_job()

    def make(key: str | None) -> Callable[[int, int], Trial]:
        return lambda _, number: Trial(job_id=job.id, id=trial_id(number), number=number, params={}, report_key=key)

    (keyed,), (plain,) = store.add_trials(job.id, 1, None, make(KEY)), store.add_trials(job.id, 1, None, make(None))
    assert store.report_key(job.id, keyed.id) == KEY and store.report_key(job.id, plain.id) is None
    store.start_trial(job.id, keyed.id, "ref")
    store.report_metrics(job.id, keyed.id, {"val-loss": MetricReport(value=0.5, step=1)}, curve_metric="val-loss")
    assert store.report_key(job.id, keyed.id) == KEY
    assert store.finish_trial(job.id, keyed.id, TrialState.COMPLETED, value=0.4)
    for read in (store.get_trial(job.id, keyed.id), next(t for t in store.list_trials(job.id) if t.id == keyed.id)):
        assert read.report_key == KEY
        assert KEY not in read.model_dump_json() + repr(read)
