"""A reaper pass reads a job's running trials, not the whole job.

The reaper visits every unfinished job every few minutes (and, locally, every 30 s). It
listed each job's every trial (a 10,000-trial job: megabytes a pass) to find the few that
run. The store has no index of running trials; the reaper now keeps its own view of each
job (``TrialView``: what changed since its last pass) and reads again only the trials
that view holds as active, since a report or an awaited result changes a running trial
without ending it.
"""

from __future__ import annotations

from hyperstep.messages import SuggestRequest
from hyperstep.models import TrialState
from tests.unit.test_trial_view import CountingStore, end_oldest, service_on, store  # noqa: F401


def test_a_pass_reads_the_running_trials_and_what_changed_not_every_trial(store: CountingStore) -> None:  # noqa: F811
    service, job_id = service_on(store, trials=60, parallel=4)
    service.suggest_and_launch(SuggestRequest(job_id=job_id))
    for _ in range(40):
        end_oldest(service, job_id)
        service.suggest_and_launch(SuggestRequest(job_id=job_id))
    service.reap()
    end_oldest(service, job_id)
    service.suggest_and_launch(SuggestRequest(job_id=job_id))
    store.items.clear()
    assert service.reap() == {"jobs": 1, "recorded": 0, "timed_out": 0}
    read = sum(store.items.values())
    trials = store.list_trials(job_id)
    assert len(trials) == 45 and sum(t.state is TrialState.RUNNING for t in trials) == 4
    assert 0 < read <= 4 + 2, store.items  # the four running, the one ended and the one new
