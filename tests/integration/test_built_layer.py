"""The built artifacts run: every handler, loaded from the built layer as Lambda loads it.

The layer is built by ``layers/hyperstep/build_layer.sh`` for the host (CPython of the
template's runtime, 3.12), then each function runs in a fresh 3.12 interpreter that can
import its own folder, the layer and the runtime's boto3, nothing else: no dev
dependencies, no editable install of hyperstep, no moto (see ``lambda_runtime.py`` and
``lambda_bootstrap.py``). AWS is moto in server mode in this process; the functions reach
it through ``AWS_ENDPOINT_URL`` as they would reach AWS. Each sample event of ``events/``
goes through the function AWS sends it to, on a freshly deployed table holding the job
the samples are about (as ``tests/unit/test_sample_events.py`` does in-process).

What it catches: a handler importing a dev-only package, a module missing from the layer,
wheels for another Python or platform, bytecode of another Python version, a handler
that works only with the repo's editable install, and any handler that fails on its
sample events against the runtime's boto3.

Without Python 3.12 it skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from moto.core.responses import ActionResult
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

from hyperstep.messages import LaunchRequest, SuggestRequest
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService, unparked
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.dynamodb_items import create_table
from hyperstep.wiring import build_aws_service
from tests.integration.lambda_runtime import (
    REPO,
    Function,
    LambdaProcess,
    Paths,
    built_layer,
    function_environment,
    functions,
    lambda_python,
    runtime_sdk,
    runtime_version,
)
from tests.integration.moto_harness import tuning_definition
from tests.report_keys import signed
from tests.unit.test_sample_events import (
    API,
    COLLECT,
    EXECUTION_ENDED,
    FIRST_ROUND,
    JOB,
    keep_scheduled_spec,
    load,
    samples_owner,
    submitted_spec,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
STACK = "hyperstep"
TABLE, MACHINE, SCHEDULE_GROUP = "hyperstep", f"{STACK}-tuning", "hyperstep"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ASIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_SESSION_TOKEN": "fake"}

SAMPLES: dict[str, list[str]] = {
    "api": list(API),
    "collect": list(COLLECT),
    "suggest": ["suggest.json"],
    "finish": ["finish.json", "finish-after-error.json", EXECUTION_ENDED],
    "start": ["start-scheduled.json", "start-scheduled-legacy.json"],
    "reaper": ["scheduled-event.json"],
}
"""Function folder -> the sample events AWS sends it."""


def test_every_function_and_every_sample_event_is_covered() -> None:
    folders = {p.parent.name for p in (REPO / "functions").glob("*/app.py")}
    assert set(SAMPLES) == set(CHECKS) == set(functions()) == folders
    assert sorted(n for names in SAMPLES.values() for n in names) == sorted(p.name for p in (REPO / "events").glob("*"))


# ---- the artifacts and AWS ------------------------------------------------------------


@pytest.fixture(scope="module")
def paths() -> Paths:
    """The runtime's interpreter, the built layer and the runtime's SDK (built once, cached)."""
    version = runtime_version()
    python = lambda_python(version)
    if python is None:
        message = (
            f"no CPython {version} (the Lambda runtime's version) found: install it (pyenv install {version}) "
            f"or set HYPERSTEP_LAMBDA_PYTHON to its interpreter"
        )
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return Paths(python, built_layer(python), runtime_sdk(python))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto as a server in this process: the functions' interpreters cannot import it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    requests_log = logging.getLogger("werkzeug")  # one line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        requests_log.setLevel(level)


@pytest.fixture(scope="module")
def xray_daemon() -> Iterator[str]:
    """Where the X-Ray SDK sends its segments (UDP): a socket of this process, never read."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        host, port = sink.getsockname()
        yield f"{host}:{port}"


def _stop_training_job(self: SageMakerResponse) -> ActionResult:
    """``StopTrainingJob``, which moto lacks: an unknown job is a ValidationException as on AWS;
    moto's jobs are Completed from the start, so there is nothing to stop."""
    self.sagemaker_backend.describe_training_job(self._get_param("TrainingJobName"))
    return ActionResult({})


