"""Only a trial's own container can report its metrics (``hyperstep.report_signing``).

Any principal allowed ``events:PutEvents`` on the bus, every other trial's container
included (one SageMaker training role, one Batch job role for every user's trials), can
send a "Trial Metric Reported" event. Collect takes a report of a trial on AWS only when it
is signed with that trial's key, which only its container was given. Each report here is
made as a container makes it: ``hyperstep.report`` in the environment the backend's launch
request gives the container, its event as EventBridge delivers it.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.batch.adapter import build_request as batch_request
from hyperstep.backends.naming import ENV_REPORT_KEY
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.backends.sagemaker.adapter import build_request as sagemaker_request
from hyperstep.cli import main
from hyperstep.errors import SpecError
from hyperstep.handlers import Telemetry, handle_collect
from hyperstep.job_report import from_store, write_report
from hyperstep.messages import LaunchRequest
from hyperstep.models import Job, Trial, trial_id
from hyperstep.report_signing import ReportRefused, check_signature, signature
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec, parse_spec
from hyperstep.spec_base import STORED
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.integration.moto_platform import reported_event
from tests.unit.test_api import sagemaker_spec
from tests.unit.test_order_free_results import make_service
from tests.unit.test_reaper_metrics import Flushed


def container_environment(job: Job, trial: Trial) -> dict[str, str]:
    """The environment the trial's launch request gives its container."""
    if job.spec.trial is not None and job.spec.trial.backend == "sagemaker":
        return sagemaker_request(job, trial, "hs-name", event_bus="hyperstep-bus")["Environment"]
    overrides = batch_request(job, trial, "hs-name", event_bus="hyperstep-bus")["containerOverrides"]
    return {e["name"]: e["value"] for e in overrides["environment"]}


