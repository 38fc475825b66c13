"""A deployed stack upgraded under running jobs: the items the last deployed version (main at
``14917ad``) wrote, read and driven by this one.

``tests/fixtures/items_14917ad.json`` holds every DynamoDB item that version wrote under moto
(``tests/fixtures/make_items_14917ad.py``, which regenerates it): a SageMaker job submitted
through the API with an Idempotency-Key and a Batch job, each mid-run (t0001 reported steps
and completed, t0002 and t0003 running, with no report key: that version signed no
report), and a recurring schedule's kept spec; with the events those running cloud jobs send
next and the schedule's stored tick input. Here they are loaded as they are into a fresh
table made by this version's ``create_table`` and driven through this version's handlers.
The executions that version started are not in this moto (a real upgrade keeps them
running): a result's wake finds its task token unknown, which ``send_task_success`` takes
as an execution gone.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.models import JobStatus, TrialState
from hyperstep.stores.dynamodb_items import table_definition
from hyperstep.views import job_row, job_summary, jobs_table, trials_csv, trials_table
from hyperstep_functions.api.app import handle_api
from tests.integration import moto_harness
from tests.integration.moto_harness import TABLE, MotoStack, moto_stack
from tests.integration.test_moto_tuning_job import call_api
from tests.scheduler_ticks import delivered

pytestmark = pytest.mark.slow
FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "items_14917ad.json").read_text())
ALICE = "arn:aws:iam::123456789012:user/alice"
ADMIN = "arn:aws:iam::123456789012:user/admin"
SAGEMAKER, BATCH, STOPPING = (FIXTURE["jobs"][name] for name in ("sagemaker", "batch", "stopping"))
EVERY_JOB = sorted([SAGEMAKER, BATCH, STOPPING])


def typed(value: Any) -> Any:
    """An attribute value of the fixture as boto3 takes it: a binary (``B``) from its base64."""
    if isinstance(value, dict):
        return {k: base64.b64decode(v) if k == "B" else typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return value


def parked_token(job_id: str) -> str:
    """The task token the old version parked for the job's waiting round."""
    (item,) = [i for i in FIXTURE["items"] if i["pk"]["S"] == f"JOB#{job_id}" and i["sk"]["S"] == "TOKEN"]
    return json.loads(item["token"]["S"])["token"]


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    as_deployed = functools.partial(handle_api, admins=frozenset({ADMIN}))  # AdminPrincipals: ADMIN
    with moto_stack() as deployed, mock.patch.object(moto_harness, "handle_api", as_deployed):
        client = deployed.session.client("dynamodb")
        for item in FIXTURE["items"]:
            client.put_item(TableName=TABLE, Item=typed(item))
        yield deployed


def test_the_table_keys_and_indexes_are_the_old_versions() -> None:
    """A deploy cannot change a table's keys or add indexes in place: they must match."""
    assert table_definition(TABLE) == {**FIXTURE["table"], "TableName": TABLE}


def test_every_old_job_and_trial_reads_in_the_views_and_the_api(stack: MotoStack) -> None:
    store = stack.service.store
    jobs = store.list_jobs()
    assert sorted(j.id for j in jobs) == sorted(j.id for j in store.list_unfinished_jobs()) == EVERY_JOB
    assert jobs_table([job_row(j) for j in jobs])
    assert [t.state for t in store.list_trials(STOPPING)] == [TrialState.RUNNING] * 2  # until their ends come
    for job in (store.get_job(SAGEMAKER), store.get_job(BATCH)):
        trials = store.list_trials(job.id)
        assert [(t.id, t.state, t.report_key) for t in trials] == [
            ("t0001", TrialState.COMPLETED, None),
            ("t0002", TrialState.RUNNING, None),
            ("t0003", TrialState.RUNNING, None),
        ]
        first = store.get_trial(job.id, "t0001")  # with its curve, from the CURVE item
        assert first.curve == {1: 1.0, 2: 0.5, 3: pytest.approx(1 / 3)}
        assert job.spec.budget.max_failed_before_success == 5
        best = store.get_trial(job.id, job.best_trial_id) if job.best_trial_id else None
        assert best is not None and job_summary(job, best, trials)["best_trial_id"] == "t0001"
        assert trials_table(job, trials) and len(trials_csv(job, trials).splitlines()) == 4
        status, body = call_api(stack, "GET", f"/jobs/{job.id}", user=ADMIN)
        assert status == 200, body
        assert (body["job_id"], body["status"]) == (job.id, "running")
        status, body = call_api(stack, "GET", f"/jobs/{job.id}/trials", user=ADMIN)
        assert (status, [t["id"] for t in body["trials"]]) == (200, ["t0001", "t0002", "t0003"]), body
    status, body = call_api(stack, "GET", "/jobs", user=ALICE)
    assert (status, sorted(j["job_id"] for j in body["jobs"])) == (200, sorted([SAGEMAKER, STOPPING])), body
    status, body = call_api(stack, "GET", "/jobs", user=ADMIN)
    assert (status, sorted(j["job_id"] for j in body["jobs"])) == (200, EVERY_JOB), body