class Deployment:
    """hyperstep deployed in moto (the resources the functions' variables name), and the
    service the test uses to set up and inspect the state the functions see."""

    def __init__(self, endpoint: str, xray_daemon: str) -> None:
        self.endpoint, self.xray_daemon = endpoint, xray_daemon
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
        iam = boto3.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="hyperstep", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        create_table(boto3.client("dynamodb"), TABLE)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(name=MACHINE, definition=tuning_definition(), roleArn=role)
        boto3.client("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
        self.values = {
            "HYPERSTEP_TABLE": TABLE,
            "HYPERSTEP_STATE_MACHINE_ARN": machine["stateMachineArn"],
            "HYPERSTEP_START_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hyperstep-start",
            "HYPERSTEP_SCHEDULER_ROLE_ARN": role,
            "HYPERSTEP_SCHEDULE_GROUP": SCHEDULE_GROUP,
            # the deployer's guardrail choices the sample job needs (their defaults allow no S3 and no role)
            "HYPERSTEP_ALLOWED_S3_PREFIXES": "s3://hyperstep-demo/",
            "HYPERSTEP_ALLOWED_ROLE_ARNS": f"arn:aws:iam::{ACCOUNT}:role/HyperstepSageMakerRole",
            "HYPERSTEP_ADMIN_PRINCIPALS": "",  # the test deployment names no admins
            "HYPERSTEP_STACK_ID": "6f1d2c3b-4a5e-11f0-9c7d-0a1b2c3d4e5f",  # the stack id's UUID, tagged on trials
        }
        """Variables the template fills from its own resources (or the deployer's parameters), by name."""
        self.service: TuningService = build_aws_service(self.values)

    def environment(self, function: Function) -> dict[str, str]:
        """The function's variables, plus what Lambda gives every function (region, credentials,
        the X-Ray daemon's address) and the endpoint that stands for AWS."""
        aws = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_XRAY_DAEMON_ADDRESS": self.xray_daemon}
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": STACK}
        pseudo["AWS::URLSuffix"] = "amazonaws.com"
        variables = function_environment(function, self.values, pseudo)
        return {**variables, **aws, **CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}


@pytest.fixture
def deploy(endpoint: str, xray_daemon: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Deployment]]:
    """A function that deploys afresh (moto reset) and returns the ``Deployment``; boto3 in
    this process talks to the same moto."""
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, **CREDENTIALS}.items():
        monkeypatch.setenv(name, value)
    with mock.patch.object(SageMakerResponse, "stop_training_job", _stop_training_job, create=True):
        yield lambda: Deployment(endpoint, xray_daemon)


# ---- what each sample is sent on, and what it must do ---------------------------------


def prepare(deployment: Deployment, sample: str) -> None:
    """The job of the samples, at the point the sample arrives (as test_sample_events' fixtures):
    stored for Suggest, its first round reserved and t0007 running for the others."""
    service = deployment.service
    service.create_job(parse_spec(submitted_spec()), job_id=JOB, owner=samples_owner())
    keep_scheduled_spec(service.store)
    if sample == "suggest.json":
        return
    assert "t0007" in service.suggest(SuggestRequest(job_id=JOB)).trial_ids
    service.launch(LaunchRequest(job_id=JOB, trial_id="t0007"))
    if sample == EXECUTION_ENDED:  # the execution the sample is about is the job's
        service.store.set_job_status(JOB, JobStatus.RUNNING, execution_id=load(sample)["detail"]["executionArn"])
    if (
        sample in COLLECT
    ):  # the job's trials run on SageMaker: an end event without the objective makes collect describe it
        found = sagemaker_backends[ACCOUNT][REGION].training_jobs[f"hs-{JOB}-t0007-1"]
        objective = submitted_spec()["objective"]["metric"]
        stamp = found.final_metric_data_list[0]["Timestamp"]
        found.final_metric_data_list = [{"MetricName": objective, "Value": 0.08, "Timestamp": stamp}]


