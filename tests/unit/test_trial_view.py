"""Suggest reads what changed since its last round, not the whole job (``hyperstep.trial_view``).

The store is the DynamoDB adapter on moto (the one whose reads are billed), wrapped to
count the trial items each round reads. Trials end one at a time, as they do when their
durations differ, and a round is what the Suggest Trials state runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from hyperstep import trial_view
from hyperstep.messages import FinishRequest, SuggestRequest
from hyperstep.models import Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.dynamodb import DynamoDBStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend


class CountingStore(DynamoDBStore):
    """Counts the trial items each read returns (what DynamoDB bills reads by)."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(table, client=client)
        self.items: Counter[str] = Counter()

    def list_trials(self, job_id: str) -> list[Trial]:
        found = super().list_trials(job_id)
        self.items["list_trials"] += len(found)
        return found

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        self.items["get_trial"] += 1
        return super().get_trial(job_id, trial_id)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    import boto3
    from moto import mock_aws

    from hyperstep.stores.dynamodb import create_table

    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, "view")
            yield CountingStore(client, "view")


def service_on(store: CountingStore, trials: int, parallel: int, **overrides: Any) -> tuple[TuningService, str]:
    budget = {"max_trials": trials, "max_parallel": parallel}
    spec = parse_spec(spec_document(strategy={"name": "random", "seed": 1}, budget=budget, **overrides))
    service = TuningService(store, {"local": FakeBackend()})
    return service, service.create_job(spec).id


def end_oldest(service: TuningService, job_id: str) -> None:
    oldest = min((t for t in service.store.list_trials(job_id) if t.state.active), key=lambda t: t.number)
    service.store.finish_trial(job_id, oldest.id, TrialState.COMPLETED, value=float(oldest.number))


def items_per_round(service: TuningService, store: CountingStore, job_id: str, rounds: int) -> list[int]:
    """Trial items read by each Suggest round after the first, one trial ending before each."""
    service.suggest_and_launch(SuggestRequest(job_id=job_id))
    counts = []
    for _ in range(rounds):
        end_oldest(service, job_id)
        store.items.clear()
        service.suggest_and_launch(SuggestRequest(job_id=job_id))
        counts.append(sum(store.items.values()))
    return counts


def test_a_round_reads_what_ended_since_the_last_not_the_whole_job(store: CountingStore) -> None:
    service, job_id = service_on(store, trials=60, parallel=4)
    counts = items_per_round(service, store, job_id, rounds=40)
    assert max(counts) <= 2, counts  # the trial that ended (and no other), however long the job
    assert len(store.list_trials(job_id)) == 44


def test_views_of_two_instances_stay_exact_when_each_trims_what_the_other_has_not_read(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two warm Lambdas serving one job in turn: one drops the ended ids the other never read;
    the other sees fewer ended trials than the job counts and re-reads its active ones."""
    monkeypatch.setattr(trial_view, "TRIM_ENDED", 1)
    first, job_id = service_on(store, trials=30, parallel=3)
    second = TuningService(store, first.backends)
    first.suggest_and_launch(SuggestRequest(job_id=job_id))
    for turn in range(20):
        end_oldest(first, job_id)
        service = (first, second)[turn % 2]
        service.suggest_and_launch(SuggestRequest(job_id=job_id))
        job = store.get_job(job_id)
        assert service.view.trials(job) == store.list_trials(job_id)


def test_a_warm_started_jobs_rounds_read_no_more_than_a_cold_ones(store: CountingStore) -> None:
    """The parents' trials are read once and kept (their job has finished: they cannot change)."""
    service, parent = service_on(store, trials=12, parallel=3)
    while not service.suggest_and_launch(SuggestRequest(job_id=parent)).done:
        end_oldest(service, parent)
    service.finish(FinishRequest(job_id=parent))
    spec = service.store.get_job(parent).spec
    child = service.create_job(spec, parents=[parent]).id
    counts = items_per_round(service, store, child, rounds=10)
    assert max(counts) <= 2, counts  # the trial that ended, as for a cold job; not the parent's 12 again


@pytest.mark.parametrize("was", [TrialState.STOPPED, TrialState.PRUNED])
@pytest.mark.parametrize("trim", [trial_view.TRIM_ENDED, 1])
def test_a_stopped_or_pruned_end_revised_to_completed_reaches_the_next_round(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch, was: TrialState, trim: int
) -> None:
    """A final report that came after a trial was recorded stopped (for a pruned one: its
    step at ``max_resource``) completes it (``TuningService._report_after_end``): the next
    round's strategy and completion rules must see it completed with its value, not the end
    the view read first. The job's counters do not tell (it ended either way): its
    ``completed`` count does. With ``trim`` 1, the other instance has dropped the trial's id
    from the recently ended ones before this one's round."""
    monkeypatch.setattr(trial_view, "TRIM_ENDED", trim)
    asha = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    first, job_id = service_on(store, trials=12, parallel=3, early_stopping=asha)
    second = TuningService(store, first.backends)
    first.suggest_and_launch(SuggestRequest(job_id=job_id))
    oldest = min((t for t in store.list_trials(job_id) if t.state.active), key=lambda t: t.number)
    store.finish_trial(job_id, oldest.id, was, value=0.9 if was is TrialState.PRUNED else None)
    first.suggest_and_launch(SuggestRequest(job_id=job_id))  # its view holds the trial stopped or pruned
    late = {"step": 9} if was is TrialState.PRUNED else {}  # a pruned trial completes at max_resource only
    assert first.report_metrics(job_id, oldest.id, {"loss": 0.25}, **late)  # the report, late
    assert store.get_trial(job_id, oldest.id).state is TrialState.COMPLETED
    second.suggest_and_launch(SuggestRequest(job_id=job_id))  # trims the id with TRIM_ENDED 1
    first.suggest_and_launch(SuggestRequest(job_id=job_id))
    job = store.get_job(job_id)
    held = {t.id: t for t in first.view.trials(job)}
    assert (held[oldest.id].state, held[oldest.id].value) == (TrialState.COMPLETED, 0.25)
    assert first.view.trials(job) == store.list_trials(job_id)
