"""Secrets kept secret: a spec's secret fields never leave through the API, logs or events.

A spec field is secret when its model marks it: ``Field(..., repr=False,
json_schema_extra=SECRET)`` (``hyperstep.spec_base.SECRET``): today a trial's
``environment`` (SageMaker, Batch) and ``env`` (local), which may hold credentials, tokens
or connection strings the training container needs. The job keeps their values (its
trials are launched with them), ``repr=False`` keeps them out of the models' repr (which
frameworks log), and whatever shows a spec to a person (API answers, logs, events) shows
``redacted`` instead. The secret fields are found from the marks, wherever they are in the
spec's models, so a new secret field is redacted by being marked; ``secret_fields`` lists
them for the tests, which hold every ``repr=False`` field to be marked and every marked
one redacted.

A secret mapping keeps its keys (the variable names); each plain value becomes
``REDACTED``, and a secret reference (``{resolve: "ssm:/path"}``, ``hyperstep.secrets``)
is shown as it is: it says where the secret lives, not what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from hyperstep.secrets import SecretRef
from hyperstep.spec_base import SECRET

REDACTED = "***"
_MARK = next(iter(SECRET))


def is_secret(field: FieldInfo) -> bool:
    """Whether a model field is marked secret (``json_schema_extra=SECRET``)."""
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get(_MARK) is True


def redacted(model: BaseModel) -> dict[str, Any]:
    """The model as JSON data (``None`` fields left out) with every secret field's values redacted."""
    document = model.model_dump(mode="json", exclude_none=True)
    _redact(model, document)
    return document


def _redact(model: BaseModel, document: dict[str, Any]) -> None:
    for name, field in type(model).model_fields.items():
        if name not in document:
            continue
        value = getattr(model, name)
        if is_secret(field):
            document[name] = _hidden(value, document[name])
        else:
            _walk(value, document[name])


def _walk(value: Any, dumped: Any) -> None:
    """Redact inside a field's value: a nested model, or models in a list or mapping."""
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        _redact(value, dumped)
    elif isinstance(value, list | tuple) and isinstance(dumped, list):
        for item, dumped_item in zip(value, dumped, strict=False):
            _walk(item, dumped_item)
    elif isinstance(value, dict) and isinstance(dumped, dict):
        for key, item in value.items():
            if str(key) in dumped:
                _walk(item, dumped[str(key)])


def _hidden(value: Any, dumped: Any) -> Any:
    """A secret field as shown: a mapping keeps its keys, each value ``REDACTED`` but for
    references (shown as they are); anything else is ``REDACTED`` whole."""
    if isinstance(value, dict) and isinstance(dumped, dict):
        return {str(k): dumped[str(k)] if isinstance(v, SecretRef) else REDACTED for k, v in value.items()}
    return REDACTED


def secret_fields(model: type[BaseModel]) -> Iterator[tuple[type[BaseModel], str]]:
    """Every ``(model, field name)`` marked secret in ``model`` and the models its fields hold."""
    for owner, name, field in spec_fields(model):
        if is_secret(field):
            yield owner, name


def spec_fields(
    model: type[BaseModel], seen: set[type] | None = None
) -> Iterator[tuple[type[BaseModel], str, FieldInfo]]:
    """Every field of ``model`` and of each model reachable through its fields' annotations."""
    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        yield model, name, field
        for inner in _models_in(field.annotation):
            yield from spec_fields(inner, seen)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in get_args(annotation):
        yield from _models_in(argument)
