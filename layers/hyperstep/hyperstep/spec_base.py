"""What the spec and every backend's ``trial`` block are made of.

``SpecModel`` is the strict base of every spec model; ``TrialBlockBase`` holds the fields
each trial block has (``metric_definitions``, ``timeout_seconds``) and its one hook. The
blocks themselves live with their backends (``hyperstep.backends.<name>.block``), and
``hyperstep.spec`` joins them, as the registry lists them, into the ``trial`` union: so
this module sits below both, and neither imports the other's level.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue

from hyperstep.messages import SHOWN_CHARS, clipped
from hyperstep.metric_regex import first_group, nested_repeat, reads_no_number
from hyperstep.pricing import Rate, own_rate

if TYPE_CHECKING:
    from hyperstep.guardrails import Guardrails
    from hyperstep.messages import Usage


SECRET: dict[str, Any] = {"x-hyperstep-secret": True}
"""Marks a spec field whose values are secret (``Field(..., repr=False, json_schema_extra=SECRET)``):
``hyperstep.redaction`` finds every field so marked and redacts its values wherever a spec is
shown; the mark also tells the OpenAPI document's readers."""


NAMED_KEYS_ONLY: dict[str, Any] = {"additionalProperties": False}
"""``json_schema_extra`` of a mapping whose keys have a pattern: its published schema then
refuses a key outside it, as the model does (``patternProperties`` alone lets any other key
through)."""


@dataclass(frozen=True)
class names_refused:
    """A mapping key's annotation (``dict[Annotated[str, names_refused(pattern)], ...]``) that
    publishes the names the mapping's own validator refuses (reserved ones) as its schema's
    ``propertyNames``' ``not``: the schema then refuses them too. Published only."""

    pattern: str

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "not": {"pattern": self.pattern}}


def any_case(text: str) -> str:
    """A pattern of ``text`` in any case (``aws:``: ``[aA][wW][sS]:``), written without flags,
    which a JSON Schema pattern cannot carry."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


STORED = {"stored": True}
"""Validation context for a spec read back from a store: it was checked when it came in,
and checks that depend on the code (which options a strategy takes) or came later are not
repeated, so a job stored under older rules stays readable."""


def read_back(info: ValidationInfo) -> bool:
    """Whether the model is being read back from a store (validated with ``STORED``)."""
    return isinstance(info.context, dict) and bool(info.context.get("stored"))


MAX_JSON_INT = 2**53 - 1
"""The largest integer a JSON number keeps exactly everywhere (RFC 7493's interoperable range,
a double's): JavaScript and jq read a larger one rounded, so a spec read and sent back there
would change it. The bound of every integer field AWS documents no limit for."""


@dataclass(frozen=True)
class at_most:
    """A field's upper bound (``Annotated[int, at_most(n)]``), refused past ``most`` with
    pydantic's own ``le`` error as a spec comes in but not when it is read back: for a bound
    added after jobs were stored with larger values, which must stay readable and keep
    running (a ``Field(le=...)`` cannot tell the two). Published as the integer's
    ``maximum``, as ``le`` would be."""

    most: int

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return AfterValidator(self._check).__get_pydantic_core_schema__(source, handler)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        published = handler(schema)
        for option in published.get("anyOf", [published]):  # ``int | None``: the integer's option
            if option.get("type") == "integer":
                option["maximum"] = self.most
        return published

    def _check(self, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value > self.most and not read_back(info):
            raise ValidationError.from_exception_data(
                "at_most", [{"type": "less_than_equal", "loc": (), "input": value, "ctx": {"le": self.most}}]
            )
        return value


@dataclass(frozen=True)
class matching:
    """A string's pattern (``Annotated[str, matching(pattern, rule)]``), checked with Python's
    ``re`` as a spec comes in but not when it is read back (a job stored under an older
    pattern stays readable), refused with ``rule`` in words rather than with the pattern;
    published as the string's ``pattern`` (a mapping key's: ``patternProperties``). Write it
    so ECMA-262, the published schema's dialect, reads it as Python does: explicit classes,
    none of ``\\w``, ``\\d``, ``\\s``, ``\\b``, which match non-ASCII text in one and not the other."""

    pattern: str
    rule: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return AfterValidator(self._check).__get_pydantic_core_schema__(source, handler)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern}

    def _check(self, value: str, info: ValidationInfo) -> str:
        if not read_back(info) and re.fullmatch(self.pattern, value) is None:
            raise ValueError(f"{self.rule}, got {value[:60]!a}")
        return value


def text(what: str, plain: Any = str) -> Any:
    """The type of a spec string a YAML reader may have read as something else (``1e-3``, ``10``,
    ``true``, an empty value): ``plain`` (``str`` or a constrained string), refusing any other
    scalar with what it was read as and "quote it", naming ``what`` ("environment values").
    Never converted: ``1e-3`` comes back as 0.001, which is not the text that was written."""

    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(f'empty (read as null); {what} are strings: write "" for an empty one')
        if isinstance(value, bool | int | float):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            raise ValueError(f"{shown} was read as {kind_of(value)}; {what} are strings: quote it as written")
        return value

    return Annotated[plain, BeforeValidator(check)]


def kind_of(value: Any) -> str:
    """What a value is, in a spec's words (a YAML or JSON reader's types)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