def collect(service: TuningService, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Collect's answer, and the metrics its invocation counted."""
    meter = Flushed()
    answer = handle_collect(service, event, Telemetry(metrics=meter))
    meter.flush_metrics()
    return answer, {name: value for _, values in meter.objects for name, value in values.items()}


@pytest.fixture(params=["sagemaker", "batch"])
def two(request: pytest.FixtureRequest) -> tuple[TuningService, Job, Trial, Trial]:
    """A job whose two trials run (one user's trial and another's, as far as the bus can tell)."""
    service, job, _, _ = make_service(request.param, 2)
    mine, theirs = service.store.list_trials(job.id)
    return service, job, mine, theirs


def test_a_report_from_the_trials_own_container_is_taken(two: tuple[TuningService, Job, Trial, Trial]) -> None:
    service, job, mine, _ = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    answer, counted = collect(service, reported_event({"loss": 0.5}, env, step=1))
    assert answer == {"recorded": True}
    assert service.store.get_trial(job.id, mine.id).curve == {1: 0.5}
    assert "ReportsRefused" not in counted


def test_another_trials_container_cannot_report_for_a_trial(two: tuple[TuningService, Job, Trial, Trial]) -> None:
    """The forgery of the issue: a container (its own key in hand) reports another trial's
    objective, final, under that trial's ids. Refused and counted; the trial keeps nothing."""
    service, job, mine, theirs = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    forged = reported_event({"loss": 0.0}, {**env, "HYPERSTEP_TRIAL_ID": theirs.id})
    answer, counted = collect(service, forged)
    assert answer == {"recorded": False, "reason": "the report's signature does not match the trial's key"}
    assert counted == {"ReportsRefused": 1}
    victim = service.store.get_trial(job.id, theirs.id)
    assert (victim.reports, victim.state.value) == ({}, "running")


def test_an_unsigned_or_altered_report_is_refused(two: tuple[TuningService, Job, Trial, Trial]) -> None:
    service, job, mine, _ = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    unsigned = reported_event({"loss": 0.5}, {k: v for k, v in env.items() if k != ENV_REPORT_KEY}, step=1)
    assert collect(service, unsigned)[0] == {"recorded": False, "reason": "the report is not signed"}
    altered = reported_event({"loss": 0.5}, env, step=1)
    altered["detail"]["metrics"]["loss"] = 0.01
    assert collect(service, altered)[0]["recorded"] is False
    moved = reported_event({"loss": 0.5}, env, step=1)
    moved["detail"]["step"] = 2  # a step report replayed at another step
    assert collect(service, moved)[0]["recorded"] is False
    assert service.store.get_trial(job.id, mine.id).reports == {}


def test_a_replayed_report_changes_nothing(two: tuple[TuningService, Job, Trial, Trial]) -> None:
    """Replaying a genuine report (its bytes as they crossed the bus, or as JSON writes them
    again) is an at-least-once duplicate: nothing changes, and the final report stays final."""
    service, job, mine, _ = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    steps = [reported_event({"loss": 0.7}, env, step=1), reported_event({"loss": 0.6}, env, step=2)]
    final = reported_event({"loss": 0.4}, env)
    for event in (*steps, final):
        assert collect(service, event)[0] == {"recorded": True}
    before = service.store.get_trial(job.id, mine.id)
    for event in (*steps, json.loads(json.dumps(steps[0])), final, final):
        collect(service, event)
    after = service.store.get_trial(job.id, mine.id)
    assert (after.reports, after.curve, after.metrics) == (before.reports, before.curve, before.metrics)
    assert after.curve == {1: 0.7, 2: 0.6} and after.reports["loss"].final


def test_an_older_signed_report_of_a_step_replayed_or_delivered_late_leaves_the_newer_value(
    two: tuple[TuningService, Job, Trial, Trial],
) -> None:
    """A script reports step 3 twice (restarted from a checkpoint). Replaying the older
    signed report after the newer one (anyone allowed ``events:PutEvents`` who saw it) or
    EventBridge delivering the two out of order leaves the newer value on the curve: each
    point keeps the signed ``at`` of the report that wrote it (``models.replaces_point``)."""
    service, job, mine, theirs = two
    for trial in (mine, theirs):
        env = container_environment(job, service.store.get_trial(job.id, trial.id))
        with mock.patch("hyperstep.reporting.time.time", side_effect=[1000.0, 2000.0]):
            older, newer = reported_event({"loss": 0.9}, env, step=3), reported_event({"loss": 0.4}, env, step=3)
        delivered = [older, newer, older] if trial is mine else [newer, older]  # replayed; out of order
        for event in delivered:
            assert collect(service, event)[0] == {"recorded": True}
        after = service.store.get_trial(job.id, trial.id)
        assert (after.curve, after.metrics) == ({3: 0.4}, {"loss": 0.4})


def test_a_trial_created_before_reports_were_signed_takes_its_unsigned_reports(
    two: tuple[TuningService, Job, Trial, Trial],
) -> None:
    """A trial running across the deploy has no key, and its image cannot sign: its reports
    are taken as before, so that the deploy loses none of its steps or its final value (a
    Batch script that only calls ``hyperstep.report`` has no other). A trial with a key
    still takes none unsigned."""
    service, job, mine, _ = two
    (old,) = service.store.add_trials(
        job.id, 1, None, lambda _, n: Trial(job_id=job.id, id=trial_id(n), number=n, params={})
    )
    service.store.start_trial(job.id, old.id, f"hs-{job.id}-{old.id}-1")
    env = container_environment(job, service.store.get_trial(job.id, old.id))
    assert ENV_REPORT_KEY not in env
    answer, _ = collect(service, reported_event({"loss": 0.5}, env, step=1))
    assert answer == {"recorded": True}
    assert service.store.get_trial(job.id, old.id).curve == {1: 0.5}
    keyed = container_environment(job, service.store.get_trial(job.id, mine.id))
    unsigned = {name: value for name, value in keyed.items() if name != ENV_REPORT_KEY}
    answer, _ = collect(service, reported_event({"loss": 0.5}, unsigned, step=1))
    assert answer == {"recorded": False, "reason": "the report is not signed"}


def test_the_key_is_given_to_the_container_alone(two: tuple[TuningService, Job, Trial, Trial]) -> None:
    """In the container's environment; out of the trial's repr and every dump (what the API
    answers, views and logs show), kept by the store."""
    service, job, mine, _ = two
    trial = service.store.get_trial(job.id, mine.id)
    key = trial.report_key
    assert key is not None and len(key) == 64
    assert container_environment(job, trial)[ENV_REPORT_KEY] == key
    assert service.store.report_key(job.id, mine.id) == key
    assert key not in repr(trial) + str(trial.model_dump()) + trial.model_dump_json()
    assert "report_key" not in json.dumps(Trial.model_json_schema(mode="serialization"))


def test_collect_logs_no_key_and_no_forged_value(
    two: tuple[TuningService, Job, Trial, Trial], capsys: pytest.CaptureFixture[str]
) -> None:
    """Collect's Powertools log of a refused report names its trial and the reason, no value
    of the report and no key; the same for a taken one."""
    service, job, mine, theirs = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    out = io.StringIO()
    logger = Logger(
        service=f"collect-{job.spec.trial.backend}", level="DEBUG", logger_handler=logging.StreamHandler(out)
    )
    telemetry = Telemetry(log=logger, metrics=Flushed())
    forged = reported_event({"loss": 0.123456789}, {**env, "HYPERSTEP_TRIAL_ID": theirs.id})
    handle_collect(service, forged, telemetry)
    handle_collect(service, reported_event({"loss": 0.987654321}, env, step=3), telemetry)
    logged = out.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in logged.splitlines()]
    assert [(line["message"], line["trial_id"]) for line in lines] == [
        ("refused report", theirs.id),
        ("collected", mine.id),
    ]
    keys = [service.store.report_key(job.id, t.id) for t in (mine, theirs)]
    for secret in (*keys, "0.123456789", "0.987654321", forged["detail"]["signature"]):
        assert secret is not None and secret not in logged


