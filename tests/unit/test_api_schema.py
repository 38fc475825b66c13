"""The API and its published schema (``openapi.json``) agree on the request bodies: each
scalar of a valid body, given as a value of another JSON type, is refused by the API (422
naming it, nothing written) exactly when the schema refuses it.

pydantic's lax mode took ``"10"`` for ``max_trials``, ``"yes"`` and ``1`` for a boolean: bodies
the schema refuses were accepted. ``PATCH /jobs/{id}`` published ``null`` for each field, which
the API refuses (a limit cannot be removed).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from pydantic import TypeAdapter, ValidationError

from hyperstep.backends.naming import TagValue
from hyperstep.backends.tag_text import NON_ASCII_LETTERS_AND_NUMBERS, TAG_PATTERN
from hyperstep.models import Job
from hyperstep.service import TuningService
from hyperstep.spec_base import MAX_JSON_INT, STORED
from tests.unit.test_api import OPENAPI, proxy_event, sagemaker_spec
from tests.unit.test_api_owners import ALICE, as_, published, raw, service, submit  # noqa: F401  (fixtures)
from tests.unit.test_guardrails import batch

DOCUMENT = json.loads(OPENAPI.read_text())
LOSS = [{"name": "loss", "regex": "loss=([0-9.]+)"}, {"name": "latency", "regex": "latency=([0-9.]+)"}]
RICH_SPEC = sagemaker_spec(
    parameters=[
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
        {"name": "layers", "type": "int", "low": 1, "high": 8},
        {"name": "act", "type": "categorical", "choices": ["relu", 1, 2.5, True]},
    ],
    constraints=[{"metric": "latency", "max": 50.0}],
    budget={"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": 3600, "target": 0.01},
    early_stopping={"name": "asha", "max_resource": 9, "model_based": True},
    trial={
        **sagemaker_spec()["trial"],
        "metric_definitions": LOSS,
        "instance_count": 1,
        "use_spot": True,
        "max_wait_seconds": 7200,
        "input_channels": {"train": "s3://bucket/train", "val": {"s3_uri": "s3://bucket/val"}},  # a URI: the shorthand
        "tags": {"team": "ml"},
        "environment": {"MODE": "fast"},
    },
)
"""A valid spec with a value of each JSON scalar type at most levels of the schema."""
UPDATE = {"max_parallel": 2, "max_trials": 5, "max_runtime_seconds": 3600, "max_cost_usd": 10.5}


def schema_errors(component: str, body: Any) -> list[str]:
    """What the published schema refuses in ``body`` as the request body of ``component``."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": DOCUMENT["components"]}
    return [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(body)]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Each scalar of a JSON value with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def other_types(value: Any) -> list[Any]:
    """``value`` written as JSON values of other types: a number as a string, a boolean as a
    string and a number, a string as a number and a boolean; and null."""
    if isinstance(value, bool):
        return [str(value).lower(), int(value), None]
    if isinstance(value, int | float):
        return [str(value), None]
    return [7, True, None]


