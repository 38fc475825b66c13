"""Optuna's user attributes on trials: ``trial.set_user_attr`` inside ``optimize``,
``Study.set_trial_user_attr`` for ask/tell, read back as ``Trial.user_attrs`` (a reopened
study's too, and the API's trial listing), within bounds that keep a trial one DynamoDB item."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperstep
from benchmarks.aws_item_limits import largest_body
from hyperstep.cli import main
from hyperstep.messages import SuggestRequest
from hyperstep.models import (
    MAX_USER_ATTR_KEY,
    MAX_USER_ATTRS,
    MAX_USER_ATTRS_BYTES,
    Job,
    Trial,
    TrialState,
    stored_json,
)
from hyperstep.service import TuningService
from hyperstep.spec import MAX_CONFIG_BYTES, parse_spec
from hyperstep.stores.dynamodb import ITEM_BYTES
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_api import call, sagemaker_spec
from tests.unit.test_api import service as service

SPACE = [{"name": "x", "type": "float", "low": -1.0, "high": 1.0}]


def test_an_objective_sets_attributes_that_the_study_and_a_reopened_one_read(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = hyperstep.Study(SPACE, seed=0, store=SQLiteStore(path), job_id="attrs")
    seen: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.set_user_attr("square", x * x)
        trial.set_user_attr("note", f"trial {trial.number}")
        seen.append(dict(trial.user_attrs))
        return x * x

    study.optimize(objective, n_trials=3)
    assert seen == [t.user_attrs for t in study.trials]
    best = study.best_trial
    assert best is not None and best.user_attrs == {"square": best.value, "note": f"trial {best.number}"}
    again = hyperstep.Study(SPACE, seed=0, store=SQLiteStore(path), job_id="attrs")
    assert [t.user_attrs for t in again.trials] == seen


def test_ask_and_tell_users_set_them_on_the_study_and_a_told_trial_takes_none() -> None:
    study = hyperstep.Study(SPACE, seed=0)
    (trial,) = study.ask()
    assert trial.user_attrs == {}
    with pytest.raises(TypeError, match=r"study.set_trial_user_attr\(trial, 'epochs', value\)"):
        trial.set_user_attr("epochs", 12)  # Optuna's ask/tell habit: the record says what keeps it
    assert study.set_trial_user_attr(trial, "epochs", 12).user_attrs == {"epochs": 12}
    study.set_trial_user_attr(trial.number, "epochs", 13)  # a key set again takes the new value
    study.tell(trial, 0.5)
    assert study.trials[0].user_attrs == {"epochs": 13}
    with pytest.raises(hyperstep.TrialFinishedError, match="UpdateFinishedTrialError"):
        study.set_trial_user_attr(trial, "late", 1)
    assert study.trials[0].user_attrs == {"epochs": 13}


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        (7, 1, "a string of 1 to 255"),
        ("", 1, "a string of 1 to 255"),
        ("k" * (MAX_USER_ATTR_KEY + 1), 1, "a string of 1 to 255"),
        ("arr", np.arange(3), "JSON-serializable"),
        ("obj", object(), "JSON-serializable"),
        ("nan", math.nan, "JSON-serializable"),
        ("inf", [1.0, math.inf], "JSON-serializable"),
        ("big", "\u00e9" * (MAX_USER_ATTRS_BYTES // 2), f"{MAX_USER_ATTRS_BYTES:,}"),
    ],
)
def test_a_bad_key_or_value_is_a_value_error_naming_it_and_keeps_nothing(key: Any, value: Any, words: str) -> None:
    study = hyperstep.Study(SPACE, seed=0)
    (trial,) = study.ask()
    with pytest.raises(ValueError, match="user attribute") as refused:
        study.set_trial_user_attr(trial, key, value)
    assert words in str(refused.value) and repr(key)[:40] in str(refused.value)
    assert study.trials[0].user_attrs == {}


def test_a_trial_keeps_at_most_the_bounded_number_of_keys() -> None:
    trial = Trial(job_id="j", id="t0001", number=1, params={})
    for i in range(MAX_USER_ATTRS):
        trial = trial.with_user_attr(f"k{i}", i)
    trial = trial.with_user_attr("k0", "again")  # a key it holds does not count twice
    with pytest.raises(ValueError, match=f"'one-more'.*at most {MAX_USER_ATTRS}"):
        trial.with_user_attr("one-more", 1)


def test_the_largest_trial_with_the_largest_attributes_stays_within_a_dynamodb_item() -> None:
    """Its reports at their largest (four-byte names), a configuration at ``MAX_CONFIG_BYTES``,
    the attributes at ``MAX_USER_ATTRS_BYTES`` and a clipped error of four-byte characters: still
    16 KB under the item's 400 KB (the item's few other attributes take less than 1 KB)."""
    assert largest_body("\U0001f600") + MAX_CONFIG_BYTES + MAX_USER_ATTRS_BYTES + 4 * 1024 < ITEM_BYTES - 16 * 1024


def test_a_trial_without_attributes_is_stored_as_before() -> None:
    trial = Trial(job_id="j", id="t0001", number=1, params={"x": 0.5}, created_at=1.0)
    assert "user_attrs" not in json.loads(stored_json(trial))
    assert json.loads(stored_json(trial.with_user_attr("a", [1])))["user_attrs"] == {"a": [1]}


def test_the_api_lists_each_trials_attributes(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    first, *others = service.suggest(SuggestRequest(job_id=job_id)).trial_ids
    service.store.set_user_attr(job_id, first, "fold", 3)
    trials = {t["id"]: t for t in call("GET", f"/jobs/{job_id}/trials")[1]["trials"]}
    assert trials[first]["user_attrs"] == {"fold": 3}
    assert others and all(trials[other]["user_attrs"] == {} for other in others)


def test_run_resume_keeps_the_attributes_of_the_trials_it_carries_on(workdir: Path) -> None:
    """Attributes a notebook set on a ``hyperstep run`` job's trials (one told, one left waiting)
    stay through ``run --resume``, which stops the waiting one as an interrupted run's leftover
    and runs two more trials in its place."""
    document = spec_document(budget={"max_trials": 3, "max_parallel": 1})
    spec = parse_spec({**document, "trial": {**document["trial"], "workdir": str(workdir)}})
    store = SQLiteStore(str(workdir / "s.db"))
    store.create_job(Job(id="job-1", spec=spec, created_at=time.time()))
    study = hyperstep.Study.from_job(store, store.get_job("job-1"))
    told, waiting = study.ask(2)
    study.set_trial_user_attr(told, "source", "notebook")
    study.set_trial_user_attr(waiting, "fold", [1, 2])
    study.tell(told, 0.5)
    assert main(["--store", str(workdir / "s.db"), "run", "--resume", "job-1", "--out", str(workdir / "runs")]) == 0
    trials = SQLiteStore(str(workdir / "s.db")).list_trials("job-1")
    assert [t.user_attrs for t in trials] == [{"source": "notebook"}, {"fold": [1, 2]}, {}, {}]
    assert trials[1].state is TrialState.STOPPED  # the interrupted run's leftover, its budget given back