@pytest.mark.parametrize("job_id,backend", [(SAGEMAKER, "sagemaker"), (BATCH, "batch")])
def test_collect_takes_an_old_trials_unsigned_report_and_its_end(stack: MotoStack, job_id: str, backend: str) -> None:
    events = FIXTURE["events"][backend]
    assert stack.invoke("collect", events["step"]) == {"recorded": True}
    store = stack.service.store
    assert store.get_trial(job_id, "t0002").curve == {1: 0.5}
    woken: list[str] = []
    send = StepFunctionsOrchestrator.send_task_success

    def recorded(self: StepFunctionsOrchestrator, token: str, output: dict[str, Any]) -> bool:
        woken.append(token)
        return send(self, token, output)  # unknown to this moto: False, as for an execution gone

    with mock.patch.object(StepFunctionsOrchestrator, "send_task_success", recorded):
        for event in events["second"]:  # Batch: the final report, then the end; SageMaker: the end
            assert stack.invoke("collect", event) == {"recorded": True}, event
    assert woken == [parked_token(job_id)]  # the old round's parked token, read as that version kept it
    trial = store.get_trial(job_id, "t0002")
    assert trial.state is TrialState.COMPLETED and trial.value is not None
    assert store.get_job(job_id).completed == 2


def test_a_round_of_an_old_job_then_its_finish(stack: MotoStack) -> None:
    for event in FIXTURE["events"]["sagemaker"]["second"]:
        assert stack.invoke("collect", event) == {"recorded": True}
    plan = stack.invoke("suggest", {"job_id": SAGEMAKER})
    assert plan["trial_ids"] == ["t0004"], plan  # 4 trials in all, 2 at a time: t0003 still runs
    store = stack.service.store
    new = store.get_trial(SAGEMAKER, "t0004")
    assert new.state is TrialState.RUNNING and new.report_key  # a trial of this version has a key
    assert stack.invoke("collect", FIXTURE["events"]["sagemaker"]["third"][-1]) == {"recorded": True}
    summary = stack.invoke("finish", {"job_id": SAGEMAKER})
    assert summary["status"] == "completed", summary
    job = store.get_job(SAGEMAKER)
    assert job.status is JobStatus.COMPLETED and job.completed == 3
    assert job.id not in {j.id for j in store.list_unfinished_jobs()}


def test_a_budget_patch_on_an_old_job(stack: MotoStack) -> None:
    status, body = call_api(stack, "PATCH", f"/jobs/{SAGEMAKER}", {"max_trials": 6, "max_parallel": 3}, user=ALICE)
    assert status == 200, body
    budget = stack.service.store.get_job(SAGEMAKER).spec.budget
    assert (budget.max_trials, budget.max_parallel, budget.max_failed_before_success) == (6, 3, 5)


def test_the_schedule_tick_reads_the_old_kept_spec(stack: MotoStack) -> None:
    started = stack.invoke("start", delivered(FIXTURE["schedule_input"]))
    assert "job_id" in started, started
    job = stack.service.store.get_job(started["job_id"])
    assert (job.spec.name, job.owner, job.status) == ("nightly", ALICE, JobStatus.RUNNING)
    assert job.execution_id == started["execution_id"]


def test_a_keyed_submit_retried_across_the_deploy_answers_the_old_job(stack: MotoStack) -> None:
    """A client's retry of its keyed ``POST /jobs`` that the old version accepted (its answer
    lost on the way back), within the record's 24 hours: the same job, not a second one."""
    submitted = FIXTURE["submitted"]
    client = stack.session.client("dynamodb")
    record = {"pk": {"S": "idempotency#submit"}}
    (item,) = [i for i in FIXTURE["items"] if i["pk"] == record["pk"]]
    soon = str(int(time.time()) + 3600)  # the fixture's expiry is a day after it was made: any day is within it
    client.put_item(TableName=TABLE, Item={**typed(item), "expires_at": {"N": soon}})
    original = stack.invoke

    def keyed(handler: str, event: dict[str, Any]) -> dict[str, Any]:
        event["headers"]["Idempotency-Key"] = submitted["idempotency_key"]
        event["multiValueHeaders"]["Idempotency-Key"] = [submitted["idempotency_key"]]
        return original(handler, event)

    with mock.patch.object(stack, "invoke", keyed):
        status, body = call_api(stack, "POST", "/jobs", submitted["body"], user=ALICE)
    assert (status, body["job_id"]) == (202, SAGEMAKER), body
    assert sorted(j.id for j in stack.service.store.list_jobs()) == EVERY_JOB


def test_an_old_job_stopping_ends_stopped(stack: MotoStack) -> None:
    """Stopped through the old API, its trials' "Stopped" events come after the deploy."""
    store = stack.service.store
    assert store.get_job(STOPPING).status is JobStatus.STOPPING
    for event in FIXTURE["events"]["stopping"]:
        assert stack.invoke("collect", event) == {"recorded": True}, event
    assert [t.state for t in store.list_trials(STOPPING)] == [TrialState.STOPPED] * 2
    assert stack.invoke("suggest", {"job_id": STOPPING})["done"] is True
    assert stack.invoke("finish", {"job_id": STOPPING})["status"] == "stopped"
    assert store.get_job(STOPPING).status is JobStatus.STOPPED
