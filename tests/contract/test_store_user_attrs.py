"""A trial's user attributes (Optuna's ``set_user_attr``) are kept by every store through
every later write of the trial, read back as JSON gives them, refused past their bounds with
nothing kept, and refused once the trial ended; a trial without any is stored as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.models import MAX_USER_ATTRS_BYTES, Job, MetricReport, TrialState
from hyperstep.stores.base import TrialStore
from tests.contract.conftest import add


def test_user_attrs_survive_every_write_of_the_trial(store: TrialStore, make_job: Callable[..., Job]) -> None:
    job = make_job()
    (number,) = add(store, job, 1)
    trial_id = store.list_trials(job.id)[0].id
    kept = store.set_user_attr(job.id, trial_id, "accuracy", 0.93)
    assert kept is not None and kept.user_attrs == {"accuracy": 0.93} and kept.number == number
    store.start_trial(job.id, trial_id, "ref")
    assert store.set_user_attr(job.id, trial_id, "shape", (3, {"k": [1, None]})) is not None
    store.report_metrics(job.id, trial_id, {"val-loss": MetricReport(value=0.5, step=1)}, curve_metric="val-loss")
    assert store.finish_trial(job.id, trial_id, TrialState.COMPLETED, value=0.4)
    expected = {"accuracy": 0.93, "shape": [3, {"k": [1, None]}]}  # a tuple comes back a list, as from JSON
    for read in (store.get_trial(job.id, trial_id), store.list_trials(job.id)[0]):
        assert read.user_attrs == expected and read.curve == {1: 0.5}
    assert store.set_user_attr(job.id, trial_id, "late", 1) is None  # ended: nothing changed
    assert store.get_trial(job.id, trial_id).user_attrs == expected


def test_a_refused_attribute_keeps_nothing(store: TrialStore, make_job: Callable[..., Job]) -> None:
    job = make_job()
    add(store, job, 1)
    trial_id = store.list_trials(job.id)[0].id
    store.set_user_attr(job.id, trial_id, "a", 1)
    with pytest.raises(ValueError, match=f"'big'.*{MAX_USER_ATTRS_BYTES:,}"):
        store.set_user_attr(job.id, trial_id, "big", "x" * MAX_USER_ATTRS_BYTES)
    assert store.get_trial(job.id, trial_id).user_attrs == {"a": 1}
