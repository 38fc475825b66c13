"""``Study.enqueue_trial``'s points stored with the job (``TrialStore.enqueue``), on every
adapter: each takes the next number no trial and no point holds, and any ``ask`` of the job
runs it, once, whichever writer lands first (Optuna keeps enqueued trials in its storage)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import hyperstep
from hyperstep.models import Job, Trial
from hyperstep.spec import MAX_ENQUEUED, parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.dynamodb import DynamoDBStore
from tests.conftest import spec_document
from tests.contract.conftest import Serialized, add, full_spec
from tests.contract.test_store_races import race

MakeJob = Callable[..., Job]
SPACE = parse_spec(spec_document()).model_dump(mode="json")["parameters"]


def test_each_point_takes_the_next_number_no_trial_and_no_point_holds(store: TrialStore, make_job: MakeJob) -> None:
    job = Job(id="job-spec-points", spec=full_spec().model_copy(update={"enqueue": [{"layers": 2}, {"layers": 3}]}))
    store.create_job(job)
    assert [store.enqueue(job.id, {"layers": k}) for k in (4, 5)] == [3, 4]  # past the spec's two
    assert add(store, job, 5) == [1, 2, 3, 4, 5]
    assert store.enqueue(job.id, {"layers": 6}) == 6  # past the numbers handed out
    assert store.get_job(job.id).enqueued == {3: {"layers": 4}, 4: {"layers": 5}, 6: {"layers": 6}}


def test_racing_enqueues_never_share_a_number(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    numbers = race(lambda i: store.enqueue(job.id, {"layers": i + 1}))
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    stored = store.get_job(job.id).enqueued
    assert {k: v["layers"] for k, v in stored.items()} == {n: i + 1 for i, n in enumerate(numbers)}


def test_a_job_holds_at_most_max_enqueued_points(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    for k in range(MAX_ENQUEUED):
        store.enqueue(job.id, {"layers": k})
    with pytest.raises(ValueError, match=f"holds {MAX_ENQUEUED} enqueued points, the most"):
        store.enqueue(job.id, {"layers": 0})
    assert len(store.get_job(job.id).enqueued) == MAX_ENQUEUED


def test_add_trials_reading_the_job_may_refuse_and_takes_nothing(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.enqueue(job.id, {"layers": 2})
    seen: list[Job] = []

    def refuse(read: Job) -> None:
        seen.append(read)
        raise ValueError("a point waits")

    with pytest.raises(ValueError, match="a point waits"):
        store.add_trials(job.id, 1, None, lambda i, k: Trial(job_id=job.id, id=f"t{k}", number=k, params={}), refuse)
    assert seen[0].enqueued == {1: {"layers": 2}}
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used, store.list_trials(job.id)) == (0, 0, [])


def test_a_point_stored_while_an_ask_writes_is_run_by_the_ask_not_lost(dynamodb: Any, table: str) -> None:
    """B stores a point after A's store read the job and before its transaction: the point
    takes number 1, the one A's transaction was about to take without it. The transaction's
    condition (the job's ``enqueued_last``) fails, A reads again and trial 1 runs the point."""
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    a = hyperstep.Study(SPACE, store=store, job_id="job", strategy="random", seed=1)
    b = hyperstep.Study(SPACE, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job")
    add_trials, raced = store.add_trials, []

    def racing(job_id: str, n: int, max_trials: int | None, make: Any, reading: Any) -> Any:
        def make_after_b(i: int, number: int) -> Any:
            if not raced:
                raced.append(b.enqueue_trial({"x": 0.875, "n": 3, "kind": "a"}))
            return make(i, number)

        return add_trials(job_id, n, max_trials, make_after_b, reading)

    store.add_trials = racing  # type: ignore[method-assign]
    asked = a.ask(2)
    assert [t.number for t in asked] == [1, 2] and asked[0].params == {"x": 0.875, "n": 3, "kind": "a"}
    assert [t.params for t in store.list_trials("job")] == [t.params for t in asked]
    assert asked[1].params != asked[0].params


def test_a_study_reopened_by_the_service_runs_the_stored_points(dynamodb: Any, table: str) -> None:
    """Suggest (``Study.from_job`` over a ``TrialView``'s snapshot) runs a point ``enqueue_trial``
    stored from a notebook, in order, and a later ask runs none again."""
    from hyperstep.messages import SuggestRequest
    from hyperstep.service import TuningService
    from tests.unit.test_service import FakeBackend, FakeOrchestrator

    store = DynamoDBStore(table, client=Serialized(dynamodb))
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    service.submit(parse_spec(spec_document(budget={"max_trials": 6, "max_parallel": 2})), "job")
    notebook = hyperstep.Study(SPACE, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job")
    notebook.enqueue_trial({"x": 0.125})
    notebook.enqueue_trial({"x": 0.375})
    notebook.enqueue_trial({"x": 0.625})
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == ["t0001", "t0002"]
    assert [t.params["x"] for t in store.list_trials("job")] == [0.125, 0.375]
    assert [t.params["x"] for t in notebook.ask(2)][:1] == [0.625]
    xs = [t.params["x"] for t in store.list_trials("job")]
    assert xs[:3] == [0.125, 0.375, 0.625] and xs[3] not in xs[:3]


def test_a_point_past_dynamodb_s_item_size_is_refused_and_nothing_stored(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's item holds its points: one that would pass 400 KB (``ITEM_BYTES``, here made
    small) is a ``ValueError`` saying so, not DynamoDB's ``ValidationException``."""
    from hyperstep.stores import dynamodb as dynamodb_store

    store = DynamoDBStore(table, client=Serialized(dynamodb))
    store.create_job(Job(id="job", spec=full_spec()))
    store.enqueue("job", {"layers": 1})
    size = dynamodb_store.items.item_size(dynamodb_store.items.job_item(store.get_job("job")))
    monkeypatch.setattr(dynamodb_store, "ITEM_BYTES", size + 40)
    with pytest.raises(ValueError, match="item would pass DynamoDB's 400 KB with this point"):
        store.enqueue("job", {"layers": 2, "name": "x" * 100})
    assert store.get_job("job").enqueued == {1: {"layers": 1}}


def test_enqueue_leaves_the_job_s_item_room_for_its_own_later_writes(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A point that fits under 400 KB but leaves the job's item less than ``JOB_ROOM`` is
    refused: the writes that grow the item later (recently ended ids, a failure's error, the
    stop detail, the execution's ARN) would otherwise fail with DynamoDB's ValidationException
    ("Item size to update has exceeded the maximum allowed size") and break the job's loop."""
    from hyperstep.stores import dynamodb as dynamodb_store

    items = dynamodb_store.items
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    store.create_job(Job(id="job", spec=full_spec()))
    store.enqueue("job", {"layers": 1})
    with_two = store.get_job("job").model_copy(update={"enqueued": {1: {"layers": 1}, 2: {"layers": 2}}})
    size = items.item_size(items.job_item(with_two))
    monkeypatch.setattr(dynamodb_store, "ITEM_BYTES", size + dynamodb_store.JOB_ROOM - 1)
    with pytest.raises(ValueError, match="item would pass DynamoDB's 400 KB"):
        store.enqueue("job", {"layers": 2})
    assert store.get_job("job").enqueued == {1: {"layers": 1}}
    monkeypatch.setattr(dynamodb_store, "ITEM_BYTES", size + dynamodb_store.JOB_ROOM)
    assert store.enqueue("job", {"layers": 2}) == 2


def test_an_ask_landing_between_enqueue_s_read_and_write_moves_the_point_on(dynamodb: Any, table: str) -> None:
    """The other order of the race above: B's ask takes number 1 after A's enqueue read the
    job (``trial_seq`` 0: the point was to take 1) and before its update. The update's
    condition on ``trial_seq`` fails, A reads again and the point takes 2; B's trial 1 is
    the strategy's, and the next ask, of either, runs the point once."""
    point = {"x": 0.875, "n": 3, "kind": "a"}
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    a = hyperstep.Study(SPACE, store=store, job_id="job", strategy="random", seed=1)
    b = hyperstep.Study(SPACE, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job")
    get_job, raced = store.get_job, []

    def read_then_b_asks(job_id: str) -> Job:
        job = get_job(job_id)
        if not raced:
            raced.extend(b.ask(1))
        return job

    store.get_job = read_then_b_asks  # type: ignore[method-assign]
    a.enqueue_trial(point)
    assert [t.number for t in raced] == [1] and raced[0].params != point
    assert store.get_job("job").enqueued == {2: point}
    assert [t.params for t in b.ask(2)][:1] == [point]
    assert [t.params for t in store.list_trials("job")].count(point) == 1


def test_a_job_without_points_is_written_as_before_and_an_old_one_reads_back() -> None:
    """``enqueued`` is left out of the job's JSON while empty (the SQLite body and
    ``simulated_store_dump``'s digest are what they were), and a body written before the
    field came reads back with no point."""
    from hyperstep.spec_base import STORED

    job = Job(id="job", spec=full_spec())
    body = job.model_dump_json()
    assert "enqueued" not in job.model_dump() and '"enqueued"' not in body
    assert Job.model_validate_json(body, context=STORED).enqueued == {}
    held = job.model_copy(update={"enqueued": {3: {"layers": 2}}})
    assert Job.model_validate_json(held.model_dump_json(), context=STORED).enqueued == {3: {"layers": 2}}


def test_a_point_stored_while_an_ask_retries_is_read_again_with_the_earlier_ones(dynamodb: Any, table: str) -> None:
    """The job already holds point 1 when A's ask reads it; B stores point 2 before A's
    transaction. A's retry reads the job's points anew, all of them: trial 2 runs B's point,
    not the strategy's (a retry that kept the first read's points would skip it for good)."""
    first, second = {"x": 0.125, "n": 1, "kind": "a"}, {"x": 0.875, "n": 3, "kind": "b"}
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    a = hyperstep.Study(SPACE, store=store, job_id="job", strategy="random", seed=1)
    b = hyperstep.Study(SPACE, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job")
    a.enqueue_trial(first)
    add_trials, raced = store.add_trials, []

    def racing(job_id: str, n: int, max_trials: int | None, make: Any, reading: Any) -> Any:
        def make_after_b(i: int, number: int) -> Any:
            if not raced:
                raced.append(b.enqueue_trial(second))
            return make(i, number)

        return add_trials(job_id, n, max_trials, make_after_b, reading)

    store.add_trials = racing  # type: ignore[method-assign]
    assert [t.params for t in a.ask(2)] == [first, second]