def mutations(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``body`` with one scalar given as another type, and that scalar's dotted path."""
    for path, value in leaves(body):
        for other in other_types(value):
            mutated = copy.deepcopy(body)
            target = mutated
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = other
            yield ".".join(map(str, path)), mutated


def test_both_bodies_match_the_schema_and_are_accepted(service: TuningService) -> None:  # noqa: F811
    assert schema_errors("JobSpec", RICH_SPEC) == []
    assert schema_errors("BudgetUpdate", UPDATE) == []
    status, answer = as_(ALICE, "POST", "/jobs", RICH_SPEC)
    assert status == 202, answer
    assert as_(ALICE, "PATCH", f"/jobs/{answer['job_id']}", UPDATE)[0] == 200


def test_a_spec_scalar_of_another_type_is_refused_exactly_when_the_schema_refuses_it(
    service: TuningService,  # noqa: F811
) -> None:
    disagreements = []
    for path, body in mutations(RICH_SPEC):
        stored = len(service.store.list_jobs())
        status, answer = as_(ALICE, "POST", "/jobs", body)
        if status >= 400 and len(service.store.list_jobs()) != stored:
            disagreements.append(f"{path} = {lookup(body, path)!r}: refused ({status}) but a job was stored")
        refused = schema_errors("JobSpec", body)
        parent = path.rsplit(".", 1)[0]  # a choice made another's twin: both name the list (uniqueItems)
        named = {path, parent} if parent.endswith(".choices") else {path}
        if refused and not (status == 422 and answer.get("field") in named) and not tag_named(path, status, answer):
            disagreements.append(f"{path} = {lookup(body, path)!r}: schema refuses ({refused[0]}), API {answer}")
        if not refused and status == 422 and "type" in answer["reason"].lower():
            disagreements.append(f"{path} = {lookup(body, path)!r}: schema accepts, API {answer}")
    assert disagreements == []


def tag_named(path: str, status: int, answer: dict[str, Any]) -> bool:
    """A union's tag (``parameters.0.type``, ``trial.backend``) of another type is named as the
    tag with the values it takes, or its block is."""
    return status == 422 and path.rsplit(".", 1)[-1] in ("type", "backend") and path.startswith(answer["field"])


def lookup(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def test_a_budget_update_field_of_another_type_or_null_is_refused_as_the_schema_says(
    service: TuningService,  # noqa: F811
) -> None:
    job_id = submit(ALICE)
    for path, body in mutations(UPDATE):
        assert schema_errors("BudgetUpdate", body), (path, body)  # null is no limit: refused as published
        status, answer = as_(ALICE, "PATCH", f"/jobs/{job_id}", body)
        assert (status, answer["field"]) == (422, path), (path, body, answer)
    assert service.store.get_job(job_id).spec.budget.max_parallel == 2  # as submitted: nothing changed


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"tags": {"bad|key": "x"}}, "trial.tags.bad|key"),
        ({"environment": {"1BAD": "x"}}, "trial.environment.1BAD"),
        ({"input_channels": {"bad/name": "s3://bucket/x"}}, "trial.input_channels.bad/name"),
        ({"input_channels": {"train": "/local/path"}}, "trial.input_channels.train.s3_uri"),
    ],
)
def test_a_mapping_key_or_shorthand_the_api_refuses_the_schema_refuses(
    service: TuningService,  # noqa: F811
    block: dict[str, Any],
    field: str,
) -> None:
    """``patternProperties`` alone let any other key through the published schema, and the
    schema had no place for a channel given as its S3 URI, which the API takes. A key at
    fault is named as the field (pydantic adds ``.[key]`` to it)."""
    body = sagemaker_spec(trial={**sagemaker_spec()["trial"], **block})
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status, answer["field"]) == (422, field), answer
    assert answer["reason"].startswith("the key itself: ") or field.endswith("s3_uri"), answer
    assert schema_errors("JobSpec", body)


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        ({"max_trials": "10"}, "should be an integer, not a string ('10')"),
        ({"max_trials": 4, "max_runtime_seconds": "3600"}, "should be a number, not a string ('3600')"),
        ({"max_trials": 4, "stop_on_convergence": "true"}, "should be true or false, not a string ('true')"),
    ],
)
def test_a_number_sent_as_a_string_is_a_422_naming_it_and_writes_nothing(
    service: TuningService,  # noqa: F811
    budget: dict[str, Any],
    reason: str,
) -> None:
    status, answer = as_(ALICE, "POST", "/jobs", sagemaker_spec(budget=budget))
    field = next(name for name, value in budget.items() if isinstance(value, str))
    assert (status, answer["field"]) == (422, f"budget.{field}") and reason in answer["reason"], answer
    assert service.store.list_jobs() == []
    assert as_(ALICE, "POST", "/jobs", sagemaker_spec(budget={"max_trials": 4.0}))[0] == 202  # an integer in JSON


