"""Check a request against AWS's own service model (botocore's JSON), beyond what botocore checks.

botocore validates required members, unknown members, types and minimums before sending;
the service itself also enforces ``max``, ``enum`` and ``pattern``. This walks a request
and reports every such violation, so a test can prove a request would pass AWS's checks.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import regex  # AWS patterns use \\p{L} classes, which the re module lacks
from botocore.model import Shape
from botocore.validate import ParamValidator

_session = botocore.session.get_session()


def violations(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Every way ``params`` breaks the operation's input shape (empty when it is valid)."""
    shape = _session.get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    found = [report.generate_report()] if report.has_errors() else []
    _walk(shape, params, operation, found)
    return found


def _walk(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _walk(member, value[name], f"{path}.{name}", found)
    elif shape.type_name == "list" and isinstance(value, list):
        _bounds(meta, len(value), path, found)
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", found)
    elif shape.type_name == "map" and isinstance(value, dict):
        _bounds(meta, len(value), path, found)
        for key, item in value.items():
            _walk(shape.key, key, f"{path}<key {key}>", found)
            _walk(shape.value, item, f"{path}[{key}]", found)
    elif shape.type_name == "string" and isinstance(value, str):
        _bounds(meta, len(value), path, found)
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            found.append(f"{path}: {value!r} is not one of {enum[:6]}...")
        if "pattern" in meta and not regex.fullmatch(meta["pattern"], value):
            found.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        _bounds(meta, value, path, found)


def _bounds(meta: dict[str, Any], size: int, path: str, found: list[str]) -> None:
    if "min" in meta and size < meta["min"]:
        found.append(f"{path}: {size} is below the minimum {meta['min']}")
    if "max" in meta and size > meta["max"]:
        found.append(f"{path}: {size} is above the maximum {meta['max']}")
