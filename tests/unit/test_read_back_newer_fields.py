"""A store written by a newer version stays readable (``spec_base.ReadBackKeepsKnownFields``).

CloudFormation rolls a failed stack update back on its own, and an operator may roll back a
deploy: the version rolled back to then reads items the newer one wrote, with fields it does
not know. 14917ad refused them (``extra="forbid"``), so one trial with a newer field made the
whole job unreadable (status, suggest, finish and collect all failed on it). Read back, a
stored model now drops what it does not know; as input, an unknown field is still refused.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import hyperstep
from hyperstep.errors import SpecError
from hyperstep.models import TrialState
from hyperstep.spec import parse_spec
from hyperstep.stores.dynamodb_items import job_from_item, job_item, trial_from_item, trial_item
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document

SPACE = [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]


def newer(body: dict) -> dict:
    """``body`` as a newer version might write it: a field this one does not know at each
    level a stored model has (the trial, its reports, the job's spec, its budget and trial
    block, a parameter)."""
    body = {**body, "from_the_future": {"any": ["thing"]}}
    if "reports" in body:
        body["reports"] = {name: {**report, "signed_by": "later"} for name, report in body["reports"].items()}
    if "spec" in body:
        spec = body["spec"]
        spec["budget"] = {**spec["budget"], "max_gpu_hours": 3}
        if spec.get("trial") is not None:
            spec["trial"] = {**spec["trial"], "new_option": True}
        spec["parameters"] = [{**p, "prior": "beta"} for p in spec["parameters"]]
        spec["new_top_level"] = "yes"
    return body


def test_a_sqlite_store_reads_jobs_and_trials_a_newer_version_wrote(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="j")
    (trial,) = study.ask(1)
    study.report(trial, 1, 0.5)
    study.tell(trial, 0.25)
    job_body = json.loads(study.store.get_job("j").model_dump_json())
    reports = study.store.get_trial("j", trial.id).reports
    assert reports  # a stored MetricReport to be read back
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE jobs SET body = ? WHERE id = 'j'", (json.dumps(newer(job_body)),))
        (body,) = conn.execute("SELECT body FROM trials WHERE job_id = 'j'").fetchone()
        conn.execute("UPDATE trials SET body = ? WHERE job_id = 'j'", (json.dumps(newer(json.loads(body))),))
    store = SQLiteStore(path)
    job, (read,) = store.get_job("j"), store.list_trials("j")
    assert job.spec == study.store.get_job("j").spec
    assert (read.state, read.value, read.curve, read.params) == (TrialState.COMPLETED, 0.25, {1: 0.5}, trial.params)
    assert store.get_trial("j", trial.id).reports == reports


def test_dynamodb_items_a_newer_version_wrote_are_read(tmp_path: Path) -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(tmp_path / "s.db"), job_id="j")
    (trial,) = study.ask(1)
    study.tell(trial, 0.25)
    spec = parse_spec(spec_document())
    job = study.store.get_job("j").model_copy(update={"spec": spec})
    item = job_item(job)
    item["spec"] = {"S": json.dumps(newer({"spec": json.loads(item["spec"]["S"])})["spec"])}
    assert job_from_item(item).spec == spec
    stored = trial_item(study.store.get_trial("j", trial.id))
    stored["body"] = {"S": json.dumps(newer(json.loads(stored["body"]["S"])))}
    assert trial_from_item(stored).value == 0.25


def test_an_unknown_field_is_still_refused_as_input() -> None:
    with pytest.raises(SpecError, match=r"budget\.max_gpu_hours: unknown field"):
        parse_spec(spec_document(budget={"max_trials": 2, "max_gpu_hours": 3}))
    with pytest.raises(SpecError, match="new_top_level"):
        parse_spec({**spec_document(), "new_top_level": "yes"})
