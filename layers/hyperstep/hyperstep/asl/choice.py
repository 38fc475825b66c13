"""Choice rules: the comparison operators of a Choice state, evaluated like Step Functions.

A comparison between values of different types is false, not an error (``NumericEquals``
on a string). A ``Variable`` (or ``...Path`` operand) that does not exist in the input is
a ``States.Runtime`` error, except for ``IsPresent``. ``And`` and ``Or`` short-circuit,
so ``{"And": [{"IsPresent": true}, ...]}`` guards the comparisons after it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hyperstep.asl import jsonpath
from hyperstep.asl.failures import StatesError

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2016-08-18T17:33:00Z``) as a datetime; None if it is not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _typed(kind: str, value: Any) -> Any:
    """``value`` in the comparable form for an operator family, or None on a type mismatch."""
    if kind == "String":
        return value if isinstance(value, str) else None
    if kind == "Numeric":
        return value if _is_number(value) else None
    if kind == "Boolean":
        return value if isinstance(value, bool) else None
    return timestamp(value)


def _type_tests() -> dict[str, Callable[[Any], bool]]:
    return {
        "IsNull": lambda value: value is None,
        "IsNumeric": _is_number,
        "IsString": lambda value: isinstance(value, str),
        "IsBoolean": lambda value: isinstance(value, bool),
        "IsTimestamp": lambda value: timestamp(value) is not None,
    }


_TYPE_TESTS = _type_tests()


_ORDERED_KINDS = ("String", "Numeric", "Timestamp")
_COMPARISONS = frozenset(
    [f"{kind}{relation}{path}" for kind in _ORDERED_KINDS for relation in _ORDER for path in ("", "Path")]
    + ["BooleanEquals", "BooleanEqualsPath", "StringMatches", "IsPresent", *_TYPE_TESTS]
)


def rule_problem(rule: object, top_level: bool = True) -> str | None:
    """Why a choice rule is malformed (None when it is fine), as Step Functions checks on create.

    A rule is ``And`` / ``Or`` (a non-empty list of rules), ``Not`` (one rule), or a
    ``Variable`` with exactly one comparison operator; only top-level rules have ``Next``.
    """
    if not isinstance(rule, dict):
        return f"a choice rule must be an object, got {rule!r}"
    if top_level != ("Next" in rule):
        return "top-level choice rules need 'Next'; nested ones must not have it"
    fields = set(rule) - {"Next", "Comment"}
    if fields in ({"And"}, {"Or"}):
        inner = rule["And" if "And" in fields else "Or"]
        if not isinstance(inner, list) or not inner:
            return "'And' / 'Or' need a non-empty list of rules"
        return next((p for p in (rule_problem(r, False) for r in inner) if p), None)
    if fields == {"Not"}:
        return rule_problem(rule["Not"], False)
    operators = fields - {"Variable"}
    if "Variable" not in fields or len(operators) != 1 or not operators <= _COMPARISONS:
        return f"a choice rule needs 'Variable' and exactly one known comparison, got {sorted(fields)}"
    return None


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` escape."""
    regex, pos = [], 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\" and pos + 1 < len(pattern):
            regex.append(re.escape(pattern[pos + 1]))
            pos += 2
            continue
        regex.append(".*" if char == "*" else re.escape(char))
        pos += 1
    return re.fullmatch("".join(regex), value, flags=re.DOTALL) is not None


def evaluate(rule: dict[str, Any], data: Any, context: Any = None) -> bool:
    """True when a choice rule (or a nested ``And`` / ``Or`` / ``Not`` rule) holds."""
    if "And" in rule:
        return all(evaluate(inner, data, context) for inner in rule["And"])
    if "Or" in rule:
        return any(evaluate(inner, data, context) for inner in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        try:
            jsonpath.read(variable, data, context)
        except StatesError:
            return rule["IsPresent"] is False
        return rule["IsPresent"] is True
    value = _variable(variable, data, context)
    for name, test in _TYPE_TESTS.items():
        if name in rule:
            return test(value) == rule[name]
    return _compare(rule, value, data, context)


def _variable(path: str, data: Any, context: Any) -> Any:
    try:
        return jsonpath.read(path, data, context)
    except StatesError:
        raise StatesError(
            "States.Runtime", f"Invalid path '{path}': The choice state's condition path references an invalid value."
        ) from None


def _compare(rule: dict[str, Any], value: Any, data: Any, context: Any) -> bool:
    for key, operand in rule.items():
        if key in ("Variable", "Next", "Comment"):
            continue
        if key == "StringMatches":
            return isinstance(value, str) and string_matches(value, operand)
        name = key.removesuffix("Path")
        if key.endswith("Path"):
            operand = _variable(operand, data, context)
        kind = next((prefix for prefix in ("String", "Numeric", "Boolean", "Timestamp") if name.startswith(prefix)), "")
        relation = _ORDER.get(name[len(kind) :])
        if not kind or relation is None:
            raise StatesError("States.Runtime", f"unknown choice operator {key!r}")
        left, right = _typed(kind, value), _typed(kind, operand)
        if left is None or right is None:
            return False
        return relation(left, right)
    raise StatesError("States.Runtime", f"choice rule without a comparison: {rule!r}")