EVERY_INTEGER = {
    "strategy.seed": RICH_SPEC,
    "budget.max_trials": RICH_SPEC,
    "budget.max_parallel": RICH_SPEC,
    "budget.max_failed_trials": sagemaker_spec(budget={"max_trials": 4, "max_failed_trials": 2}),
    "budget.max_failed_before_success": sagemaker_spec(budget={"max_trials": 4, "max_failed_before_success": 2}),
    "budget.no_improvement_trials": sagemaker_spec(budget={"max_trials": 4, "no_improvement_trials": 2}),
    "early_stopping.min_resource": sagemaker_spec(
        early_stopping={"name": "asha", "min_resource": 1, "max_resource": 9}
    ),
    "early_stopping.max_resource": RICH_SPEC,
    "parameters.1.high": RICH_SPEC,
    "trial.instance_count": RICH_SPEC,
    "trial.volume_size_gb": sagemaker_spec(trial={**sagemaker_spec()["trial"], "volume_size_gb": 30}),
    "trial.max_wait_seconds": RICH_SPEC,
    "trial.memory_mib": batch(memory_mib=2048),
    "trial.gpus": batch(gpus=1),
}
"""A valid body holding each integer field a client sends in a spec."""


@pytest.mark.parametrize("path", EVERY_INTEGER)
def test_an_integer_past_what_a_json_client_reads_back_is_a_422_naming_it_and_published(
    service: TuningService,  # noqa: F811
    path: str,
) -> None:
    """``volume_size_gb: 10**30`` was stored (202): past 2**53 - 1, JavaScript and jq read it
    back rounded. Every integer field is bounded (AWS documents no limit for any of these:
    botocore's models give only minimums), refused past it and the bound published."""
    body = copy.deepcopy(EVERY_INTEGER[path])
    assert isinstance(lookup(body, path), int) and as_(ALICE, "POST", "/jobs", body)[0] == 202
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = 2**53 + 1  # the first integer a double cannot hold
    jobs = len(service.store.list_jobs())
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status, answer["field"]) == (422, path), answer
    assert len(service.store.list_jobs()) == jobs
    assert schema_errors("JobSpec", body), path


def test_a_job_stored_with_a_larger_integer_stays_readable() -> None:
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED

    body = copy.deepcopy(EVERY_INTEGER["trial.volume_size_gb"])
    body["trial"]["volume_size_gb"] = 10**30
    assert JobSpec.model_validate(body, context=STORED).trial.volume_size_gb == 10**30  # type: ignore[union-attr]


