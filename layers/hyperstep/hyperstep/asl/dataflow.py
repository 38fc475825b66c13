"""Input and output processing of one state, in the order Step Functions applies it.

``InputPath`` picks the effective input from the raw state input; ``Parameters`` (or a
Map's ``ItemSelector``) builds the task's input from a payload template; the task runs;
``ResultSelector`` reshapes its result; ``ResultPath`` places the result into the raw
state input; ``OutputPath`` picks the state's output. A ``null`` ``InputPath`` or
``OutputPath`` yields ``{}``; a ``null`` ``ResultPath`` discards the result and keeps the
raw input.
"""

from __future__ import annotations

from typing import Any

from hyperstep.asl import intrinsics, jsonpath
from hyperstep.asl.failures import runtime_error

_ABSENT = object()


def fill(template: Any, data: Any, context: Any) -> Any:
    """A payload template (``Parameters``, ``ResultSelector``, ``ItemSelector``) filled in.

    A key ending in ``.$`` takes the value of its path or intrinsic function, under the
    key without the suffix; nested objects and arrays are filled the same way.
    """
    if isinstance(template, dict):
        filled: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                filled[key[:-2]] = _dynamic(key, value, data, context)
            else:
                filled[key] = fill(value, data, context)
        return filled
    if isinstance(template, list):
        return [fill(item, data, context) for item in template]
    return template


def _dynamic(key: str, expression: Any, data: Any, context: Any) -> Any:
    if intrinsics.is_intrinsic(expression):
        return intrinsics.evaluate(expression, data, context)
    if jsonpath.is_path(expression):
        try:
            return jsonpath.read(expression, data, context)
        except Exception as exc:
            cause = getattr(exc, "cause", str(exc))
            message = f"The JSONPath '{expression}' specified for the field '{key}' failed: {cause}"
            raise runtime_error(message) from None
    raise runtime_error(f"The value of field '{key}' is neither a path nor an intrinsic function: {expression!r}")


def input_of(state: dict[str, Any], raw_input: Any, context: Any) -> Any:
    """The effective input after ``InputPath`` (before ``Parameters``)."""
    return select(state.get("InputPath", "$"), raw_input, context)


def select(path: str | None, data: Any, context: Any = None) -> Any:
    """``InputPath`` / ``OutputPath``: the value at ``path``, or ``{}`` for ``null``."""
    if path is None:
        return {}
    return jsonpath.read(path, data, context)


def parameters(state: dict[str, Any], effective_input: Any, context: Any, field: str = "Parameters") -> Any:
    """The input after the payload template in ``field``, when the state has one."""
    template = state.get(field, _ABSENT)
    if template is _ABSENT:
        return effective_input
    return fill(template, effective_input, context)


def result_selector(state: dict[str, Any], result: Any, context: Any) -> Any:
    """The task result reshaped by ``ResultSelector``, when the state has one."""
    if "ResultSelector" not in state:
        return result
    return fill(state["ResultSelector"], result, context)


def place(result_path: str | None, raw_input: Any, result: Any) -> Any:
    """``ResultPath``: ``result`` put into ``raw_input``; ``null`` keeps the input unchanged."""
    if result_path is None:
        return raw_input
    return jsonpath.write(result_path, raw_input, result)


def output_of(state: dict[str, Any], raw_input: Any, result: Any, context: Any) -> Any:
    """The state's output from its raw input and its (selected) result."""
    combined = place(state.get("ResultPath", "$"), raw_input, result)
    return select(state.get("OutputPath", "$"), combined, context)
