"""A store of either kind for a test already inside ``mock_aws``: the same scenario on both."""

from __future__ import annotations

import boto3

from hyperstep.stores.base import TrialStore
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.stores.dynamodb_items import create_table
from hyperstep.stores.sqlite import SQLiteStore


def store_under_moto(kind: str) -> TrialStore:
    """An in-memory SQLite store, or a DynamoDB store on a fresh table of moto's DynamoDB."""
    if kind == "sqlite":
        return SQLiteStore()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, "hyperstep")
    return DynamoDBStore("hyperstep", client=dynamodb)
