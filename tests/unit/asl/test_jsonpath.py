"""JSONPath, payload templates, intrinsic functions and Choice rules of the local executor."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from hyperstep.asl import choice, dataflow, intrinsics, jsonpath
from hyperstep.asl.failures import StatesError, matches

DATA: dict[str, Any] = {
    "a": {"b": 1, "c": [10, 20, 30]},
    "items": [{"id": "x", "n": 1}, {"id": "y", "n": 2}],
    "odd key": "spaced",
    "flag": True,
    "none": None,
}
CONTEXT = {"Execution": {"Id": "arn:exec", "Name": "e1"}, "Task": {"Token": "tok"}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),
        ("$.a.b", 1),
        ("$['a']['b']", 1),
        ('$["odd key"]', "spaced"),
        ("$.a.c[0]", 10),
        ("$.a.c[-1]", 30),
        ("$.items[1].id", "y"),
        ("$.items[*].id", ["x", "y"]),
        ("$.items[*].missing", []),
        ("$.a.c[0:2]", [10, 20]),
        ("$.a.c[0,2]", [10, 30]),
        ("$.a.*", [1, [10, 20, 30]]),
        ("$.none", None),
        ("$..id", ["x", "y"]),
        ("$..b", [1]),
        ("$.items[?(@.n > 1)].id", ["y"]),
        ("$.items[?(@.id == 'x')]", [{"id": "x", "n": 1}]),
        ("$.items[?(@.n == 1.0)].id", ["x"]),
        ("$.items[?(@.n != 1)].id", ["y"]),
        ("$.items[?(@.n > 'a')]", []),  # a number is not ordered against a string
        ("$.items[?(@.missing)]", []),
        ("$.items[?(@.id)].n", [1, 2]),
    ],
)
def test_read_paths(path: str, expected: Any) -> None:
    assert jsonpath.read(path, DATA) == expected


def test_context_paths_read_the_context_object() -> None:
    assert jsonpath.read("$$.Execution.Name", DATA, CONTEXT) == "e1"
    assert jsonpath.read("$$.Task.Token", DATA, CONTEXT) == "tok"


@pytest.mark.parametrize("path", ["$.missing", "$.a.b.c", "$.a.c[3]", "$.items.id", "$$.Map.Item"])
def test_missing_definite_path_is_a_runtime_error(path: str) -> None:
    with pytest.raises(StatesError) as caught:
        jsonpath.read(path, DATA, CONTEXT)
    assert caught.value.error == "States.Runtime"


@pytest.mark.parametrize("path", ["a.b", "$.a[", "$.a[x]", "$..", "$.a b[0"])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises((jsonpath.PathError, StatesError)):
        jsonpath.parse(path) if not path.startswith("$") else jsonpath.read(path, DATA)


def test_write_creates_objects_and_leaves_the_input_alone() -> None:
    original = {"a": {"b": 1}}
    written = jsonpath.write("$.a.x.y", original, 5)
    assert written == {"a": {"b": 1, "x": {"y": 5}}}
    assert original == {"a": {"b": 1}}
    assert jsonpath.write("$", original, [1]) == [1]
    assert jsonpath.write("$.list[1]", {"list": [0, 0]}, 9) == {"list": [0, 9]}


def test_write_through_a_non_object_is_a_result_path_match_failure() -> None:
    with pytest.raises(StatesError) as caught:
        jsonpath.write("$.a.b.c", {"a": {"b": "text"}}, 1)
    assert caught.value.error == "States.ResultPathMatchFailure"


def test_write_refuses_indefinite_paths() -> None:
    with pytest.raises(jsonpath.PathError):
        jsonpath.write("$.items[*].id", DATA, 1)


def test_fill_resolves_paths_intrinsics_and_nested_templates() -> None:
    template = {
        "static": "s",
        "b.$": "$.a.b",
        "token.$": "$$.Task.Token",
        "nested": {"ids.$": "$.items[*].id", "list": [{"n.$": "$.a.c[1]"}]},
        "greeting.$": "States.Format('hello {} from {}', $['odd key'], $$.Execution.Name)",
    }
    filled = dataflow.fill(template, DATA, CONTEXT)
    assert filled == {
        "static": "s",
        "b": 1,
        "token": "tok",
        "nested": {"ids": ["x", "y"], "list": [{"n": 20}]},
        "greeting": "hello spaced from e1",
    }


def test_fill_with_a_missing_path_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as caught:
        dataflow.fill({"x.$": "$.nope"}, DATA, CONTEXT)
    assert caught.value.error == "States.Runtime"
    assert "x.$" in caught.value.cause


def test_io_order_input_path_result_path_output_path() -> None:
    state = {"InputPath": "$.a", "ResultPath": "$.out", "OutputPath": "$.out"}
    raw = {"a": {"b": 1}, "keep": True}
    assert dataflow.input_of(state, raw, CONTEXT) == {"b": 1}
    assert dataflow.output_of(state, raw, {"r": 2}, CONTEXT) == {"r": 2}
    # ResultPath places the result into the *raw* input, not the InputPath selection.
    assert dataflow.output_of({"ResultPath": "$.out"}, raw, 7, CONTEXT) == {**raw, "out": 7}


def test_null_paths() -> None:
    raw = {"a": 1}
    assert dataflow.input_of({"InputPath": None}, raw, CONTEXT) == {}
    assert dataflow.output_of({"ResultPath": None}, raw, {"dropped": True}, CONTEXT) == raw
    assert dataflow.output_of({"OutputPath": None}, raw, {"x": 1}, CONTEXT) == {}


def test_result_selector_reads_the_result() -> None:
    state = {"ResultSelector": {"value.$": "$.Payload.value", "fixed": 1}}
    assert dataflow.result_selector(state, {"Payload": {"value": 3}}, CONTEXT) == {"value": 3, "fixed": 1}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("States.Format('{}-{}', $.a.b, $.flag)", "1-true"),
        ("States.Format('literal \\{\\} and {}', $.items[0].id)", "literal {} and x"),
        ("States.Format('it\\'s {}', 'me')", "it's me"),
        ("States.JsonToString($.a)", '{"b":1,"c":[10,20,30]}'),
        ("States.StringToJson('{\"k\": [1, 2]}')", {"k": [1, 2]}),
        ("States.Array(1, 'two', $.a.b, null, true)", [1, "two", 1, None, True]),
        ("States.ArrayLength($.items)", 2),
        ("States.ArrayContains($.a.c, 20)", True),
        ("States.ArrayGetItem($.a.c, 1)", 20),
        ("States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)", [[1, 2], [3, 4], [5]]),
        ("States.ArrayUnique(States.Array(1, 1, 2))", [1, 2]),
        ("States.MathAdd($.a.b, -3)", -2),
        ("States.MathAdd(2.5, 1)", 4),  # decimals round half up, as in Step Functions' Java runtime
        ("States.Format('{} / {}', $.items[0], $.a.c)", "{id=x, n=1} / [10, 20, 30]"),
        ("States.Base64Decode(States.Base64Encode('hi'))", "hi"),
        ("States.Hash('abc', 'SHA-256')", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("States.JsonMerge($.a, States.StringToJson('{\"b\": 2}'), false)", {"b": 2, "c": [10, 20, 30]}),
        ("States.StringSplit('a,b,,c', ',')", ["a", "b", "c"]),
    ],
)
def test_intrinsic_functions(expression: str, expected: Any) -> None:
    assert intrinsics.evaluate(expression, DATA, CONTEXT) == expected


def test_uuid_and_random() -> None:
    assert uuid.UUID(intrinsics.evaluate("States.UUID()", DATA, CONTEXT)).version == 4
    assert 3 <= intrinsics.evaluate("States.MathRandom(3, 5)", DATA, CONTEXT) < 5


@pytest.mark.parametrize(
    "expression",
    ["States.Format('{} {}', 1)", "States.Nope(1)", "States.ArrayGetItem($.a.c, 9)", "States.StringToJson('{')"],
)
def test_failing_intrinsics_raise_intrinsic_failure(expression: str) -> None:
    with pytest.raises(StatesError) as caught:
        intrinsics.evaluate(expression, DATA, CONTEXT)
    assert caught.value.error == "States.IntrinsicFailure"


def test_intrinsic_json_round_trip() -> None:
    text = intrinsics.evaluate("States.JsonToString($.items)", DATA, CONTEXT)
    assert json.loads(text) == DATA["items"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"Variable": "$.a.b", "NumericEquals": 1}, True),
        ({"Variable": "$.a.b", "NumericGreaterThan": 1}, False),
        ({"Variable": "$.a.b", "NumericLessThanEquals": 1}, True),
        ({"Variable": "$.a.b", "NumericEqualsPath": "$.items[0].n"}, True),
        ({"Variable": "$.a.b", "StringEquals": "1"}, False),  # type mismatch is false, not an error
        ({"Variable": "$.flag", "NumericEquals": 1}, False),  # a boolean is not a number
        ({"Variable": "$.items[0].id", "StringLessThan": "y"}, True),
        ({"Variable": "$.items[0].id", "StringGreaterThanEqualsPath": "$.items[1].id"}, False),
        ({"Variable": "$.odd key", "StringMatches": "sp*d"}, True),
        ({"Variable": "$.odd key", "StringMatches": "sp\\*d"}, False),
        ({"Variable": "$.flag", "BooleanEquals": True}, True),
        ({"Variable": "$.none", "IsNull": True}, True),
        ({"Variable": "$.a.b", "IsNumeric": True}, True),
        ({"Variable": "$.flag", "IsNumeric": False}, True),
        ({"Variable": "$.odd key", "IsString": True}, True),
        ({"Variable": "$.flag", "IsBoolean": True}, True),
        ({"Variable": "$.missing", "IsPresent": False}, True),
        ({"Variable": "$.a", "IsPresent": True}, True),
        ({"And": [{"Variable": "$.missing", "IsPresent": True}, {"Variable": "$.missing", "NumericEquals": 1}]}, False),
        ({"Or": [{"Variable": "$.a.b", "NumericEquals": 2}, {"Variable": "$.flag", "BooleanEquals": True}]}, True),
        ({"Not": {"Variable": "$.a.b", "NumericEquals": 1}}, False),
    ],
)
def test_choice_rules(rule: dict[str, Any], expected: bool) -> None:
    assert choice.evaluate(rule, DATA, CONTEXT) is expected


def test_timestamp_rules() -> None:
    data = {"t": "2024-01-02T03:04:05Z", "u": "2024-01-02T04:04:05+01:00", "bad": "2024-01-02"}
    assert choice.evaluate({"Variable": "$.t", "TimestampEqualsPath": "$.u"}, data)
    assert choice.evaluate({"Variable": "$.t", "TimestampLessThan": "2025-01-01T00:00:00Z"}, data)
    assert choice.evaluate({"Variable": "$.t", "IsTimestamp": True}, data)
    assert not choice.evaluate({"Variable": "$.bad", "IsTimestamp": True}, data)
    assert not choice.evaluate({"Variable": "$.bad", "TimestampLessThan": "2025-01-01T00:00:00Z"}, data)


def test_choice_on_a_missing_variable_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as caught:
        choice.evaluate({"Variable": "$.missing", "NumericEquals": 1}, DATA, CONTEXT)
    assert caught.value.error == "States.Runtime"


def test_error_matching() -> None:
    failure = StatesError("ValueError", "boom")
    assert matches(failure, ["ValueError"])
    assert matches(failure, ["States.TaskFailed"])
    assert matches(failure, ["States.ALL"])
    assert not matches(failure, ["KeyError"])
    timeout = StatesError("States.Timeout")
    assert not matches(timeout, ["States.TaskFailed"])
    assert matches(timeout, ["States.ALL"])
    runtime = StatesError("States.Runtime")
    assert not matches(runtime, ["States.ALL"])
    assert not matches(runtime, ["States.TaskFailed"])
