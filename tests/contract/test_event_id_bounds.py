"""A metric or end event whose job or trial id is longer than any the product makes is
dropped as malformed by collect: on DynamoDB a key over 2,048 bytes (partition) or 1,024
bytes (sort) raises ``ValidationException``, which failed collect into its alarmed
dead-letter queue, retried in vain."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.events import parse_event
from hyperstep.handlers import handle_collect
from hyperstep.keyed_submit import keyed_job_id
from hyperstep.messages import MAX_ID_LENGTH, TrialMetric, TrialResult
from hyperstep.models import trial_id
from hyperstep.recurring import ScheduleInput, tick_job_id
from hyperstep.service import TuningService, new_job_id
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.study import Study
from tests.unit.test_events import load


class Untouched:
    """A DynamoDB client that no call may reach: moto does not refuse an overlong key (AWS
    does), so an event that reached the store would only be dropped as an unknown job."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


def metric_event(job_id: str, trial: str) -> dict[str, Any]:
    event = load("trial-metric-reported.json")
    event["detail"].update(job_id=job_id, trial_id=trial)
    return event


@pytest.mark.parametrize("field", ["job_id", "trial_id"])
def test_an_event_with_a_3000_character_id_is_dropped_as_malformed(dynamodb: Any, table: str, field: str) -> None:
    client = Untouched(dynamodb)
    service = TuningService(DynamoDBStore(table, client=client), {})
    client.calls.clear()
    ids = {"job_id": "mnist-20261202054600-0a1b2c3d", "trial": "t0001"}
    ids["trial" if field == "trial_id" else field] = "x" * 3000
    answer = handle_collect(service, metric_event(ids["job_id"], ids["trial"]))
    assert answer["recorded"] is False and client.calls == []
    assert answer["reason"].startswith(f"malformed event: {field}: String should have at most {MAX_ID_LENGTH}")


def test_every_id_the_product_makes_fits() -> None:
    name = "n" * 40  # JOB_NAME_PATTERN's longest
    study = Study([{"name": "x", "type": "float", "low": 0, "high": 1}], name=name)
    tick = tick_job_id(name, ScheduleInput(schedule_name="s" * 64), "request")
    keyed = keyed_job_id(name, "arn:aws:iam::123456789012:user/ada", "k" * 255)
    made = [study.job_id, new_job_id(name, 1.8e9), keyed, tick]
    assert max(len(job_id) for job_id in made) == len(study.job_id) == 53
    for job_id in made:
        assert isinstance(parse_event(metric_event(job_id, trial_id(10_000))), TrialMetric)
        TrialResult(job_id=job_id, trial_id=trial_id(10_000), state="completed")
    assert len(("TRIAL#" + "\U0001f600" * MAX_ID_LENGTH).encode()) <= 1024  # the sort key, in the worst UTF-8
