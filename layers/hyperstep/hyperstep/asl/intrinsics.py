"""Step Functions intrinsic functions (``"key.$": "States.Format('x-{}', $.id)"``).

An intrinsic is parsed into a small call tree once, then evaluated against the state's
data and context object. Arguments are string literals in single quotes (``\\'``,
``\\{``, ``\\}`` and ``\\\\`` escape), numbers, ``true``/``false``/``null``, paths and
nested intrinsic calls. A failing call raises ``States.IntrinsicFailure``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hyperstep.asl import jsonpath
from hyperstep.asl.failures import INTRINSIC_FAILURE, StatesError


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Text:
    """A string literal, kept raw so ``States.Format`` can tell ``\\{`` from ``{``."""

    raw: str

    @property
    def value(self) -> str:
        return re.sub(r"\\(.)", r"\1", self.raw)


@dataclass(frozen=True)
class PathArg:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Literal | Text | PathArg | Call, ...]


Arg = Literal | Text | PathArg | Call
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME = re.compile(r"States\.[A-Za-z0-9]+")


def is_intrinsic(value: object) -> bool:
    return isinstance(value, str) and value.startswith("States.")


def evaluate(expression: str, data: Any, context: Any) -> Any:
    """The value of one intrinsic function call."""
    return _eval(parse(expression), data, context)


@lru_cache(maxsize=512)
def parse(expression: str) -> Call:
    parser = _Parser(expression)
    call = parser.call()
    parser.skip_space()
    if parser.pos != len(expression):
        raise _failure(f"unexpected text after the call in {expression!r}")
    return call


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> Call:
        match = _NAME.match(self.text, self.pos)
        if not match or not self.text.startswith("(", match.end()):
            raise _failure(f"expected an intrinsic function at {self.text[self.pos :]!r}")
        self.pos = match.end() + 1
        args: list[Arg] = []
        self.skip_space()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return Call(match.group(0), ())
        while True:
            args.append(self.arg())
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.text.startswith(")", self.pos):
                self.pos += 1
                return Call(match.group(0), tuple(args))
            else:
                raise _failure(f"expected ',' or ')' in {self.text!r}")

    def arg(self) -> Arg:
        self.skip_space()
        rest = self.text[self.pos :]
        if rest.startswith("'"):
            return self.string()
        if rest.startswith("$"):
            return self.path()
        if rest.startswith("States."):
            return self.call()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if rest.startswith(word):
                self.pos += len(word)
                return Literal(value)
        if match := _NUMBER.match(rest):
            self.pos += match.end()
            number = match.group(0)
            return Literal(float(number) if match.group(1) or match.group(2) else int(number))
        raise _failure(f"unexpected argument at {rest!r}")

    def string(self) -> Text:
        start = self.pos + 1
        pos = start
        while pos < len(self.text):
            if self.text[pos] == "\\":
                pos += 2
            elif self.text[pos] == "'":
                self.pos = pos + 1
                return Text(self.text[start:pos])
            else:
                pos += 1
        raise _failure(f"unterminated string in {self.text!r}")

    def path(self) -> PathArg:
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif depth == 0 and (char in ",)" or char.isspace()):
                break
            self.pos += 1
        return PathArg(self.text[start : self.pos])


def _eval(node: Arg, data: Any, context: Any) -> Any:
    if isinstance(node, Literal | Text):
        return node.value
    if isinstance(node, PathArg):
        return jsonpath.read(node.path, data, context)
    function = _FUNCTIONS.get(node.name)
    if function is None:
        raise _failure(f"unknown intrinsic function {node.name}")
    if node.name == "States.Format" and node.args and isinstance(node.args[0], Text):
        return _format(node.args[0].raw, [_eval(arg, data, context) for arg in node.args[1:]])
    args = [_eval(arg, data, context) for arg in node.args]
    try:
        return function(*args)
    except StatesError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as exc:
        raise _failure(f"{node.name} failed: {exc}") from None


def _failure(cause: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, cause)


def _format(template: str, values: list[Any]) -> str:
    out: list[str] = []
    remaining = list(values)
    pos = 0
    while pos < len(template):
        if template[pos] == "\\" and pos + 1 < len(template):
            out.append(template[pos + 1])
            pos += 2
        elif template.startswith("{}", pos):
            if not remaining:
                raise _failure("States.Format has more placeholders than arguments")
            out.append(_format_value(remaining.pop(0)))
            pos += 2
        else:
            out.append(template[pos])
            pos += 1
    if remaining:
        raise _failure("States.Format has more arguments than placeholders")
    return "".join(out)


def _format_value(value: Any) -> str:
    """How ``States.Format`` renders an argument: strings as they are, objects and arrays
    the way Step Functions' Java runtime prints them (``{a=1, b=[x, y]}``), other
    values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_format_value(item)}" for key, item in value.items()) + "}"
    return _json(value)


def _integer(value: Any) -> int:
    """An integer argument; Step Functions rounds a decimal to the nearest integer (half up)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _failure(f"expected a number, got {value!r}")
    return math.floor(value + 0.5) if isinstance(value, float) else value


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _array_range(start: int, end: int, step: int) -> list[int]:
    values = list(range(int(start), int(end) + (1 if step > 0 else -1), int(step)))
    if len(values) > 1000:
        raise _failure("States.ArrayRange may return at most 1000 items")
    return values


def _hash(data: Any, algorithm: str) -> str:
    names = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
    text = data if isinstance(data, str) else _json(data)
    return hashlib.new(names[algorithm], text.encode()).hexdigest()


def _json_merge(left: dict[str, Any], right: dict[str, Any], deep: bool) -> dict[str, Any]:
    if deep:
        raise _failure("States.JsonMerge supports shallow merges only (deep must be false)")
    return {**left, **right}


def _unique(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _random(start: int, end: int, seed: int | None = None) -> int:
    return random.Random(seed).randrange(int(start), int(end))


def _split(text: str, delimiters: str) -> list[str]:
    return [part for part in re.split("[" + re.escape(delimiters) + "]", text) if part]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": lambda template, *values: _format(template, list(values)),
    "States.StringToJson": json.loads,
    "States.JsonToString": _json,
    "States.Array": lambda *items: list(items),
    "States.ArrayPartition": lambda items, size: [items[i : i + int(size)] for i in range(0, len(items), int(size))],
    "States.ArrayContains": lambda items, value: value in items,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": lambda items, index: items[int(index)],
    "States.ArrayLength": len,
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda text: base64.b64encode(text.encode()).decode(),
    "States.Base64Decode": lambda text: base64.b64decode(text).decode(),
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _random,
    "States.MathAdd": lambda left, right: _integer(left) + _integer(right),
    "States.StringSplit": _split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
