"""Reading an AMT request so that nothing in it goes unmentioned.

``Request`` hands out values by path and records each path taken (or named with a
reason); ``leftovers`` then lists, by path, every part of the request nobody took.
"""

from __future__ import annotations

import json
from typing import Any

from hyperstep.errors import SpecError


class Request:
    """The request as read so far: values are taken by path, and whatever was never taken
    (nor named with a reason) is listed by ``leftovers`` so that nothing goes unmentioned."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.taken: set[tuple[Any, ...]] = set()
        self.notes: list[str] = []

    def lookup(self, *path: Any) -> Any:
        """The value at ``path`` (None where there is none), without taking it."""
        value: Any = self.document
        for part in path:
            if isinstance(value, dict) and isinstance(part, str):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value

    def get(self, *path: Any) -> Any:
        """The value at ``path``, taken: it counts as carried over (or named) from now on."""
        self.taken.add(path)
        return self.lookup(*path)

    def text(self, *path: Any, required: bool = False) -> str | None:
        value = self.get(*path)
        if value is None and required:
            raise SpecError(f"{dotted(path)}: missing")
        if value is not None and not isinstance(value, str):
            raise SpecError(f"{dotted(path)}: expected a string, got {json.dumps(value)}")
        return value

    def choice(self, *path: Any, choices: tuple[str, ...]) -> str | None:
        """A text that must be one of AWS's ``choices`` (a misspelt one would be ignored)."""
        value = self.text(*path)
        if value is not None and value not in choices:
            raise SpecError(f"{dotted(path)}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, *path: Any) -> int | None:
        value = self.get(*path)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SpecError(f"{dotted(path)}: expected an integer, got {json.dumps(value)}")
        return value

    def mapping(self, *path: Any) -> dict[str, Any]:
        value = self.lookup(*path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise SpecError(f"{dotted(path)}: expected an object, got {json.dumps(value)[:60]}")
        return value

    def items(self, *path: Any) -> list[Any]:
        value = self.lookup(*path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise SpecError(f"{dotted(path)}: expected a list, got {json.dumps(value)[:60]}")
        return value

    def note(self, path: tuple[Any, ...], reason: str) -> None:
        """Name a part of the request that is not carried over (and mark it as dealt with)."""
        self.taken.add(path)
        self.notes.append(f"{dotted(path)}: not carried over: {reason}")

    def leftovers(self, reason: str) -> list[str]:
        found: list[str] = []
        self._walk(self.document, (), found, reason)
        return found

    def _walk(self, value: Any, path: tuple[Any, ...], found: list[str], reason: str) -> None:
        if path in self.taken:
            return
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        inner = [((*path, key), child) for key, child in children]
        if inner and any(_under(p, self.taken) for p, _ in inner):
            for child_path, child in inner:
                self._walk(child, child_path, found, reason)
        elif value not in (None, [], {}):
            found.append(f"{dotted(path)}: not carried over ({reason})")


def _under(path: tuple[Any, ...], taken: set[tuple[Any, ...]]) -> bool:
    """Whether ``path`` or anything below it was taken."""
    return any(t[: len(path)] == path for t in taken)


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