def integer_query_parameters() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each integer query parameter of a GET route: its path, name and published schema."""
    for path, operations in DOCUMENT["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                yield path, parameter["name"], parameter["schema"]


def test_the_offset_of_a_trials_page_is_one_of_the_integer_parameters() -> None:
    names = {(path, name) for path, name, _ in integer_query_parameters()}
    assert ("/jobs/{job_id}/trials", "offset") in names and ("/jobs", "limit") in names


@pytest.mark.parametrize(("path", "name", "schema"), list(integer_query_parameters()))
def test_an_integer_query_parameter_publishes_its_maximum_and_is_refused_past_it(
    service: TuningService,  # noqa: F811
    path: str,
    name: str,
    schema: dict[str, Any],
) -> None:
    """``offset`` had no published maximum: a client could not read its bound from the schema.
    Each integer parameter is bounded; its maximum is answered, one past it is a 422 naming it."""
    assert "maximum" in schema, (path, name, schema)
    url = path.replace("{job_id}", submit(ALICE))
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    assert raw(proxy_event("GET", url, identity, query={name: str(int(schema["maximum"]))}))[0] == 200
    status, answer = raw(proxy_event("GET", url, identity, query={name: str(int(schema["maximum"]) + 1)}))
    assert (status, answer["field"]) == (422, name), answer


@pytest.mark.parametrize(
    ("choice", "accepted"),
    [
        (MAX_JSON_INT, True),
        (-MAX_JSON_INT, True),
        (1e15, True),
        (2.5, True),
        (MAX_JSON_INT + 1, False),
        (-(10**30), False),
        (1e300, False),
        (-1e300, False),
    ],
)
def test_a_number_choice_is_refused_by_the_api_exactly_when_the_schema_refuses_it(
    service: TuningService,  # noqa: F811
    choice: float,
    accepted: bool,
) -> None:
    """The schema's ``number`` option of a choice took ``10**30`` (an integer the API refuses:
    "quote it as text"). JSON has one number type, so the schema cannot tell ``1e300`` from
    ``10**300``: both sides refuse a number past 2**53 - 1 either side of 0, however written."""
    body = sagemaker_spec(parameters=[{"name": "act", "type": "categorical", "choices": ["relu", choice]}])
    assert (schema_errors("JobSpec", body) == []) is accepted
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status == 202) is accepted, answer
    if not accepted:
        assert answer["field"] == "parameters.0.choices.1" and "quote it as text" in answer["reason"], answer


def published_patterns(value: Any = DOCUMENT) -> Iterator[str]:
    """Every regular expression of the published document: ``pattern`` values and the keys of
    ``patternProperties``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "pattern" and isinstance(item, str):
                yield item
            if key == "patternProperties":
                yield from item
            yield from published_patterns(item)
    elif isinstance(value, list):
        for item in value:
            yield from published_patterns(item)


READ_APART = set("wWdDsSbBpP")
"""Escapes Python's ``re`` and ECMA-262 read differently on non-ASCII text (``\\w``, ``\\d``,
``\\s``, ``\\b`` and their negations: Unicode in one, ASCII or another set in the other) or one
of them does not read (``\\p``, ``\\P``: Python's ``re``, and ECMA-262 outside Unicode mode)."""


def escapes(pattern: str) -> set[str]:
    """The characters escaped by a backslash in ``pattern``."""
    found, index = set(), 0
    while index < len(pattern):
        if pattern[index] == "\\":
            found.add(pattern[index + 1 : index + 2])
            index += 1
        index += 1
    return found


def test_no_published_pattern_uses_a_class_python_and_ecma_262_read_differently() -> None:
    """Tag keys and values were published as ``^[\\w .:/=+\\-@]*$``: a JavaScript client refused
    ``équipe`` (ECMA-262's ``\\w`` is ``[A-Za-z0-9_]``), which the API took."""
    patterns = set(published_patterns())
    assert len(patterns) > 10
    assert {
        pattern: sorted(escapes(pattern) & READ_APART) for pattern in patterns if escapes(pattern) & READ_APART
    } == {}


TAG_CASES = [
    ("équipe", "données", True),
    ("x²", "①", True),  # numbers (AWS's \p{N}) that ECMA-262's \w and Rust's \w leave out
    ("Ωμέγα", "日本語", True),
    ("e\u0301quipe", "x", False),  # a combining mark (NFD): AWS's pattern refuses it, Rust's \w took it
    ("team", "a\u203fb", False),  # connector punctuation: the same
    ("a|b", "x", False),
    ("a_b.c:d/e=f+g-h@i j", "_ .:/=+-@", True),  # every ASCII sign AWS's pattern takes
    ("a\u00a0b", "x", False),  # a space other than U+0020 (AWS's \p{Z} takes it): not listed
    ("team", "\U0001d400", False),  # a letter outside the Basic Multilingual Plane: not listed
]


@pytest.mark.parametrize(("key", "value", "accepted"), TAG_CASES)
def test_a_tag_the_schema_accepts_the_api_accepts_and_one_it_refuses_the_api_refuses(
    service: TuningService,  # noqa: F811
    key: str,
    value: str,
    accepted: bool,
) -> None:
    body = sagemaker_spec(trial={**sagemaker_spec()["trial"], "tags": {key: value}})
    assert (schema_errors("JobSpec", body) == []) is accepted
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status == 202) is accepted, answer
    if not accepted:
        assert answer["field"].startswith("trial.tags."), answer


