"""``Job.completion_published`` on every adapter: what keeps a retried Finish from
publishing the completion event twice, and lets a reopened job announce its next end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.errors import NotFoundError
from hyperstep.models import Job, JobStatus
from hyperstep.stores.base import TrialStore

MakeJob = Callable[..., Job]


def test_the_marker_holds_until_the_job_is_unfinished_again(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert not job.completion_published
    store.set_job_status(job.id, JobStatus.COMPLETED)
    store.mark_completion_published(job.id)
    marked = store.get_job(job.id)
    assert marked.completion_published and marked.status is JobStatus.COMPLETED
    assert store.set_job_status(job.id, JobStatus.FAILED, error="late").completion_published  # still finished
    reopened = store.set_job_status(job.id, JobStatus.RUNNING)
    assert not reopened.completion_published and not store.get_job(job.id).completion_published


def test_a_job_stored_with_the_marker_reads_back_with_it(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job(status=JobStatus.STOPPED, completion_published=True)
    assert store.get_job(job.id) == job


def test_marking_a_missing_job_is_not_found(store: TrialStore) -> None:
    with pytest.raises(NotFoundError):
        store.mark_completion_published("no-such-job")


def test_a_job_reopened_before_its_end_is_marked_stays_unmarked(store: TrialStore, make_job: MakeJob) -> None:
    """The closer publishes, then marks: a job taken back or reopened in between (its failed
    start's execution, a keyed retry) runs on unmarked, so its next end announces itself.
    Before, the mark landed on the running job and its next end published nothing."""
    job = make_job()
    store.set_job_status(job.id, JobStatus.FAILED, error="could not start execution: read timeout")
    store.set_job_status(job.id, JobStatus.RUNNING, expected=(JobStatus.FAILED,))  # taken back meanwhile
    store.mark_completion_published(job.id)  # the failed start's, after its PutEvents
    assert not store.get_job(job.id).completion_published
    store.set_job_status(job.id, JobStatus.COMPLETED)
    assert not store.get_job(job.id).completion_published  # its Finish publishes
