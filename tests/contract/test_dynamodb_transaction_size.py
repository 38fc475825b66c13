"""A round of large-but-valid trials never passes TransactWriteItems' 4 MB.

TransactWriteItems groups up to 100 actions and "the aggregate size of the items in the
transaction cannot exceed 4 MB" (DynamoDB API reference). A Suggest round wrote up to 99
new trials and the job's counters in one transaction: 99 trials of 140 KB configurations
(a spec may give 150,000 bytes: ``spec.MAX_CONFIG_BYTES``) made a 13.9 MB request, which
DynamoDB refuses, so the round failed every time. moto checks no aggregate size, so the
client here measures each transaction as DynamoDB counts it: every ``Put``'s item, and the
stored item each other action names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hyperstep.models import Job, Trial, trial_id
from hyperstep.spec import MAX_CONFIG_BYTES
from hyperstep.stores.dynamodb import TRANSACTION_BYTES, TRANSACTION_LIMIT, DynamoDBStore
from hyperstep.stores.dynamodb_items import item_size
from tests.contract.conftest import full_spec

CONFIG = "x" * (MAX_CONFIG_BYTES - 10_000)  # a configuration a spec may give each trial


def measured(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(actions, aggregate item bytes) of every TransactWriteItems the client sends."""
    sent: list[tuple[int, int]] = []
    call = dynamodb._make_api_call

    def recording(operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems":
            size = 0
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                if kind == "Put":
                    size += item_size(body["Item"])
                else:
                    found = call("GetItem", {"TableName": body["TableName"], "Key": body["Key"]}).get("Item")
                    size += item_size(found or {})
            sent.append((len(params["TransactItems"]), size))
        return call(operation, params)

    monkeypatch.setattr(dynamodb, "_make_api_call", recording)
    return sent


def large(job: Job) -> Callable[[int, int], Trial]:
    return lambda i, number: Trial(job_id=job.id, id=trial_id(number), number=number, params={"arch": f"{i}{CONFIG}"})


@pytest.fixture
def store(dynamodb: Any, table: str) -> DynamoDBStore:
    return DynamoDBStore(table, client=dynamodb)


@pytest.fixture
def job(store: DynamoDBStore) -> Job:
    job = Job(id="big-trials", spec=full_spec(), created_at=1.0)
    store.create_job(job)
    return job


def test_a_round_of_100_large_trials_is_written_in_transactions_within_4_mb(
    store: DynamoDBStore, job: Job, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = measured(dynamodb, monkeypatch)
    added = store.add_trials(job.id, 100, 100, large(job))
    assert [t.number for t in added] == list(range(1, 101))
    assert [t.params["arch"][:3] for t in added] == [f"{i}{CONFIG}"[:3] for i in range(100)]  # each made once, in order
    assert store.get_job(job.id).budget_used == 100 and len(store.list_trials(job.id)) == 100
    assert all(actions <= TRANSACTION_LIMIT and size <= TRANSACTION_BYTES for actions, size in sent), sent
    assert len(sent) > 2  # 100 such trials need several (the code before sent 99 + 1)


def test_put_trials_of_large_trials_keeps_each_transaction_within_4_mb(
    store: DynamoDBStore, job: Job, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = measured(dynamodb, monkeypatch)
    store.put_trials([large(job)(k, k) for k in range(1, 61)])
    assert sorted(t.number for t in store.list_trials(job.id)) == list(range(1, 61))
    assert all(size <= TRANSACTION_BYTES for _, size in sent) and len(sent) > 1, sent


def test_a_round_leaves_room_for_a_large_job_item_its_counters_update(
    store: DynamoDBStore, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's update counts its whole stored item toward the 4 MB: a job whose spec takes
    most of MAX_SPEC_BYTES, with trials filling 4 MB by themselves, must still fit."""
    spec = full_spec().model_dump(mode="json")
    spec["parameters"].append({"name": "pad", "type": "categorical", "choices": ["p" * 90_000, "q" * 90_000]})
    job = Job(id="big-job-item", spec=spec, created_at=1.0)
    store.create_job(job)
    sent = measured(dynamodb, monkeypatch)
    store.add_trials(job.id, 40, 40, large(job))
    assert len(store.list_trials(job.id)) == 40
    assert all(size <= TRANSACTION_BYTES for _, size in sent), sent


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"s": {"S": "\u00e9a"}}, 1 + 3),  # a string's UTF-8 bytes
        ({"n": {"N": "-12.3"}}, 1 + 2 + 1),  # 3 significant digits: 2 bytes (1 per two, rounded up) + 1
        ({"n": {"N": "0.0012"}}, 1 + 1 + 1),  # leading zeroes trimmed
        ({"l": {"L": [{"S": "ab"}, {"BOOL": True}]}}, 1 + 3 + (1 + 2) + (1 + 1)),  # 3 + 1 an element
        ({"m": {"M": {"k": {"S": "ab"}}}}, 1 + 3 + 1 + 1 + 2),  # a map's element names count too
    ],
)
def test_item_size_follows_dynamodbs_documented_rule(item: dict[str, Any], size: int) -> None:
    """'DynamoDB item sizes and formats' (developer guide): strings in UTF-8 bytes, a number
    1 byte per two significant digits plus 1, a list or map 3 bytes plus 1 an element."""
    assert item_size(item) == size
