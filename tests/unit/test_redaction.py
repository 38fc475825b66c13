"""Redaction derives the secret fields from the spec's models: every field marked secret (and
every ``repr=False`` field is) is redacted in API answers, log lines, events and reprs, and a
field marked tomorrow is redacted without touching ``hyperstep.redaction``."""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field

from hyperstep.backends.registry import AWS_BACKENDS, BACKENDS
from hyperstep.messages import FinishRequest, SuggestRequest
from hyperstep.redaction import REDACTED, redacted, secret_fields, spec_fields
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec, parse_spec
from hyperstep.spec_base import SECRET
from tests.unit.test_api import sagemaker_spec
from tests.unit.test_api_owners import ADMIN, ALICE, Recorder, as_
from tests.unit.test_api_owners import logged as logged
from tests.unit.test_api_owners import published as published
from tests.unit.test_api_owners import service as service
from tests.unit.test_guardrails import batch

VALUE = "v4lue-that-must-never-show"


def test_every_field_left_out_of_the_repr_is_marked_secret_and_the_other_way_round() -> None:
    fields = list(spec_fields(JobSpec))
    hidden = {(model.__name__, name) for model, name, field in fields if field.repr is False}
    marked = {(model.__name__, name) for model, name in secret_fields(JobSpec)}
    assert marked == hidden
    assert marked >= {("SageMakerTrial", "environment"), ("BatchTrial", "environment"), ("LocalTrial", "env")}


def test_a_newly_marked_field_is_redacted_wherever_it_sits() -> None:
    class Credential(BaseModel):
        user: str
        password: str = Field(repr=False, json_schema_extra=SECRET)

    class Holder(BaseModel):
        credentials: list[Credential]
        by_name: dict[str, Credential]

    holder = Holder(
        credentials=[Credential(user="u", password=VALUE)], by_name={"a": Credential(user="v", password=VALUE)}
    )
    shown = redacted(holder)
    assert shown == {
        "credentials": [{"user": "u", "password": REDACTED}],
        "by_name": {"a": {"user": "v", "password": REDACTED}},
    }
    assert ("Credential", "password") in {(m.__name__, n) for m, n in secret_fields(Holder)}


def secret_value(annotation: Any) -> Any:
    """A value of a secret field's type that holds ``VALUE``."""
    origin = typing.get_origin(annotation)
    return {"SECRET_VARIABLE": VALUE} if origin is dict else VALUE


def block_spec(backend: str) -> dict[str, Any]:
    """A valid spec for each backend's block (the simulated one imports nothing when given as data)."""
    blocks: dict[str, dict[str, Any]] = {
        "sagemaker": sagemaker_spec()["trial"],
        "batch": batch()["trial"],
        "local": {
            "backend": "local",
            "command": ["python", "train.py"],
            "metric_definitions": sagemaker_spec()["trial"]["metric_definitions"],
        },
        "simulated": {"backend": "simulated", "objective": "curves:crossing"},
    }
    return {**sagemaker_spec(), "trial": blocks[backend]}


SECRET_FIELDS = sorted(
    (backend, name) for backend, descriptor in BACKENDS.items() for _, name in secret_fields(descriptor.block)
)


@pytest.mark.parametrize(("backend", "name"), SECRET_FIELDS)
def test_each_secret_field_of_each_block_is_redacted_and_out_of_the_repr(backend: str, name: str) -> None:
    document = block_spec(backend)
    annotation = BACKENDS[backend].block.model_fields[name].annotation
    document["trial"] = {**document["trial"], name: secret_value(annotation)}
    spec = parse_spec(document)
    assert VALUE in json.dumps(spec.model_dump(mode="json"))  # kept: the trial is launched with it
    assert VALUE not in json.dumps(redacted(spec)) and VALUE not in repr(spec) and VALUE not in str(spec)


@pytest.mark.parametrize(("backend", "name"), [f for f in SECRET_FIELDS if f[0] in AWS_BACKENDS])
def test_each_secret_field_stays_out_of_answers_log_lines_and_events(
    backend: str,
    name: str,
    service: TuningService,
    published: Recorder,
    logged: Callable[[], list[logging.LogRecord]],
) -> None:
    document = block_spec(backend)
    annotation = BACKENDS[backend].block.model_fields[name].annotation
    document["trial"] = {**document["trial"], name: secret_value(annotation)}
    status, accepted = as_(ALICE, "POST", "/jobs", document)
    assert status == 202, accepted
    job_id = accepted["job_id"]
    service.suggest(SuggestRequest(job_id=job_id))
    answers = [
        accepted,
        as_(ALICE, "GET", "/jobs")[1],
        as_(ADMIN, "GET", f"/jobs/{job_id}")[1],
        as_(ALICE, "GET", f"/jobs/{job_id}")[1],
        as_(ALICE, "GET", f"/jobs/{job_id}/trials")[1],
        as_(ALICE, "POST", f"/jobs/{job_id}/stop")[1],
    ]
    service.finish(FinishRequest(job_id=job_id))
    assert published.events
    lines = json.dumps([{**vars(r), "text": r.getMessage()} for r in logged()], default=str)
    assert "Calling API Route Handler" in lines  # the resolver's DEBUG line with the route's arguments
    for text in [*map(json.dumps, answers), json.dumps(published.events), lines]:
        assert VALUE not in text
