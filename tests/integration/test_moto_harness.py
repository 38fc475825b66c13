"""The moto harness's stand-in for moto's ``TransactWriteItems``: all or nothing, as moto's
own, at a cost that does not grow with the table (moto deep-copies every table a
transaction writes to, which made a 10,000-trial job under moto quadratic)."""

from __future__ import annotations

import os
import warnings
from typing import Any
from unittest import mock

import pytest
from aws_lambda_powertools import Metrics
from botocore.exceptions import ClientError
from moto.dynamodb.models.dynamo_type import Item

from hyperstep.stores.dynamodb_items import key
from tests.integration.moto_harness import TABLE, moto_stack


def put(job: str, sk: str, value: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(job, sk), "value": {"S": value}}}}


def test_a_transaction_copies_the_items_it_names_not_the_table() -> None:
    with moto_stack() as stack:
        client = stack.session.client("dynamodb")
        for n in range(200):
            client.put_item(TableName=TABLE, Item={**key("other", f"T#{n:04d}"), "value": {"S": "x"}})
        copied = mock.Mock(wraps=Item.__deepcopy__)
        with mock.patch.object(Item, "__deepcopy__", lambda self, memo: copied(self, memo)):
            client.transact_write_items(TransactItems=[put("j", "A", "1"), put("j", "B", "1")])
        assert copied.call_count <= 2
        assert client.get_item(TableName=TABLE, Key=key("j", "B"))["Item"]["value"] == {"S": "1"}


def test_a_failed_transaction_leaves_every_item_as_it_was() -> None:
    with moto_stack() as stack:
        client = stack.session.client("dynamodb")
        client.put_item(TableName=TABLE, Item={**key("j", "A"), "value": {"S": "old"}})
        failing = {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key("j", "C"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(TransactItems=[put("j", "A", "new"), put("j", "B", "new"), failing])
        assert client.get_item(TableName=TABLE, Key=key("j", "A"))["Item"]["value"] == {"S": "old"}
        assert "Item" not in client.get_item(TableName=TABLE, Key=key("j", "B"))


def test_outside_a_moto_stack_powertools_metrics_flush_and_clear_their_dimensions(capsys) -> None:
    """With this module imported (as in the full suite), two invocations of a function's
    Powertools ``Metrics`` each add ``JobId``, as ``log_metrics`` flushes them: no
    "Dimension 'JobId' has already been added". Before, importing the module disabled
    metrics for the whole process, and disabled, a flush neither prints nor clears."""
    assert "POWERTOOLS_METRICS_DISABLED" not in os.environ
    metrics = Metrics(namespace="hyperstep-tests", service="hyperstep")
    metrics.clear_metrics()  # what an earlier test may have left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for job in ("job-a", "job-b"):
            metrics.add_dimension(name="JobId", value=job)
            metrics.add_metric(name="TrialsCompleted", unit="Count", value=1)
            metrics.flush_metrics()
    assert [line.count('"JobId":"job-') for line in capsys.readouterr().out.splitlines()] == [1, 1]