class ReadBackKeepsKnownFields(BaseModel):
    """A model the stores keep. Read back (``STORED``), it drops the fields it does not know
    instead of refusing them: those a newer version wrote, when the stack was rolled back
    after an upgrade (CloudFormation rolls a failed update back on its own) and this
    version reads the newer one's items. As input, an unknown field is refused as before."""

    @model_validator(mode="before")
    @classmethod
    def _drop_fields_a_newer_version_wrote(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not read_back(info) or cls.model_config.get("extra") != "forbid":
            return data
        return {name: value for name, value in data.items() if name in cls.model_fields}


class StrictScalars(ReadBackKeepsKnownFields):
    """Takes a number, a boolean and a string only as what they were written as, as the API's
    published schema (``openapi.json``) says and YAML reads them: pydantic's lax mode took
    ``"10"`` for ``max_trials`` (a JSON client's string, a quoted YAML value), ``true`` for a
    number (YAML's ``yes``, ``on``: ``max_trials: yes`` ran one trial) and ``"yes"`` or ``1`` for
    a boolean. Each is refused naming its field, everywhere a spec comes in (API, ``validate``,
    ``Study``); a number written with a zero fraction (``10.0``) is still an integer, as in
    JSON Schema. A model validator, not a ``"*"`` field one: pydantic allows none on a union's
    tag (``type``).

    In a model that forbids extra fields, an unknown one is refused naming the field it
    was likely meant to be (``budget.max_trial: unknown field; did you mean max_trials?``)
    or, with none close, the fields the block takes, rather than pydantic's bare "Extra
    inputs are not permitted"."""

    @model_validator(mode="before")
    @classmethod
    def _scalars_as_written(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or read_back(info):  # strategy options are stored as given
            return data
        errors: list[Any] = []
        whole: dict[str, int] = {}
        forbids_extra = cls.model_config.get("extra") == "forbid"
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None and forbids_extra:
                errors.append({**unknown_field(name, list(cls.model_fields)), "input": value})
            if field is None:
                continue
            kinds = scalar_kinds(field.annotation)
            if kinds - {type(None)} == {int} and is_past_int64(value):
                whole[name] = int(value)  # checked against the field's bound as what it is
            if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
                errors.append({"type": "int_type" if int in kinds else "float_type", "loc": (name,), "input": value})
            elif (reason := miswritten(value, kinds)) is not None:
                errors.append({"type": "value_error", "loc": (name,), "input": value, "ctx": {"error": reason}})
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return {**data, **whole} if whole else data


def is_past_int64(value: Any) -> bool:
    """Whether ``value`` is a float past pydantic's integer range (2^63): a whole number
    (``max_trials: 1e20``) that pydantic refuses for an integer field with "Unable to parse
    input string as an integer, exceeded maximum size", where a smaller one (``1e18``) gets
    the field's bound."""
    return isinstance(value, float) and math.isfinite(value) and abs(value) >= 2**63


def scalar_kinds(annotation: Any) -> set[Any]:
    """The types a field's annotation allows, ``Optional`` and ``Annotated`` unwrapped
    (``Annotated[int, ...] | None``: ``{int, NoneType}``); a generic or a model as itself."""
    kinds = set(get_args(annotation)) if get_origin(annotation) in (Union, UnionType) else {annotation}
    return {get_args(kind)[0] if get_origin(kind) is Annotated else kind for kind in kinds}


def miswritten(value: Any, kinds: set[Any]) -> str | None:
    """Why ``value`` is not what a field of only numbers or only booleans (``kinds``, None
    aside) takes as written, or None: a string for either, a number for a boolean."""
    written = kinds - {type(None)}
    if not written:
        return None
    if written <= {int, float} and isinstance(value, str):
        number = "an integer" if written == {int} else "a number"
        return f"should be {number}, not a string ({value[:20]!r}): a number is written without quotes"
    if written == {bool} and isinstance(value, str | int | float) and not isinstance(value, bool):
        shown = f"a string ({value[:20]!r})" if isinstance(value, str) else f"a number ({value!r})"
        return f"should be true or false, not {shown}: a boolean is written without quotes"
    return None


def unknown_field(name: Any, known: list[str]) -> dict[str, Any]:
    """The error (a pydantic line error, less its input) of a field ``name`` no model field
    is: the known ones it is close to, or all. The name is shown clipped to ``SHOWN_CHARS``
    characters (any key a caller sends: a 900 KB one came back whole)."""
    import difflib  # only on an error: not on every cold start's import path

    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.8)
    if close:
        reason = f"unknown field; did you mean {' or '.join(close)}?"
    else:
        shown = ", ".join(known[:MAX_NAMED]) + (", ..." if len(known) > MAX_NAMED else "")
        reason = f"unknown field (known: {shown or 'none'})"
    return {"type": "value_error", "loc": (clipped(str(name), SHOWN_CHARS),), "ctx": {"error": reason}}


MAX_NAMED = 12
"""Fields an unknown field's error lists at most (a SageMaker block has some 30)."""


class SpecModel(StrictScalars):
    # NaN and infinity are no valid target, runtime or size (and no JSON store keeps them).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class MetricDefinition(SpecModel):
    """A metric a training script prints, matched like SageMaker's ``MetricDefinitions``."""

    name: str = Field(min_length=1, max_length=255)
    regex: str = Field(min_length=1, max_length=500)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str, info: ValidationInfo) -> str:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if pattern.groups < 1:
            raise ValueError("the regex needs one capture group for the value")
        if not read_back(info) and (why := nested_repeat(regex)) is not None:  # a rule that came later, too
            raise ValueError(
                f"{why}, which can backtrack for minutes on one printed line that almost matches;"
                " make the inner repeat's end distinct from the part's start, or make it possessive: (?:...)++"
            )
        if reads_no_number(regex) and not read_back(info):  # a rule that came later: stored jobs stay readable
            raise ValueError(
                f"the value is read from the first capture group, ({first_group(regex)}), which matches no number;"
                " make the other groups non-capturing: (?:...)"
            )
        return regex


