"""The spec's ``enqueue`` over DynamoDB: trial ``i + 1`` runs point ``i`` whatever retries.

``DynamoDBStore.add_trials`` calls ``make`` again with other numbers when another writer
took numbers meanwhile, and writes a large ask in parts, each its own transaction: a
Suggest (``TuningService.suggest``, AWS's path) that dies after a part landed is retried by
Step Functions. Each enqueued point must still run exactly once, as the trial of its number.
"""

from __future__ import annotations

from typing import Any

import pytest

import hyperstep
from hyperstep.messages import SuggestRequest
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores import dynamodb as dynamodb_store
from hyperstep.stores.dynamodb import DynamoDBStore
from tests.conftest import spec_document
from tests.contract.conftest import Serialized
from tests.unit.test_service import FakeBackend, FakeOrchestrator

POINTS = [{"x": 0.25, "n": 2, "kind": "b"}, {"x": -0.5}, {"kind": "a"}, {"n": 3, "kind": "a"}]


def runs_each_point_as_its_number(params: list[dict[str, Any]]) -> None:
    assert len(params) > len(POINTS)
    for number, point in enumerate(POINTS, start=1):
        assert {k: params[number - 1][k] for k in point} == point, (number, params)
    assert all(p != POINTS[0] and p.get("x") != -0.5 for p in params[len(POINTS) :]), params


def test_a_suggest_retried_after_one_part_landed_runs_each_point_once(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    budget = {"max_trials": 8, "max_parallel": 6}
    service.submit(parse_spec(spec_document(enqueue=POINTS, budget=budget)), "job")
    monkeypatch.setattr(dynamodb_store, "TRANSACTION_LIMIT", 3)  # parts of two trials
    transact, calls = store._transact, []

    def dies_at_the_second_part(actions: list[dict[str, Any]]) -> None:
        calls.append(len(actions))
        if len(calls) == 2:
            raise TimeoutError("the Lambda timed out after the first part landed")
        transact(actions)

    monkeypatch.setattr(store, "_transact", dies_at_the_second_part)
    with pytest.raises(TimeoutError):
        service.suggest(SuggestRequest(job_id="job"))
    assert [t.number for t in store.list_trials("job")] == [1, 2]
    retried = service.suggest(SuggestRequest(job_id="job"))  # Step Functions' retry, the same input
    assert retried.trial_ids == [f"t000{n}" for n in range(1, 7)]
    runs_each_point_as_its_number([t.params for t in store.list_trials("job")])


def test_a_study_whose_numbers_another_writer_took_runs_each_point_once(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Study A's write fails its condition (B took number 1 meanwhile) and is made again
    with numbers 2 to 4: B ran point 0, A runs points 1 to 3 and its ``enqueue_trial`` one."""
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    space = parse_spec(spec_document()).model_dump(mode="json")["parameters"]
    a = hyperstep.Study(space, store=store, job_id="job", seed=1, enqueue=POINTS)
    b = hyperstep.Study(space, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job", enqueue=POINTS)
    a.enqueue_trial({"x": 0.875})
    add_trials, raced = store.add_trials, []

    def racing(job_id: str, n: int, max_trials: int | None, make: Any, reading: Any) -> Any:
        def make_after_b(i: int, number: int) -> Any:
            if not raced:
                raced.extend(b.ask(1))
            return make(i, number)

        return add_trials(job_id, n, max_trials, make_after_b, reading)

    monkeypatch.setattr(store, "add_trials", racing)
    asked = a.ask(4)
    assert [t.number for t in raced] == [1] and [t.number for t in asked] == [2, 3, 4, 5]
    assert asked[-1].params["x"] == 0.875 and a.ask(1)[0].params.get("x") != 0.875
    runs_each_point_as_its_number([t.params for t in store.list_trials("job")])


def test_an_ask_in_parts_whose_later_part_another_writer_raced_gives_out_each_queued_point(
    dynamodb: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of two trials: A's first part takes 1 (the spec's point) and 2 (stored point 0);
    B takes 3 before A's second part, and runs stored point 1 (the points are the job's, by
    number, as Optuna's waiting trials are the storage's); A's second part is made again with
    numbers 4 and 5: stored point 2, then the strategy's."""
    store = DynamoDBStore(table, client=Serialized(dynamodb))
    space = parse_spec(spec_document()).model_dump(mode="json")["parameters"]
    a = hyperstep.Study(space, store=store, job_id="job", seed=1, enqueue=POINTS[:1])
    b = hyperstep.Study(space, store=DynamoDBStore(table, client=Serialized(dynamodb)), job_id="job")
    for x in (0.125, 0.375, 0.625):
        a.enqueue_trial({"x": x})
    monkeypatch.setattr(dynamodb_store, "TRANSACTION_LIMIT", 3)
    add_trials, raced = store.add_trials, []

    def racing(job_id: str, n: int, max_trials: int | None, make: Any, reading: Any) -> Any:
        def make_after_b(i: int, number: int) -> Any:
            if i == 2 and not raced:
                raced.extend(b.ask(1))
            return make(i, number)

        return add_trials(job_id, n, max_trials, make_after_b, reading)

    monkeypatch.setattr(store, "add_trials", racing)
    asked = a.ask(4)
    assert [t.number for t in raced] == [3] and [t.number for t in asked] == [1, 2, 4, 5]
    assert asked[0].params == POINTS[0] and [t.params["x"] for t in asked[1:3]] == [0.125, 0.625]
    assert raced[0].params["x"] == 0.375 and asked[3].params["x"] not in (0.125, 0.375, 0.625)