def check_api(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    assert int(result["statusCode"]) == API[sample], result["body"]
    body = json.loads(result["body"])
    if sample == "api-get-trials.json":
        assert [t["id"] for t in body["trials"]] == FIRST_ROUND
    elif sample == "api-post-jobs.json":
        assert store.get_job(body["job_id"]).spec.name == submitted_spec()["name"]
    elif sample == "api-list-jobs.json":
        assert JOB in [j["job_id"] for j in body["jobs"]]
    else:
        assert body["job_id"] == JOB


def check_suggest(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    assert result["trial_ids"] == FIRST_ROUND and not result["done"]
    assert [t.id for t in store.list_trials(JOB)] == FIRST_ROUND
    assert all(t.state is TrialState.RUNNING for t in store.list_trials(JOB))  # Suggest launches what it plans
    jobs = boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    assert sorted(j["TrainingJobName"] for j in jobs) == [f"hs-{JOB}-{trial}-1" for trial in FIRST_ROUND]
    stored = store.take_task_token(JOB)  # no result yet: the round's token is parked
    assert stored is not None and unparked(stored) == (load(sample)["task_token"], result["history_events"])


def check_finish(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    failed = "error" in sample or sample == EXECUTION_ENDED
    assert result["status"] == store.get_job(JOB).status.value == ("failed" if failed else "completed")


def check_collect(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    """Recorded as in test_sample_events; ``again`` is the same event delivered a second time."""
    recorded = COLLECT[sample]
    assert result["first"]["recorded"] is recorded
    assert result["again"]["recorded"] is (recorded and sample.startswith("trial-metric"))


def check_start(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    job = store.get_job(result["job_id"])
    assert job.spec.name == "mnist-nightly" and job.status is JobStatus.RUNNING


def check_reaper(sample: str, result: dict[str, Any], store: TrialStore) -> None:
    """moto's training jobs are Completed at once: whatever the reaper recorded shows in the store."""
    ended = store.get_trial(JOB, "t0007").state is not TrialState.RUNNING
    assert result == {"jobs": 1, "recorded": int(ended), "timed_out": 0}


CHECKS: dict[str, Callable[[str, dict[str, Any], TrialStore], None]] = {
    "api": check_api,
    "suggest": check_suggest,
    "finish": check_finish,
    "collect": check_collect,
    "start": check_start,
    "reaper": check_reaper,
}
"""Function folder -> what its sample must have done, read back from AWS (moto)."""


def assert_loaded_as_in_lambda(process: LambdaProcess) -> None:
    """The cold start imported the handler from the function's folder, hyperstep and the
    third-party packages from the layer, boto3 from the runtime, nothing from elsewhere."""
    report = process.cold_start
    assert report["implementation"] == "cpython" and report["python"][:2] == [3, int(runtime_version().split(".")[1])]
    assert report["importable_dev_packages"] == [], "a package Lambda does not have is importable"
    for kind in ("bytecode_problems", "extension_problems"):
        problems = report[kind]
        assert not problems, f"{len(problems)} {kind.replace('_', ' ')} in the layer:\n" + "\n".join(problems[:10])
    assert "error" not in report, f"{report['error']['errorType']}: {report['error']['errorMessage']}\n" + "".join(
        report["error"]["stackTrace"]
    )
    where = {name: origin.partition(":")[0] for name, origin in report["modules"].items()}
    assert where["app"] == "task"
    assert where["hyperstep"] == where["pydantic"] == where["aws_lambda_powertools"] == "layer"
    assert where.get("boto3", "runtime") == where.get("botocore", "runtime") == "runtime"
    elsewhere = sorted(origin for origin in report["modules"].values() if origin.startswith("elsewhere:"))
    assert not elsewhere, f"loaded from outside the function, the layer, the runtime: {elsewhere[:10]}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_function_runs_its_sample_events_from_the_built_layer(
    name: str, paths: Paths, deploy: Callable[[], Deployment], tmp_path: Path
) -> None:
    function = functions()[name]
    deployment = deploy()
    with LambdaProcess(function, paths, deployment.environment(function), tmp_path) as process:
        assert_loaded_as_in_lambda(process)
        for sample in SAMPLES[name]:
            deployment = deploy()
            prepare(deployment, sample)
            event = signed(deployment.service.store, load(sample))  # a metric sample as t0007's script signs it
            result = invoke(process, sample, event)
            if name == "collect":  # EventBridge delivers at least once
                result = {"first": result, "again": invoke(process, sample, event)}
            CHECKS[name](sample, result, deployment.service.store)


def invoke(process: LambdaProcess, sample: str, event: dict[str, Any]) -> dict[str, Any]:
    """What the handler returned for the sample's ``event`` (it must not raise)."""
    reply = process.invoke(event, REGION, ACCOUNT)
    stack = "".join(reply.get("stackTrace", []))
    assert reply["ok"], f"{sample}: {reply.get('errorType')}: {reply.get('errorMessage')}\n{stack}{process.output()}"
    return reply["result"]
