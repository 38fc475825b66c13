"""Secret references: ``{resolve: "ssm:/path"}`` / ``{resolve: "secretsmanager:name"}`` in a trial's
environment, checked against the deployment's prefix at submit, resolved at launch (moto's SSM
and Secrets Manager), never stored, answered, logged or published as values; locally resolved
from a variable or refused at validate."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws

from hyperstep.aws import AwsSecrets
from hyperstep.backends.batch.adapter import build_request as batch_request
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.backends.sagemaker.adapter import build_request as sagemaker_request
from hyperstep.cli import main
from hyperstep.errors import LaunchError
from hyperstep.guardrails import GuardrailError, Guardrails
from hyperstep.messages import LaunchRequest, SuggestRequest
from hyperstep.models import Job, Trial, TrialState
from hyperstep.secrets import SecretRef, VariableSecrets, local_variable, scrubbed
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.unit.test_api import Context, call, sagemaker_spec
from tests.unit.test_api import api as api_module
from tests.unit.test_api import service as service
from tests.unit.test_guardrails import batch
from tests.unit.test_service import FakeOrchestrator

REGION = "us-east-1"
PASSWORD = "s3cr3t-pa55word-from-ssm"
TOKEN = "t0ken-from-secrets-manager"
DB = {"resolve": "ssm:/hyperstep/db-password"}
API = {"resolve": "secretsmanager:hyperstep/api-token"}
REFERENCES = {"DB_PASSWORD": DB, "API_TOKEN": API, "MODE": "fast"}


def with_environment(document: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    return {**document, "trial": {**document["trial"], "environment": env}}


# --- the reference ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("ssm:/hyperstep/db-password", "hyperstep/db-password"),
        ("secretsmanager:hyperstep/api-token", "hyperstep/api-token"),
        (
            "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:hyperstep/x-AbCdEf",
            "hyperstep/x-AbCdEf",
        ),
    ],
)
def test_a_reference_names_what_the_prefix_is_checked_against(reference: str, name: str) -> None:
    ref = SecretRef(resolve=reference)
    assert ref.name == name
    assert ref.within("hyperstep/") and not ref.within("hyperstep-other/") and not ref.within("")


@pytest.mark.parametrize(
    "value",
    [
        {"resolve": "ssm:hyperstep/no-leading-slash"},
        {"resolve": "ssm:/hyperstep/db:3"},  # version selectors are not taken
        {"resolve": "vault:/hyperstep/db"},
        {"resolve": "ssm:/hyperstep/db", "default": "x"},
        {"resolve": ""},
    ],
)
def test_a_malformed_reference_is_no_valid_spec(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="environment"):
        parse_spec(with_environment(sagemaker_spec(), {"DB_PASSWORD": value}))


def test_a_spec_keeps_references_as_references() -> None:
    spec = parse_spec(with_environment(sagemaker_spec(), REFERENCES))
    assert spec.trial.environment["DB_PASSWORD"] == SecretRef(resolve="ssm:/hyperstep/db-password")
    assert spec.model_dump(mode="json")["trial"]["environment"] == REFERENCES


# --- at submit: the deployment's prefix -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["sagemaker", "batch"])
def test_a_reference_outside_the_prefix_is_refused_naming_the_field(backend: str) -> None:
    document = sagemaker_spec() if backend == "sagemaker" else batch()
    outside = parse_spec(with_environment(document, {**REFERENCES, "OTHER": {"resolve": "ssm:/prod/db"}}))
    with pytest.raises(GuardrailError, match=r"^trial\.environment\.OTHER: 'ssm:/prod/db' is outside .*'hyperstep/'"):
        Guardrails(secrets_prefix="hyperstep/").check(outside)
    with pytest.raises(GuardrailError, match=r"^trial\.environment\.DB_PASSWORD: .* \(allowed: none\)$"):
        Guardrails(secrets_prefix="").check(parse_spec(with_environment(document, REFERENCES)))
    Guardrails(secrets_prefix="hyperstep/").check(parse_spec(with_environment(document, REFERENCES)))
    Guardrails(secrets_prefix="").check(parse_spec(with_environment(document, {"MODE": "fast"})))


OWN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
"""The deployment's ``HYPERSTEP_SECRETS_ARN``: Suggest may read secrets in this account and region only."""


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:secretsmanager:us-east-1:210987654321:secret:hyperstep/api-token",  # another account
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hyperstep/api-token",  # another region
        "arn:aws-cn:secretsmanager:us-east-1:123456789012:secret:hyperstep/api-token",  # another partition
    ],
)
def test_a_secret_arn_outside_the_deployments_account_and_region_is_refused_at_submit_and_launch(
    arn: str, aws: Callable[[str], Any]
) -> None:
    """Its name is under the prefix, yet Suggest's role may read only its own account's and
    region's secrets: without the ARN's check the job was accepted and each trial failed at
    launch (AccessDeniedException)."""
    document = with_environment(sagemaker_spec(), {"API_TOKEN": {"resolve": f"secretsmanager:{arn}"}})
    guardrails = Guardrails(secrets_prefix="hyperstep/", secrets_arn=OWN)
    with pytest.raises(GuardrailError, match=rf"^trial\.environment\.API_TOKEN: .*ARNs under '{OWN}hyperstep/'"):
        guardrails.check(parse_spec(document))
    asked: list[str] = []
    with pytest.raises(LaunchError, match="is outside this deployment's prefix"):
        AwsSecrets(lambda name: asked.append(name) or aws(name), "hyperstep/", OWN).resolve(
            SecretRef(resolve=f"secretsmanager:{arn}")
        )
    assert asked == []
    own = with_environment(sagemaker_spec(), {"API_TOKEN": {"resolve": f"secretsmanager:{OWN}hyperstep/api-token"}})
    guardrails.check(parse_spec(own))
    assert Guardrails.from_env({"HYPERSTEP_SECRETS_PREFIX": "hyperstep/", "HYPERSTEP_SECRETS_ARN": OWN}) == guardrails


