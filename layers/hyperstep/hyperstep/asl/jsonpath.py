"""The JSONPath subset Step Functions accepts in a JSONPath-mode state machine.

Paths start at ``$`` (the state's data) or ``$$`` (the context object). Segments:
``.name``, ``['name']`` / ``["name"]``, ``[0]`` (negative counts from the end),
``[*]`` / ``.*``, ``[start:end]``, ``[0,2]`` unions, ``..name`` deep scans and
``[?(@.field <op> literal)]`` filters. A path with any of the last five is *indefinite*:
it yields a list of every match (possibly empty), as Step Functions' JSONPath engine
does. A definite path that does not exist is an error (``States.Runtime``);
``ResultPath`` may only use definite name and index segments (a *reference path*).
"""

from __future__ import annotations

import copy
import json
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hyperstep.asl.failures import RESULT_PATH_MATCH_FAILURE, StatesError, runtime_error


@dataclass(frozen=True)
class Wildcard:
    """``[*]`` or ``.*``: every member of an object or array."""


@dataclass(frozen=True)
class Slice:
    """``[start:end]`` on an array."""

    start: int | None
    end: int | None


@dataclass(frozen=True)
class Union:
    """``[0,2]``: several indexes of an array."""

    indexes: tuple[int, ...]


@dataclass(frozen=True)
class DeepScan:
    """``..name`` (or ``..*``): that member of the value and of everything below it."""

    name: str | None


@dataclass(frozen=True)
class Filter:
    """``[?(@.a.b)]`` or ``[?(@.a.b <op> literal)]``: the array items the test holds for."""

    field: tuple[str, ...]
    op: str | None = None
    value: Any = None

    def holds(self, item: Any) -> bool:
        for name in self.field:
            if not isinstance(item, dict) or name not in item:
                return False
            item = item[name]
        if self.op is None:
            return True
        same_kind = _kind(item) == _kind(self.value)
        if self.op in ("==", "!="):
            return (same_kind and item == self.value) == (self.op == "==")
        return same_kind and _kind(item) in ("number", "str") and _COMPARE[self.op](item, self.value)


def _kind(value: Any) -> str:
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


Segment = str | int | Wildcard | Slice | Union | DeepScan | Filter
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_DEEP = re.compile(r"\.\.(\*|[^.\[\]]+)")
_FILTER = re.compile(r"\[\?\(\s*@((?:\.[^.\s=!<>()\[\]]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)\]")

_NAME = re.compile(r"\.([^.\[\]]+)")
_QUOTED = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")
_BRACKET = re.compile(r"\[\s*([^\]]*?)\s*\]")


class PathError(ValueError):
    """A string is not a path Step Functions accepts."""


def is_path(value: object) -> bool:
    """True for strings that are paths (``$...`` or ``$$...``)."""
    return isinstance(value, str) and value.startswith("$")


@lru_cache(maxsize=1024)
def parse(path: str) -> tuple[bool, tuple[Segment, ...]]:
    """``(is_context, segments)`` for a path; raises ``PathError`` when it is malformed."""
    if not path.startswith("$"):
        raise PathError(f"a path must start with '$': {path!r}")
    context = path.startswith("$$")
    rest = path[2:] if context else path[1:]
    segments: list[Segment] = []
    pos = 0
    while pos < len(rest):
        segment, pos = _next_segment(rest, pos, path)
        segments.append(segment)
    return context, tuple(segments)


def _next_segment(rest: str, pos: int, path: str) -> tuple[Segment, int]:
    if match := _DEEP.match(rest, pos):
        return DeepScan(None if match.group(1) == "*" else match.group(1)), match.end()
    if match := _FILTER.match(rest, pos):
        field = tuple(match.group(1).split(".")[1:])
        return Filter(field, match.group(2), _literal(match.group(3), path) if match.group(2) else None), match.end()
    if rest.startswith(".*", pos):
        return Wildcard(), pos + 2
    if match := _NAME.match(rest, pos):
        return match.group(1), match.end()
    if match := _QUOTED.match(rest, pos):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        return re.sub(r"\\(.)", r"\1", raw), match.end()
    if match := _BRACKET.match(rest, pos):
        return _bracket(match.group(1), path), match.end()
    raise PathError(f"invalid path {path!r} at {rest[pos:]!r}")