@pytest.mark.parametrize("key", ["\U00020000", "\u3000"])  # a CJK letter past the plane; a space AWS's \p{Z} takes
def test_a_tag_letter_or_space_aws_takes_but_hyperstep_does_not_is_refused_in_words_that_say_so(
    service: TuningService,  # noqa: F811
    key: str,
) -> None:
    """The refusal said "letters, numbers, spaces ... only (the characters SageMaker and Batch
    tags take)" of a letter and a space both take: it names the subset hyperstep lists."""
    status, answer = as_(ALICE, "POST", "/jobs", sagemaker_with(tags={key: "x"}))
    assert status == 422 and answer["field"].startswith("trial.tags."), answer
    assert "Basic Multilingual Plane" in answer["reason"] and "the ASCII space" in answer["reason"], answer


def test_a_job_stored_with_a_tag_the_pattern_now_refuses_still_lists_and_shows(
    service: TuningService,  # noqa: F811
) -> None:
    old = {"e\u0301quipe": "a\u203fb"}  # taken by the API's \w before
    stored = json.loads(service.store.get_job(submit(ALICE)).model_dump_json())
    stored["spec"]["trial"]["tags"] = old
    service.store.create_job(Job.model_validate({**stored, "id": "stored-before"}, context=STORED))
    assert "stored-before" in [job["job_id"] for job in as_(ALICE, "GET", "/jobs")[1]["jobs"]]
    status, shown = as_(ALICE, "GET", "/jobs/stored-before")
    assert status == 200 and shown["spec"]["trial"]["tags"] == old, shown