def test_references_by_name_pass_the_deployments_secret_arn(aws: Callable[[str], Any]) -> None:
    """``HYPERSTEP_SECRETS_ARN`` holds a secret named by its ARN only: an SSM parameter's name
    and a secret's name under the prefix are still taken at submit and resolved at launch
    (the template sets the variable on every function that checks references)."""
    Guardrails(secrets_prefix="hyperstep/", secrets_arn=OWN).check(
        parse_spec(with_environment(sagemaker_spec(), REFERENCES))
    )
    secrets = AwsSecrets(aws, "hyperstep/", OWN)
    assert (secrets.resolve(SecretRef(**DB)), secrets.resolve(SecretRef(**API))) == (PASSWORD, TOKEN)


def test_the_aws_wiring_gives_launch_the_deployments_secret_arn(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template sets ``HYPERSTEP_SECRETS_ARN`` on Suggest (test_template); the service the
    Lambdas build from their environment must hand it to the resolver Launch uses, or another
    account's ARN under the prefix is asked for (AccessDeniedException, the trial failed)."""
    import hyperstep.aws
    from hyperstep.wiring import build_aws_service

    built: list[AwsSecrets] = []

    class Recorded(AwsSecrets):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(hyperstep.aws, "AwsSecrets", Recorded)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    env = {"HYPERSTEP_TABLE": "hyperstep", "HYPERSTEP_SECRETS_PREFIX": "hyperstep/", "HYPERSTEP_SECRETS_ARN": OWN}
    build_aws_service(env)
    other = "arn:aws:secretsmanager:us-east-1:210987654321:secret:hyperstep/api-token"
    [secrets] = built
    with pytest.raises(LaunchError, match="is outside this deployment's prefix"):
        secrets.resolve(SecretRef(resolve=f"secretsmanager:{other}"))


def test_the_api_refuses_a_reference_outside_the_prefix_and_shows_one_inside_as_it_is(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_module, "guardrails", Guardrails(secrets_prefix="hyperstep/"))
    outside = with_environment(sagemaker_spec(), {"DB_PASSWORD": {"resolve": "secretsmanager:prod/db"}})
    status, problem = call("POST", "/jobs", outside)
    assert (status, problem["field"]) == (422, "trial.environment.DB_PASSWORD"), problem
    assert service.store.list_jobs() == []
    status, accepted = call("POST", "/jobs", with_environment(sagemaker_spec(), REFERENCES))
    assert status == 202, accepted
    detail = call("GET", f"/jobs/{accepted['job_id']}")[1]
    assert detail["spec"]["trial"]["environment"] == {"DB_PASSWORD": DB, "API_TOKEN": API, "MODE": "***"}


# --- at launch: resolved from SSM and Secrets Manager ---------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """moto with the parameter (a SecureString) and the secret the references name."""
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(variable, value)
    with mock_aws():

        def client(name: str) -> Any:
            return boto3.client(name, region_name=REGION)

        client("ssm").put_parameter(Name="/hyperstep/db-password", Value=PASSWORD, Type="SecureString")
        client("ssm").put_parameter(Name="/prod/db-password", Value="prod-" + PASSWORD, Type="SecureString")
        client("secretsmanager").create_secret(Name="hyperstep/api-token", SecretString=TOKEN)
        client("secretsmanager").create_secret(Name="hyperstep/binary", SecretBinary=b"\x00\x01")
        yield client


def test_references_resolve_from_ssm_decrypted_and_from_secrets_manager(aws: Callable[[str], Any]) -> None:
    secrets = AwsSecrets(aws, "hyperstep/")
    assert secrets.resolve(SecretRef(**DB)) == PASSWORD
    assert secrets.resolve(SecretRef(**API)) == TOKEN
    arn = aws("secretsmanager").describe_secret(SecretId="hyperstep/api-token")["ARN"]
    assert secrets.resolve(SecretRef(resolve=f"secretsmanager:{arn}")) == TOKEN
    assert AwsSecrets(aws, "hyperstep/", OWN).resolve(SecretRef(resolve=f"secretsmanager:{arn}")) == TOKEN


def test_a_reference_outside_the_prefix_is_never_resolved(aws: Callable[[str], Any]) -> None:
    asked: list[str] = []
    secrets = AwsSecrets(lambda name: asked.append(name) or aws(name), "hyperstep/")
    with pytest.raises(LaunchError, match=r"'ssm:/prod/db-password' is outside this deployment's prefix"):
        secrets.resolve(SecretRef(resolve="ssm:/prod/db-password"))
    with pytest.raises(LaunchError, match="allows no secret references"):
        AwsSecrets(lambda name: asked.append(name) or aws(name), "").resolve(SecretRef(**DB))
    assert asked == []  # no client was even made


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("ssm:/hyperstep/missing", "ParameterNotFound"),
        ("secretsmanager:hyperstep/missing", "ResourceNotFoundException"),
        ("secretsmanager:hyperstep/binary", "binary data"),
    ],
)
def test_a_reference_that_cannot_be_read_fails_the_launch_saying_which(
    aws: Callable[[str], Any], reference: str, reason: str
) -> None:
    with pytest.raises(LaunchError, match=reason) as raised:
        AwsSecrets(aws, "hyperstep/").resolve(SecretRef(resolve=reference))
    assert reference in str(raised.value)


