"""``Job.completion_published`` on every adapter: what keeps a retried Finish from
publishing the completion event twice, and lets a reopened job announce its next end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.errors import NotFoundError
from hyperstep.models import Job, JobStatus
from hyperstep.stores.base import TrialStore
from tests.conftest import Clock

MakeJob = Callable[..., Job]


def test_the_marker_holds_until_the_job_is_unfinished_again(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert not job.completion_published
    store.set_job_status(job.id, JobStatus.COMPLETED)
    store.mark_completion_published(job.id)
    marked = store.get_job(job.id)
    assert marked.completion_published and marked.status is JobStatus.COMPLETED
    recorded = store.set_job_status(job.id, JobStatus.COMPLETED, expected=(JobStatus.COMPLETED,), execution_id="e")
    assert recorded.completion_published  # its execution recorded: the same end
    # Expected that status among others is no proof of the same end (as DynamoDB's same_end): a new one.
    redone = store.set_job_status(job.id, JobStatus.COMPLETED, expected=(JobStatus.RUNNING, JobStatus.COMPLETED))
    assert not redone.completion_published
    store.mark_completion_published(job.id)
    reopened = store.set_job_status(job.id, JobStatus.RUNNING)
    assert not reopened.completion_published and not store.get_job(job.id).completion_published


def test_a_new_end_of_a_finished_job_clears_the_marker(store: TrialStore, make_job: MakeJob) -> None:
    """A failed start stopped (failed, then stopped) is a new end, announced anew: the service
    no longer passes ``again`` to publish over the mark."""
    job = make_job()
    store.set_job_status(job.id, JobStatus.FAILED, error="could not start execution: refused")
    store.mark_completion_published(job.id)
    stopped = store.set_job_status(job.id, JobStatus.STOPPED, expected=(JobStatus.FAILED,))
    assert not stopped.completion_published and not store.get_job(job.id).completion_published


def test_unpublished_jobs_are_the_finished_unmarked_ones_ended_before_the_time(
    store: TrialStore, make_job: MakeJob, clock: Clock
) -> None:
    """What the reaper announces (``TuningService.announce_lost``): a closer that died between
    its status write and its publish left the job finished and unmarked."""
    lost, marked, _running, reopened, recent = (make_job() for _ in range(5))
    for job in (lost, marked, reopened):
        store.set_job_status(job.id, JobStatus.COMPLETED)
    store.mark_completion_published(marked.id)
    store.set_job_status(reopened.id, JobStatus.RUNNING, expected=(JobStatus.COMPLETED,))
    clock.now += 100
    store.set_job_status(recent.id, JobStatus.FAILED, error="every trial failed")
    assert list(store.list_unpublished_jobs(clock.now - 50)) == [store.get_job(lost.id)]
    assert sorted(j.id for j in store.list_unpublished_jobs(clock.now + 1)) == [lost.id, recent.id]
    store.mark_completion_published(lost.id)
    store.set_job_status(recent.id, JobStatus.FAILED, expected=(JobStatus.FAILED,), execution_id="e")  # same end
    assert [j.id for j in store.list_unpublished_jobs(clock.now + 1)] == [recent.id]


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
