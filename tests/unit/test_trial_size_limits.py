"""A spec whose trials could not be stored or launched is refused at submit, naming the limit.

A trial is one DynamoDB item (configuration and reports) of at most 400 KB (DynamoDB's
"Items" constraint); a spec could be 200,000 bytes, so one choice of 199 KB plus a trial's
largest reports (207,253 bytes: ``benchmarks.aws_item_limits``) passed it, and collect then
failed mid-job on every report. A Batch trial's configuration goes into its SubmitJob request
twice (arguments and ``HYPERSTEP_HYPERPARAMETERS``), and Batch takes a job payload of at most
30 KiB ("Maximum job payload size (for SubmitJob API operations)", AWS Batch service quotas):
a longer choice failed every launch. The spec check is ``JobSpec``'s, so the CLI, the API and
``Study`` refuse alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperstep.backends.batch.adapter import build_request
from hyperstep.backends.batch.block import MAX_SUBMIT_BYTES
from hyperstep.errors import SpecError
from hyperstep.models import Job, Trial
from hyperstep.report_signing import new_report_key
from hyperstep.space import config_bytes, largest_config
from hyperstep.spec import MAX_CONFIG_BYTES, MAX_SPEC_BYTES, parse_spec
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.unit.test_order_free_results import BLOCKS

BATCH = {**BLOCKS["batch"], "metric_definitions": [{"name": "loss", "regex": r"^loss=(\S+)"}]}


def with_choice(choice: str, **overrides: Any) -> dict[str, Any]:
    parameters = [{"name": "arch", "type": "categorical", "choices": ["small", choice]}]
    return spec_document(parameters=parameters, **overrides)


def test_a_choice_that_would_not_leave_room_for_the_reports_is_refused_naming_the_limit() -> None:
    big = "\U0001f600" * 48_000  # 192,000 bytes: the spec (under MAX_SPEC_BYTES) took it before
    assert len(json.dumps(with_choice(big), ensure_ascii=False).encode()) < MAX_SPEC_BYTES
    with pytest.raises(SpecError) as refused:
        parse_spec(with_choice(big))
    message = str(refused.value)
    assert message.startswith("parameters: ")
    assert "'arch'" in message and f"{MAX_CONFIG_BYTES:,}" in message and "400 KB" in message
    with pytest.raises(ValueError, match="400 KB"):  # a Study validates the same spec
        Study([{"name": "arch", "type": "categorical", "choices": ["small", big]}], seed=1)


def test_choices_summed_over_parameters_count_and_one_within_the_limit_is_taken() -> None:
    halves = [{"name": f"p{i}", "type": "categorical", "choices": ["s", "x" * 80_000]} for i in range(2)]
    with pytest.raises(SpecError, match="160,0"):
        parse_spec(spec_document(parameters=halves))
    assert parse_spec(with_choice("x" * 140_000)).parameters[0].choices[1] == "x" * 140_000


def test_a_stored_job_past_the_limit_stays_readable() -> None:
    spec = parse_spec(with_choice("x" * 100))
    stored = spec.model_dump(mode="json")
    stored["parameters"][0]["choices"][1] = "x" * 180_000
    job = Job(id="tiny-3f2a9c1b7d4e", spec=spec, created_at=1.0).model_dump(mode="json")
    job["spec"] = stored
    assert Job.model_validate_json(json.dumps(job), context={"stored": True}).spec.parameters[0].choices[1]


def test_a_batch_choice_past_submit_jobs_payload_quota_is_refused() -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(with_choice("x" * 16_000, trial=BATCH))
    assert str(refused.value).startswith("parameters: ") and "30 KiB" in str(refused.value)
    assert parse_spec(with_choice("x" * 16_000)).trial.backend == "local"  # Batch's quota only


@pytest.mark.parametrize("char", ["x", "\u00e9", "\U0001f600"])
def test_the_largest_batch_request_a_spec_is_taken_with_fits_the_quota(char: str) -> None:
    """The check bounds the real request: the longest choice it takes (found by bisection),
    with a 40-character job name, a report key and an event bus ARN, sent as botocore sends
    it (JSON, non-ASCII escaped), is within 30 KiB."""
    low, high = 1, 30_000
    while low < high:
        mid = (low + high + 1) // 2
        try:
            parse_spec(with_choice(char * mid, trial=BATCH))
            low = mid
        except SpecError:
            high = mid - 1
    spec = parse_spec(with_choice(char * low, trial=BATCH, name="n" * 40))
    job = Job(id=f"{'n' * 40}-3f2a9c1b7d4e", spec=spec, created_at=1.0)
    trial = Trial(job_id=job.id, id="t10000", number=10_000, params={"arch": char * low}, report_key=new_report_key())
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/" + "b" * 200
    request = build_request(job, trial, "hs-" + "n" * 125, bus)
    assert len(json.dumps(request, separators=(",", ":"))) <= MAX_SUBMIT_BYTES
    assert low > 1_000  # the bound leaves a useful room


def test_the_configuration_limit_is_inclusive_at_its_byte() -> None:
    """A configuration of exactly MAX_CONFIG_BYTES is taken, one byte more is refused."""
    overhead = config_bytes({"arch": ""})
    fits = "x" * (MAX_CONFIG_BYTES - overhead)
    assert parse_spec(with_choice(fits)).parameters[0].choices[1] == fits
    with pytest.raises(SpecError, match=f"{MAX_CONFIG_BYTES + 1:,} bytes"):
        parse_spec(with_choice(fits + "x"))


def test_non_ascii_choices_count_their_utf8_bytes_as_stored() -> None:
    """DynamoDB counts a string's UTF-8 bytes: 30,000 emoji are 120,000 bytes (JSON's
    escaped form, 360,000 characters, is not what the item holds), so they are taken."""
    emoji = "\U0001f600" * 30_000
    assert parse_spec(with_choice(emoji)).parameters[0].choices[1] == emoji


def test_a_number_parameter_counts_as_long_as_any_value_it_can_take() -> None:
    """A float of range [-1e-5, 1] can be -1.2345678901234567e-05 (23 characters of JSON):
    largest_config must not count it shorter."""
    drawn = -1.2345678901234567e-05
    parameters = parse_spec(
        spec_document(parameters=[{"name": "lr", "type": "float", "low": -1e-5, "high": 1.0}])
    ).parameters
    assert config_bytes(largest_config(parameters)) >= config_bytes({"lr": drawn})


def test_a_stored_batch_job_past_the_payload_quota_stays_readable() -> None:
    """The SubmitJob check is a submit's: a job stored before it (or under another quota
    reading) must still read back, or every handler reading it fails."""
    spec = parse_spec(with_choice("x" * 100, trial=BATCH))
    job = Job(id="tiny-3f2a9c1b7d4e", spec=spec, created_at=1.0).model_dump(mode="json")
    job["spec"]["parameters"][0]["choices"][1] = "x" * 16_000
    back = Job.model_validate_json(json.dumps(job), context={"stored": True})
    assert back.spec.parameters[0].choices[1] == "x" * 16_000