def test_the_errors_taken_as_final_are_the_apis_own() -> None:
    """Each code ``AwsSecrets.FINAL`` fails a launch on is one GetParameter or GetSecretValue
    answers: in its service model (botocore's), or documented beside it (Common Errors'
    ``AccessDeniedException``; GetParameter's page: "fails with a ValidationException
    error"); and each client error of either model is final (not the 500s; not
    ``ParameterVersionNotFound``, as no reference names a version). Before, ``AccessDenied``
    (S3's code) was listed, which neither API answers."""
    session = botocore.session.get_session()
    modelled = {
        shape.name
        for service, operation in (("ssm", "GetParameter"), ("secretsmanager", "GetSecretValue"))
        for shape in session.get_service_model(service).operation_model(operation).error_shapes
    }
    documented = {"AccessDeniedException", "ValidationException"}
    assert AwsSecrets.FINAL - modelled <= documented
    transient = {"InternalServerError", "InternalServiceError", "ParameterVersionNotFound"}
    assert transient <= modelled and modelled - transient <= AwsSecrets.FINAL


class Answering:
    """A GetParameter client that answers every call with the error ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def get_parameter(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, "GetParameter")


@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException", "InvalidKeyId"])
def test_a_reference_refused_for_good_fails_the_launch(code: str) -> None:
    with pytest.raises(LaunchError, match=code):
        AwsSecrets(lambda _: Answering(code), "hyperstep/").resolve(SecretRef(**DB))


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError", "AccessDenied"])
def test_a_reference_refused_for_now_or_by_an_unknown_code_propagates_for_a_retry(code: str) -> None:
    with pytest.raises(ClientError, match=code):
        AwsSecrets(lambda _: Answering(code), "hyperstep/").resolve(SecretRef(**DB))


def launched_job(spec: dict[str, Any]) -> tuple[TuningService, Job, str]:
    store = SQLiteStore()
    job = Job(id="j-1", spec=parse_spec(spec), created_at=0.0)
    store.create_job(job)
    service = TuningService(store, {}, FakeOrchestrator())
    (trial_id,) = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
    return service, job, trial_id


def trial_view(job: Job, trial_id: str) -> Trial:
    return Trial(job_id=job.id, id=trial_id, number=1, params={"lr": 0.1})


def one_trial(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "budget": {"max_trials": 1, "max_parallel": 1}}


def test_a_sagemaker_trial_starts_with_the_values_and_the_store_keeps_only_references(
    aws: Callable[[str], Any],
) -> None:
    service, job, trial_id = launched_job(one_trial(with_environment(sagemaker_spec(), REFERENCES)))
    sagemaker, sent = aws("sagemaker"), []  # moto's DescribeTrainingJob leaves Environment out: record the request
    sagemaker.meta.events.register(
        "before-parameter-build.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(params)
    )
    service.backends = {"sagemaker": SageMakerBackend(sagemaker, secrets=AwsSecrets(aws, "hyperstep/"))}
    assert service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))["state"] == "running"
    trial = service.store.get_trial(job.id, trial_id)
    (request,) = sent
    environment = request["Environment"]
    assert {k: environment[k] for k in REFERENCES} == {"DB_PASSWORD": PASSWORD, "API_TOKEN": TOKEN, "MODE": "fast"}
    stored = json.dumps([service.store.get_job(job.id).model_dump(mode="json"), trial.model_dump(mode="json")])
    assert PASSWORD not in stored and TOKEN not in stored and "ssm:/hyperstep/db-password" in stored


def test_a_batch_trial_gets_the_values_as_environment_overrides(aws: Callable[[str], Any]) -> None:
    _, job, trial_id = launched_job(one_trial(with_environment(batch(), REFERENCES)))
    request = batch_request(job, trial_view(job, trial_id), "hs-j-1-t0001-1", secrets=AwsSecrets(aws, "hyperstep/"))
    env = {e["name"]: e["value"] for e in request["containerOverrides"]["environment"]}
    assert (env["DB_PASSWORD"], env["API_TOKEN"], env["MODE"]) == (PASSWORD, TOKEN, "fast")


def test_a_trial_whose_reference_is_refused_at_launch_fails_saying_why_without_the_value(
    aws: Callable[[str], Any],
) -> None:
    """A spec stored before the prefix narrowed: Launch refuses the reference, the trial fails."""
    env = {"DB_PASSWORD": {"resolve": "ssm:/prod/db-password"}}
    service, job, trial_id = launched_job(one_trial(with_environment(sagemaker_spec(), env)))
    service.backends = {"sagemaker": SageMakerBackend(aws("sagemaker"), secrets=AwsSecrets(aws, "hyperstep/"))}
    assert service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))["state"] == "failed"
    trial = service.store.get_trial(job.id, trial_id)
    assert trial.state is TrialState.FAILED and "outside this deployment's prefix" in (trial.error or "")
    assert aws("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_a_resolved_value_too_long_for_sagemaker_fails_the_launch_naming_the_variable(
    aws: Callable[[str], Any],
) -> None:
    aws("ssm").put_parameter(Name="/hyperstep/long", Value="x" * 600, Type="SecureString")
    _, job, trial_id = launched_job(
        one_trial(with_environment(sagemaker_spec(), {"K": {"resolve": "ssm:/hyperstep/long"}}))
    )
    with pytest.raises(
        LaunchError, match=r"^trial\.environment\.K: the secret's value is over SageMaker's 512"
    ) as raised:
        sagemaker_request(job, trial_view(job, trial_id), "hs-j-1-t0001-1", secrets=AwsSecrets(aws, "hyperstep/"))
    assert "xxxx" not in str(raised.value)


def test_a_platform_message_echoing_a_value_is_scrubbed() -> None:
    message = f"Value '{PASSWORD}' at 'environment' failed to satisfy constraint"
    assert (
        scrubbed(message, {"DB_PASSWORD": PASSWORD, "MODE": "on"})
        == "Value '***' at 'environment' failed to satisfy constraint"
    )


def test_a_refusal_echoing_a_resolved_value_fails_the_trial_without_it(aws: Callable[[str], Any]) -> None:
    """SageMaker's validation messages quote the values they refuse: the trial's error keeps
    the message, with every value of the spec's environment (resolved or plain) hidden."""

    class Refusing:
        meta = type("Meta", (), {"region_name": REGION})()

        def create_training_job(self, **request: Any) -> None:
            value, name = request["Environment"]["DB_PASSWORD"], request["TrainingJobName"]
            quoted = f"Value '{value}' at 'environment' failed; name {name}"
            raise ClientError({"Error": {"Code": "ValidationException", "Message": quoted}}, "CreateTrainingJob")

    service, job, trial_id = launched_job(one_trial(with_environment(sagemaker_spec(), REFERENCES)))
    service.backends = {"sagemaker": SageMakerBackend(Refusing(), secrets=AwsSecrets(aws, "hyperstep/"))}
    assert service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))["state"] == "failed"
    error = service.store.get_trial(job.id, trial_id).error or ""
    assert PASSWORD not in error and "Value '***' at 'environment'" in error and f"hs-{job.id}-{trial_id}-1" in error