def test_check_signature_compares_any_text_without_raising() -> None:
    """A signature is whatever the event says: text that is not hex (not ASCII even) is refused."""
    for given in ("é" * 64, "", "z" * 64):
        with pytest.raises(ReportRefused, match="does not match"):
            check_signature("k" * 64, b"{}", given)
    check_signature("k" * 64, b"{}", signature("k" * 64, b"{}"))


class Refusing:
    """A SageMaker and Batch client whose refusal quotes the request's whole environment, as
    AWS's validation messages quote the values they refuse."""

    meta = type("Meta", (), {"region_name": "us-east-1"})()

    @staticmethod
    def _refuse(env: Mapping[str, str], code: str) -> None:
        quoted = f"Value '{json.dumps(dict(env))}' at 'environment' failed to satisfy constraint"
        raise ClientError({"Error": {"Code": code, "Message": quoted}}, "Launch")

    def create_training_job(self, **request: Any) -> None:
        self._refuse(request["Environment"], "ValidationException")

    def get_paginator(self, _: str) -> Any:
        return type("Pages", (), {"paginate": lambda *_, **__: [{"jobSummaryList": []}]})()

    def submit_job(self, **request: Any) -> None:
        self._refuse({e["name"]: e["value"] for e in request["containerOverrides"]["environment"]}, "ClientException")


def test_a_launch_refusal_quoting_the_environment_keeps_the_key_out_of_the_trials_error(
    two: tuple[TuningService, Job, Trial, Trial],
) -> None:
    """The trial's error (shown by the API, the CLI and the report) keeps the platform's
    message with the report key hidden, as the user's variables are."""
    service, job, _, _ = two
    backend = job.spec.trial.backend if job.spec.trial is not None else ""
    service.backends = {
        "sagemaker": SageMakerBackend(Refusing(), event_bus="hyperstep-bus"),
        "batch": BatchBackend(Refusing(), event_bus="hyperstep-bus"),
    }
    (pending,) = service.store.add_trials(
        job.id, 1, None, lambda _, n: Trial(job_id=job.id, id=trial_id(n), number=n, params={}, report_key="f" * 64)
    )
    assert service.launch(LaunchRequest(job_id=job.id, trial_id=pending.id))["state"] == "failed"
    error = service.store.get_trial(job.id, pending.id).error or ""
    assert {"sagemaker": "SageMaker rejected", "batch": "Batch rejected"}[backend] in error
    assert "f" * 64 not in error and '"HYPERSTEP_REPORT_KEY": "***"' in error
    assert f'"HYPERSTEP_TRIAL_ID": "{pending.id}"' in error  # hyperstep's other variables stay, as before


