"""Throttling per caller: each owner's token bucket in DynamoDB (moto), a 429 with Retry-After
at the API for a caller over its rate while another caller goes on, and the template's
parameters feeding the API function."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperstep.service import TuningService
from hyperstep.stores.dynamodb_items import create_table
from hyperstep.throttling import Bucket, DynamoDBThrottle, Limit, retry_after
from tests.conftest import Clock
from tests.template_model import Stack, transformed
from tests.unit.test_api import ALICE, call
from tests.unit.test_api import api as api_module
from tests.unit.test_api import service as service
from tests.unit.test_api_owners import BOB, RUN_1, RUN_2, as_

TABLE = "hyperstep-throttle"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(variable, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


def test_a_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    limit = Limit(rate=2.0, burst=4)
    assert limit.refilled(None, 10.0) == Bucket(4, 10.0)
    assert limit.refilled(Bucket(0.5, 10.0), 11.0) == Bucket(2.5, 11.0)
    assert limit.refilled(Bucket(3.5, 10.0), 20.0) == Bucket(4, 20.0)
    assert limit.refilled(Bucket(1.5, 10.0), 9.0).tokens == 1.5  # a clock gone back refills nothing
    assert limit.wait(Bucket(0.5, 0.0)) == 0.25 and limit.wait(Bucket(2.0, 0.0)) == 0.0
    assert (retry_after(0.25), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")
    with pytest.raises(ValueError):
        Limit(rate=0, burst=1)


def test_each_caller_spends_its_own_bucket(dynamodb: Any) -> None:
    clock = Clock(1_000.0)
    throttle = DynamoDBThrottle(dynamodb, TABLE, Limit(rate=1.0, burst=2), clock)
    assert [throttle.take(ALICE), throttle.take(ALICE)] == [None, None]
    assert throttle.take(ALICE) == pytest.approx(1.0)
    assert throttle.take(BOB) is None  # another caller is not held back
    clock.now += 0.5
    assert throttle.take(ALICE) == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.take(ALICE) is None
    assert throttle.take(ALICE) == pytest.approx(1.0)
    item = dynamodb.get_item(TableName=TABLE, Key=DynamoDBThrottle.key(ALICE))["Item"]
    assert int(item["expires_at"]["N"]) > clock.now  # buckets leave with the table's TTL


class ReadThenRace:
    """A DynamoDB client on which, right after every other read of a bucket, another
    caller's whole request (``interpose``) lands before the reader writes: the race two
    functions run into, played in one order every time, so that each request of the reader
    meets one conflicting write and must read again (threads on moto would race at random,
    and moto's conditional writes are not atomic under threads)."""

    def __init__(self, client: Any, interpose: Callable[[], None]) -> None:
        self._client = client
        self._interpose = interpose
        self.reads = 0
        self.refused_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_item(self, **kwargs: Any) -> Any:
        found = self._client.get_item(**kwargs)
        self.reads += 1
        if self.reads % 2 == 1:
            self._interpose()
        return found

    def put_item(self, **kwargs: Any) -> Any:
        try:
            return self._client.put_item(**kwargs)
        except self._client.exceptions.ConditionalCheckFailedException:
            self.refused_writes += 1
            raise


def test_concurrent_requests_of_one_caller_never_spend_a_token_twice(dynamodb: Any) -> None:
    """Two functions racing on one bucket (a frozen clock: no refill): between each read of
    the first and its write, a request of the second lands. The first's stale write must be
    refused and made again from a fresh read: exactly the burst goes through, shared half
    and half, and the bucket is left empty."""
    clock, limit = Clock(1_000.0), Limit(rate=1.0, burst=10)
    second = DynamoDBThrottle(dynamodb, TABLE, limit, clock)
    allowed = {"first": 0, "second": 0}

    def second_request() -> None:
        allowed["second"] += second.take(ALICE) is None

    racing = ReadThenRace(dynamodb, second_request)
    first = DynamoDBThrottle(racing, TABLE, limit, clock)
    for _ in range(15):
        allowed["first"] += first.take(ALICE) is None
    assert allowed == {"first": 5, "second": 5}
    assert racing.refused_writes == 5  # the new bucket's creation among them
    item = dynamodb.get_item(TableName=TABLE, Key=DynamoDBThrottle.key(ALICE))["Item"]
    assert float(item["tokens"]["N"]) == 0


def test_the_api_answers_429_with_retry_after_to_a_caller_over_its_rate(
    service: TuningService, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(1_000.0)
    throttle = DynamoDBThrottle(dynamodb, TABLE, Limit(rate=0.5, burst=2), clock)
    monkeypatch.setattr(api_module, "throttle", lambda: throttle)
    assert [call("GET", "/jobs")[0] for _ in range(2)] == [200, 200]
    event_answer = raw_call(ALICE)
    assert event_answer["statusCode"] == 429
    assert event_answer["multiValueHeaders"]["Retry-After"] == ["2"]
    body = json.loads(event_answer["body"])
    assert body == {"field": None, "reason": "too many requests from this caller: retry in 2 s"}
    assert as_(BOB, "GET", "/jobs")[0] == 200  # another caller goes on
    assert [as_(RUN_1, "GET", "/jobs")[0], as_(RUN_1, "GET", "/jobs")[0]] == [200, 200]
    assert as_(RUN_2, "GET", "/jobs")[0] == 429  # a role's sessions share its bucket, as they share its jobs
    clock.now += 2
    assert call("GET", "/jobs")[0] == 200


def raw_call(user_arn: str) -> dict[str, Any]:
    """The proxy response itself (headers included) for ``GET /jobs`` signed by ``user_arn``."""
    from tests.unit.test_api import Context
    from tests.unit.test_api_owners import event

    identity = {"userArn": user_arn, "accountId": user_arn.split(":")[4]}
    return api_module.lambda_handler(event("GET", "/jobs", identity), Context())


def test_a_throttle_that_fails_lets_the_request_through(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(DynamoDBThrottle):
        def __init__(self) -> None:
            pass

        def take(self, owner: str) -> float | None:
            raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(api_module, "throttle", lambda: Broken())
    assert call("GET", "/jobs")[0] == 200


def test_the_template_gives_the_api_function_each_callers_rate_and_burst() -> None:
    document = transformed()
    variables = document["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    stack = Stack(parameters={"ApiCallerRate": "2.5", "ApiCallerBurst": "7"})
    resolved = stack.resolve(variables, document)
    assert (str(resolved["HYPERSTEP_CALLER_RATE"]), str(resolved["HYPERSTEP_CALLER_BURST"])) == ("2.5", "7")
    defaults = {name: p.get("Default") for name, p in document["Parameters"].items()}
    assert (defaults["ApiCallerRate"], defaults["ApiCallerBurst"]) == (5, 20)