def test_without_a_resolver_a_reference_fails_the_launch() -> None:
    _, job, trial_id = launched_job(one_trial(with_environment(sagemaker_spec(), REFERENCES)))
    with pytest.raises(LaunchError, match="no secret resolver is configured"):
        sagemaker_request(job, trial_view(job, trial_id), "hs-j-1-t0001-1")


def test_the_suggest_function_launching_logs_no_resolved_value(
    aws: Callable[[str], Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # botocore's DEBUG log prints whole response bodies (GetParameter's value with them): Lambda
    # runs it at the root's level, never DEBUG unless someone turns it on (README says not to).
    caplog.set_level(logging.INFO, logger="botocore")
    service, job, trial_id = launched_job(one_trial(with_environment(sagemaker_spec(), REFERENCES)))
    service.backends = {"sagemaker": SageMakerBackend(aws("sagemaker"), secrets=AwsSecrets(aws, "hyperstep/"))}
    from hyperstep_functions.suggest import app as suggest

    monkeypatch.setattr(suggest, "service", lambda: service)
    answer = suggest.lambda_handler({"job_id": job.id}, Context(function_name="hyperstep-suggest"))
    assert answer["trial_ids"] == [trial_id]
    assert service.store.get_trial(job.id, trial_id).state is TrialState.RUNNING
    text = json.dumps([{**vars(r), "text": r.getMessage()} for r in caplog.records], default=str) + json.dumps(answer)
    assert PASSWORD not in text and TOKEN not in text


# --- locally: a variable, or an error at validate -------------------------------------------------


def test_a_local_reference_resolves_from_its_variable() -> None:
    reference = SecretRef(resolve="ssm:/hyperstep/db-password")
    assert local_variable(reference) == "HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD"
    assert VariableSecrets({"HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD": "v"}).resolve(reference) == "v"
    with pytest.raises(LaunchError, match="set HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD"):
        VariableSecrets({}).resolve(reference)


def local_spec(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text("import os\nprint('loss=' + str(len(os.environ['DB_PASSWORD'])))\n")
    spec = {
        "name": "local-secret",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [{"name": "lr", "type": "float", "low": 0.01, "high": 0.1}],
        "budget": {"max_trials": 1, "max_parallel": 1},
        "trial": {
            "backend": "local",
            "command": ["python", "train.py"],
            "env": {"DB_PASSWORD": DB},
            "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
        },
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_local_reference_without_its_variable_is_an_error_at_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = local_spec(tmp_path)
    monkeypatch.delenv("HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD", raising=False)
    assert main(["validate", str(path)]) != 0
    assert "trial.env.DB_PASSWORD: 'ssm:/hyperstep/db-password' cannot be resolved here" in capsys.readouterr().err
    monkeypatch.setenv("HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD", PASSWORD)
    assert main(["validate", str(path)]) == 0


def test_x_ray_records_no_parameter_of_the_calls_that_carry_secret_values() -> None:
    """The Tracer patches botocore; the X-Ray SDK records request and response parameters
    only for the services its whitelist names: none of those Launch sends or reads values with."""
    from importlib.resources import files

    whitelist = json.loads((files("aws_xray_sdk.ext") / "resources" / "aws_para_whitelist.json").read_text())
    assert not {"ssm", "secretsmanager", "sagemaker", "batch"} & set(whitelist["services"])