def test_a_genuine_report_is_taken_however_its_json_is_written_again(
    two: tuple[TuningService, Job, Trial, Trial],
) -> None:
    """EventBridge hands collect the detail as JSON it may write differently from the script's:
    its metrics in another key order, ``1.0`` as ``1``, ``-0.0`` as ``0``. The signature
    covers the values, not how they are written, so the same report is taken."""
    service, job, mine, _ = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    event = reported_event({"acc": 1.0, "loss": -0.0, "val-loss": 0.25}, env, step=4)
    metrics = event["detail"]["metrics"]
    assert list(metrics) == ["acc", "loss", "val-loss"]
    written = json.dumps({"val-loss": 0.25, "loss": -0.0, "acc": 1.0}).replace("1.0", "1").replace("-0.0", "0")
    event["detail"]["metrics"] = json.loads(written)
    assert collect(service, event)[0] == {"recorded": True}
    assert service.store.get_trial(job.id, mine.id).reports["acc"].value == 1.0


def test_the_cli_and_the_report_page_show_no_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``hyperstep status JOB``, ``hyperstep trials`` (table and CSV) and the HTML report read
    trials whose store keeps their keys, and print none of them."""
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    job = Job(id="tiny-keys", spec=parse_spec(spec_document()), created_at=1_700_000_000.0)
    store.create_job(job)
    study = Study.from_job(store, job)
    asked = study.ask(3)
    study.tell(asked[0].id, 0.5)
    keys = [store.report_key(job.id, t.id) for t in asked]
    assert all(key is not None and len(key) == 64 for key in keys)
    page = write_report(from_store(store, job.id), tmp_path / "out").read_text()
    store.close()
    for command in (["status", job.id], ["trials", job.id], ["trials", job.id, "--csv"]):
        assert main(["--store", str(path), *command]) == 0
    printed = capsys.readouterr().out
    assert asked[0].id in printed and asked[0].id in page
    for key in keys:
        assert key is not None and key not in printed and key not in page


def test_a_sagemaker_trial_block_leaves_room_for_every_variable_hyperstep_sets() -> None:
    """CreateTrainingJob takes at most 100 ``Environment`` entries; hyperstep sets five (ids,
    hyperparameters, bus and the report key), so a block may name 95: with 96 every trial
    would be refused at launch. A job stored with 96 before stays readable."""

    def spec(count: int) -> dict[str, Any]:
        document = sagemaker_spec()
        document["trial"]["environment"] = {f"V{i}": "x" for i in range(count)}
        return document

    job = Job(id="mnist-envs", spec=parse_spec(spec(95)), created_at=1_700_000_000.0)
    trial = Trial(job_id=job.id, id=trial_id(0), number=0, params={"lr": 0.01}, report_key="ab" * 32)
    env = sagemaker_request(job, trial, "hs-name", event_bus="hyperstep-bus")["Environment"]
    assert len(env) == 100 and env[ENV_REPORT_KEY] == "ab" * 32
    with pytest.raises(SpecError, match="95"):
        parse_spec(spec(96))
    assert len(JobSpec.model_validate(spec(96), context=STORED).trial.environment) == 96


def test_a_report_whose_time_is_out_of_range_is_dropped_not_failed(
    two: tuple[TuningService, Job, Trial, Trial],
) -> None:
    """``1e999`` is valid JSON that reads as infinity: anyone allowed PutEvents could send it
    as a report's ``at``. It is a malformed event, dropped, rather than an error in checking
    the signature that fails the invocation (retried, then the alarmed dead-letter queue)."""
    service, job, mine, _ = two
    env = container_environment(job, service.store.get_trial(job.id, mine.id))
    event = json.loads(json.dumps(reported_event({"loss": 0.5}, env, step=1)).replace('"at": ', '"at": 1e999, "_": '))
    event["detail"].pop("_")
    answer, _ = collect(service, event)
    assert answer["recorded"] is False and "at" in answer["reason"]
    assert service.store.get_trial(job.id, mine.id).reports == {}