def _literal(text: str, path: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise PathError(f"unsupported filter value {text!r} in path {path!r}") from None


def _bracket(body: str, path: str) -> Segment:
    try:
        if body == "*":
            return Wildcard()
        if ":" in body:
            start, _, end = body.partition(":")
            return Slice(int(start) if start.strip() else None, int(end) if end.strip() else None)
        if "," in body:
            return Union(tuple(int(part) for part in body.split(",")))
        return int(body)
    except ValueError:
        raise PathError(f"unsupported bracket [{body}] in path {path!r}") from None


def is_definite(segments: tuple[Segment, ...]) -> bool:
    """True when a path names at most one value (no wildcard, slice or union)."""
    return all(isinstance(segment, str | int) for segment in segments)


def read(path: str, data: Any, context: Any = None) -> Any:
    """The value at ``path`` in ``data`` (or in ``context`` for ``$$`` paths).

    Raises ``States.Runtime`` when a definite path does not exist; an indefinite path
    returns the list of its matches.
    """
    try:
        is_context, segments = parse(path)
    except PathError as exc:
        raise runtime_error(str(exc)) from None
    root = context if is_context else data
    if is_definite(segments):
        return _read_definite(root, segments, path)
    matches = [root]
    for segment in segments:
        matches = [child for value in matches for child in _children(value, segment)]
    return matches


def _read_definite(value: Any, segments: tuple[Segment, ...], path: str) -> Any:
    for segment in segments:
        if not _has(value, segment):
            raise runtime_error(f"The JSONPath '{path}' could not be found in the input.")
        value = value[segment]
    return value


def _has(value: Any, segment: Segment) -> bool:
    if isinstance(segment, str):
        return isinstance(value, dict) and segment in value
    return isinstance(segment, int) and isinstance(value, list) and -len(value) <= segment < len(value)


def _children(value: Any, segment: Segment) -> list[Any]:
    if isinstance(segment, str):
        return [value[segment]] if isinstance(value, dict) and segment in value else []
    if isinstance(segment, Wildcard):
        return list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []
    if isinstance(segment, DeepScan):
        return list(_descendants(value, segment.name))
    if isinstance(segment, Filter):
        items = value if isinstance(value, list) else [value]
        return [item for item in items if segment.holds(item)]
    if not isinstance(value, list):
        return []
    if isinstance(segment, int):
        return [value[segment]] if -len(value) <= segment < len(value) else []
    if isinstance(segment, Slice):
        return value[segment.start : segment.end]
    return [value[index] for index in segment.indexes if -len(value) <= index < len(value)]


def _descendants(value: Any, name: str | None) -> Iterator[Any]:
    """Pre-order: ``value``'s own member ``name`` (every member for None), then its children's."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        if name is None or key == name:
            yield child
    for _, child in children:
        yield from _descendants(child, name)


def write(path: str, data: Any, value: Any) -> Any:
    """A copy of ``data`` with ``value`` placed at the reference path ``path`` (``ResultPath``).

    Missing objects along the path are created; a segment that would have to go through
    a non-object raises ``States.ResultPathMatchFailure``.
    """
    is_context, segments = parse(path)
    if is_context or not is_definite(segments):
        raise PathError(f"ResultPath must be a reference path: {path!r}")
    if not segments:
        return value
    root = copy.deepcopy(data)
    node = root
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if isinstance(segment, str) and isinstance(node, dict):
            if last:
                node[segment] = value
            else:
                node = node.setdefault(segment, {})
        elif isinstance(segment, int) and isinstance(node, list) and -len(node) <= segment < len(node):
            if last:
                node[segment] = value
            else:
                node = node[segment]
        else:
            cause = f"Unable to apply ResultPath '{path}' to input {_brief(data)}"
            raise StatesError(RESULT_PATH_MATCH_FAILURE, cause)
    return root


def _brief(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 200 else text[:197] + "..."