class TrialBlockBase(SpecModel):
    """The fields every backend's ``trial`` block has; each block adds ``backend: Literal[name]``
    (the union's tag) and its own."""

    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    timeout_seconds: int = Field(default=3600, ge=1, le=28 * 24 * 3600)
    cost_per_hour: float | None = Field(default=None, gt=0, le=100_000)
    """Dollars per hour one trial costs (per instance on SageMaker): how a local trial is
    priced, and on AWS a price of your own instead of the list price (``hyperstep.pricing``)."""

    @field_validator("metric_definitions")
    @classmethod
    def _one_definition_per_metric(
        cls, definitions: list[MetricDefinition], info: ValidationInfo
    ) -> list[MetricDefinition]:
        if read_back(info):  # a rule that came later: a job stored before it stays readable
            return definitions
        names = [d.name for d in definitions]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise ValueError(f"{twice!r} is defined twice: which regex gives its value?")
        return definitions

    def rate(self, usage: Usage | None, region: str | None) -> Rate | None:
        """What one trial costs per hour: from what it used (``usage``, when it has ended)
        or else from this block's settings; None when it cannot be priced. By default,
        ``cost_per_hour``."""
        return None if self.cost_per_hour is None else own_rate(self.cost_per_hour, "trial")

    def running_limit_seconds(self) -> int:
        """The longest a trial may run after its launch before its platform ends it itself:
        the reaper times out (fails and stops) one its platform says still runs only past
        this and its grace. By default ``timeout_seconds``."""
        return self.timeout_seconds

    def billed_limit_seconds(self) -> int:
        """The longest one trial is billed for: what the dollar budget takes a trial to cost,
        at its rate, before any trial is priced. By default ``running_limit_seconds``."""
        return self.running_limit_seconds()

    def check_objective(self, metric: str) -> None:
        """Refuse an objective no trial of this backend measures (raise ValueError); the
        spec calls it with ``objective.metric``. By default a metric is measured when one of
        ``metric_definitions`` names it."""
        names = [m.name for m in self.metric_definitions]
        if metric not in names:
            raise ValueError(
                f"objective.metric: {metric!r} is not produced by any "
                f"trial.metric_definitions entry (have: {', '.join(names) or 'none'})"
            )

    def check_priced(self) -> None:
        """Refuse (ValueError) a block whose trials cannot be priced, for a job with a dollar
        budget; by default a block is priced when ``rate`` knows its price before any run."""
        if self.rate(None, None) is None:
            raise ValueError(
                "budget.max_cost_usd: needs each trial's price: set trial.cost_per_hour (dollars per hour)"
            )

    def check_hyperparameters(self, parameters: list[Any]) -> None:
        """Refuse a search space no trial of this backend could take (raise ValueError);
        the spec calls it with its ``parameters``. Every space fits by default."""

    def check_guardrails(self, guardrails: Guardrails) -> None:
        """Refuse (``GuardrailError``, via ``guardrails``' checks) a field outside the
        deployment's guardrails; ``Guardrails.check`` calls it. A block with nothing to
        check (a local trial) passes by default."""