def test_node_reads_the_tag_pattern_as_python_and_the_api_do_on_every_bmp_character() -> None:
    """The published tag pattern read by ECMA-262 itself (Node's RegExp, without and with the
    ``u`` flag) against Python's ``re`` and the API's model, one character at a time over the
    Basic Multilingual Plane (lone surrogates aside)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    tags = [
        DOCUMENT["components"]["schemas"][block]["properties"]["tags"] for block in ("SageMakerTrial", "BatchTrial")
    ]
    patterns = {p for t in tags for key, value in t["patternProperties"].items() for p in (key, value["pattern"])}
    assert len(patterns) == 2  # the keys' and the values' (which may not start with aws:)
    characters = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    tag_value = TypeAdapter(TagValue)
    api = "".join("1" if accepts(tag_value, c) else "0" for c in characters)
    script = """
    const p = require("fs").readFileSync(0, "utf8");
    const plain = new RegExp(p), unicode = new RegExp(p, "u");
    let a = "", b = "";
    for (let c = 0; c < 0x10000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const s = String.fromCharCode(c);
      a += plain.test(s) ? "1" : "0"; b += unicode.test(s) ? "1" : "0";
    }
    process.stdout.write(a + "\\n" + b);
    """
    for pattern in patterns:
        run = {"input": pattern, "capture_output": True, "text": True, "check": True, "timeout": 60}
        done = subprocess.run([node, "-e", script], **run)
        plain, unicode = done.stdout.split("\n")
        python = "".join("1" if re.fullmatch(pattern, c) else "0" for c in characters)
        assert plain == unicode == python == api  # one character never starts with aws:
        assert python.count("1") > 40_000  # the letters and numbers of the plane, not ASCII alone


def accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def test_the_listed_tag_letters_and_numbers_are_unicode_14s() -> None:
    """``NON_ASCII_LETTERS_AND_NUMBERS`` is data, not derived at import (the Pythons hyperstep
    supports carry different Unicode versions, and the published schema must not change with
    them): every character it lists is a letter or number here, and under Unicode 14.0 it lists
    each one of the plane."""
    listed = {chr(code) for code in range(0x80, 0x10000) if re.fullmatch(TAG_PATTERN, chr(code))}
    assert all(unicodedata.category(character)[0] in "LN" for character in listed)
    if unicodedata.unidata_version == "14.0.0":
        assert listed == {chr(c) for c in range(0x80, 0x10000) if unicodedata.category(chr(c))[0] in "LN"}


def letter_and_number_ranges() -> str:
    """``NON_ASCII_LETTERS_AND_NUMBERS`` as this Python's ``unicodedata`` gives it: the generator
    (run it under Python 3.11, Unicode 14.0, to write the committed data again)."""
    codes = [c for c in range(0x80, 0x10000) if unicodedata.category(chr(c))[0] in "LN"]
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return " ".join(f"{a:04X}" if a == b else f"{a:04X}-{b:04X}" for a, b in runs)


def test_the_committed_tag_ranges_are_the_generators_under_unicode_14() -> None:
    """The data can be written again, not only checked: under 14.0 the generator gives it byte for byte."""
    if unicodedata.unidata_version != "14.0.0":
        pytest.skip(f"Unicode {unicodedata.unidata_version}: the committed ranges are 14.0's")
    assert letter_and_number_ranges() == NON_ASCII_LETTERS_AND_NUMBERS


def sagemaker_with(**block: Any) -> dict[str, Any]:
    return sagemaker_spec(trial={**sagemaker_spec()["trial"], **block})


KEYED_CASES = {
    "47 tags": (sagemaker_with(tags={f"k{i}": "v" for i in range(47)}), None),
    "48 tags": (sagemaker_with(tags={f"k{i}": "v" for i in range(48)}), "trial.tags"),
    "awsome key": (batch(tags={"awsome": "x", "hyperstep-team": "x"}), None),
    "AWS: key": (sagemaker_with(tags={"AWS:team": "x"}), "trial.tags"),
    "HyperStep: key": (batch(tags={"HyperStep:stack": "x"}), "trial.tags"),
    "aws: value": (batch(tags={"team": "aws:x"}), "trial.tags"),
    "Aws: value": (sagemaker_with(tags={"team": "Aws:x"}), "trial.tags"),
    "aws in a value": (sagemaker_with(tags={"team": "x aws:y", "aws": "awsome"}), None),
    "95 variables": (sagemaker_with(environment={f"V{i}": "x" for i in range(95)}), None),
    "96 variables": (sagemaker_with(environment={f"V{i}": "x" for i in range(96)}), "trial.environment"),
    "hyperstep_ variable": (sagemaker_with(environment={"hyperstep_mode": "x"}), None),  # the prefix is upper case
    "HYPERSTEP_ variable": (sagemaker_with(environment={"HYPERSTEP_JOB_ID": "x"}), "trial.environment"),
    "Batch's HYPERSTEP_": (batch(environment={"HYPERSTEP_X": "x"}), "trial.environment"),
    "AWS_BATCH variable": (batch(environment={"AWS_BATCH_JOB_ID": "x"}), "trial.environment"),
    "AWS_BATCHES is Batch's too": (batch(environment={"AWS_BATCHES": "x"}), "trial.environment"),
    "AWS_REGION": (batch(environment={"AWS_REGION": "x"}), None),
}


@pytest.mark.parametrize("case", KEYED_CASES)
def test_the_schema_refuses_the_tags_and_variables_the_api_refuses(
    service: TuningService,  # noqa: F811
    case: str,
) -> None:
    """The tags' count (47: hyperstep adds three of AWS's 50) and their reserved prefixes
    (``aws:``, ``hyperstep:``, in any case; a value's ``aws:``), the SageMaker variables' count (95: hyperstep sets
    five of the 100) and the variables hyperstep and Batch set (``HYPERSTEP_*``, ``AWS_BATCH*``)
    were the API's alone: the schema took what the API refused (and published 96 variables)."""
    body, field = KEYED_CASES[case]
    refused = schema_errors("JobSpec", body)
    status, answer = as_(ALICE, "POST", "/jobs", body)
    if field is None:
        assert (refused, status) == ([], 202), (refused, answer)
    else:
        assert refused and status == 422 and answer["field"].startswith(field), (refused, answer)


@pytest.mark.parametrize(("choice", "accepted"), [("a\x00b", False), ("a\nb", True), ("é\tx", True)])
def test_a_text_choice_is_refused_by_the_api_exactly_when_the_schema_refuses_it(
    service: TuningService,  # noqa: F811
    choice: str,
    accepted: bool,
) -> None:
    """A NUL in a choice (no program argument can hold one) was refused by the API alone."""
    body = sagemaker_spec(parameters=[{"name": "act", "type": "categorical", "choices": ["relu", choice]}])
    assert (schema_errors("JobSpec", body) == []) is accepted
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status == 202) is accepted, answer


