"""Fixtures of the store contract suite: every adapter behind one ``store`` fixture.

``store`` is parametrized over the SQLite adapter (a temporary file) and the DynamoDB
adapter on moto's in-process DynamoDB (fake credentials, us-east-1), so each contract
test runs once per adapter. Both stamp times with ``clock``, which a test may set.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperstep.models import Job, Trial, trial_id
from hyperstep.spec import JobSpec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock


def full_spec(goal: str = "minimize") -> JobSpec:
    """A spec that sets every optional field, with awkward numbers and mixed choices."""
    return JobSpec.model_validate(
        {
            "name": "contract-spec",
            "objective": {"metric": "val-loss", "goal": goal},
            "parameters": [
                {"name": "lr", "type": "float", "low": 1e-7, "high": 0.1, "scale": "log"},
                {"name": "momentum", "type": "float", "low": -0.3333333333333333, "high": 0.9999999999999999},
                {"name": "layers", "type": "int", "low": 1, "high": 12},
                {"name": "mixed", "type": "categorical", "choices": [True, 3, 2.5, "relu", False, 0.1]},
            ],
            "strategy": {"name": "bayesian", "seed": 7, "options": {"n_initial": 7, "acquisition": "ei"}},
            "budget": {
                "max_trials": 40,
                "max_parallel": 4,
                "max_runtime_seconds": 3600.5,
                "max_failed_trials": 3,
                "target": 0.125,
            },
            "trial": {
                "backend": "local",
                "command": ["python", "train.py", "--epochs", "3"],
                "env": {"SEED": "1", "EMPTY": ""},
                "workdir": "/tmp/work dir",
                "metric_definitions": [{"name": "val-loss", "regex": r"val_loss=([0-9.eE+-]+)"}],
                "timeout_seconds": 900,
            },
        }
    )


_ids = itertools.count(1)


@pytest.fixture
def make_job(store: TrialStore) -> Callable[..., Job]:
    """Create and store a job (fresh id each call); keyword arguments override fields."""

    def make(goal: str = "minimize", **fields: Any) -> Job:
        job = Job(id=f"job-{next(_ids)}", spec=full_spec(goal), **{"created_at": store.clock(), **fields})
        store.create_job(job)
        return job

    return make


def trials_of(job: Job, numbers: list[int], **fields: Any) -> list[Trial]:
    """Pending trials of ``job`` with these numbers and simple params."""
    return [Trial(job_id=job.id, id=trial_id(k), number=k, params={"layers": k}, **fields) for k in numbers]


def add(store: TrialStore, job: Job, n: int, max_trials: int | None = None) -> list[int]:
    """Up to ``n`` pending trials of ``job`` (built as ``trials_of`` builds them) added the way
    Suggest adds them, budget and trials in one step (``TrialStore.add_trials``) within
    ``max_trials``; the numbers they got."""
    return [t.number for t in store.add_trials(job.id, n, max_trials, lambda i, k: trials_of(job, [k])[0])]


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """A moto DynamoDB client (fake credentials, us-east-1), one per test module.

    Starting moto and a boto3 client costs far more than a table, so tests share them
    and each gets its own table (``table``).
    """
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")


_tables = itertools.count(1)


@pytest.fixture
def table(dynamodb: Any) -> Iterator[str]:
    """A fresh, empty store table (deleted afterwards)."""
    from hyperstep.stores.dynamodb import create_table

    name = f"hyperstep-contract-{next(_tables)}"
    create_table(dynamodb, name)
    yield name
    dynamodb.delete_table(TableName=name)


class Serialized:
    """A boto3 client whose calls run one at a time.

    DynamoDB applies each request atomically; moto does not under threads (a conditional
    write can interleave with another, and a cancelled transaction restores a copy of the
    whole table over concurrent writes). Serializing requests gives moto DynamoDB's
    per-request atomicity while the store's own calls still interleave between requests,
    which is where its races are.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[TrialStore]:
    """Each adapter in turn, empty, on ``clock``."""
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "store.db", clock=clock)
        yield sqlite
        sqlite.close()
        return
    from hyperstep.stores.dynamodb import DynamoDBStore

    client = Serialized(request.getfixturevalue("dynamodb"))
    yield DynamoDBStore(request.getfixturevalue("table"), client=client, clock=clock)