WITHOUT = {key: value for key, value in sagemaker_spec().items() if key not in ("trial", "budget")}
SUBMIT_CASES = {
    "a local trial": sagemaker_spec(
        trial={"backend": "local", "command": ["python", "t.py"], "metric_definitions": LOSS}
    ),
    "a simulated trial": sagemaker_spec(trial={"backend": "simulated", "objective": "m:f"}),
    "no trial": {**WITHOUT, "budget": {"max_trials": 4}},
    "a null trial": {**sagemaker_spec(), "trial": None},
    "no budget": {**WITHOUT, "trial": sagemaker_spec()["trial"]},
    "a budget without max_trials": sagemaker_spec(budget={"max_parallel": 2}),
    "a null max_trials": sagemaker_spec(budget={"max_trials": None}),  # present, so "required" alone took it
}


@pytest.mark.parametrize("case", SUBMIT_CASES)
def test_the_schema_refuses_a_spec_that_cannot_run_on_aws(
    service: TuningService,  # noqa: F811
    case: str,
) -> None:
    """The published ``JobSpec`` is the library's, which also runs local and simulated trials
    and ask/tell studies: it took a spec without a trial, with a local one or without
    ``budget.max_trials``, all refused by ``POST /jobs``."""
    body = SUBMIT_CASES[case]
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert status == 422, answer
    assert schema_errors("JobSpec", body), answer


def test_an_empty_budget_update_is_refused_by_the_schema_as_by_the_api(service: TuningService) -> None:  # noqa: F811
    """``PATCH /jobs/{id}`` with ``{}`` changes nothing: the API refused it (422), the schema took it."""
    job_id = submit(ALICE)
    status, answer = as_(ALICE, "PATCH", f"/jobs/{job_id}", {})
    assert status == 422, answer
    assert schema_errors("BudgetUpdate", {})


@pytest.mark.parametrize(
    ("choices", "accepted"),
    [([1, 1.0], False), ([-0.0, 0.0], False), (["a", "a"], False), ([True, 1], True), ([1, 2.5], True)],
    ids=["1 and 1.0", "-0.0 and 0.0", "a twice", "true and 1", "two numbers"],
)
def test_choices_that_are_one_json_value_are_refused_by_the_schema_as_by_the_api(
    service: TuningService,  # noqa: F811
    choices: list,
    accepted: bool,
) -> None:
    """The API refuses choices that are the same number (1 and 1.0, -0.0 and 0.0) or given
    twice; the schema took them (a client validating against it was then refused). Its
    ``uniqueItems`` (JSON Schema's equality: one number type, booleans apart) says the same."""
    body = sagemaker_spec(parameters=[{"name": "act", "type": "categorical", "choices": choices}])
    assert (schema_errors("JobSpec", body) == []) is accepted
    status, answer = as_(ALICE, "POST", "/jobs", body)
    assert (status == 202) is accepted, answer
