"""Search space: parameter definitions and their encoding to the unit cube.

Every strategy works on the unit cube ``[0, 1]^d``: a float or int parameter takes one
dimension (log-scaled ones are encoded in log space, reverse-log ones in ``log(1 - x)``),
a categorical one takes one dimension per choice (one-hot). ``SearchSpace.encode`` and
``decode`` are inverse up to rounding, so a strategy never needs to know what a
parameter means.

A parameter with ``when: {parent: [values]}`` is active only while every named parent is
active and takes one of the listed values (a search tree: a kernel's own parameters).
An inactive parameter is absent from decoded configurations; its columns hold a fixed
filler (``INACTIVE_NUMERIC``, or an all-zero one-hot block), so each configuration has
exactly one encoding and duplicates differing only in inactive values cannot arise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hyperstep import conditions
from hyperstep.messages import SHOWN_CHARS, clipped, shown
from hyperstep.spec_base import MAX_JSON_INT, ReadBackKeepsKnownFields, StrictScalars, kind_of, read_back

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"
MAX_EXACT_INT = 2**53
"""Int bounds are encoded as floats, which hold every integer up to 2**53 exactly."""
INACTIVE_NUMERIC = 0.5
"""The encoding of an inactive float or int parameter (an inactive categorical's one-hot block is all zeros)."""


def _plain_choice(value: Any, info: ValidationInfo) -> Any:
    """A choice is a JSON scalar a program argument can carry; say so (naming what it is, not
    showing it as Python would: None, {'a': 1}) rather than list every union member's
    complaint. (A NUL, refused since, is left to a spec read back from a store.)"""
    if not isinstance(value, bool | int | float | str):
        raise ValueError(f"a choice must be a string, number or boolean, not {kind_of(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a choice must be a finite number, got {value}")
    if isinstance(value, str) and "\x00" in value and not read_back(info):
        raise ValueError("a choice cannot hold a NUL character (no program argument can)")
    # JSON has one number type: 1e300 is the whole number 10**300 too, and the schema says so
    if isinstance(value, int | float) and abs(value) > MAX_JSON_INT and not read_back(info):
        raise ValueError(
            f"a number choice is at most {MAX_JSON_INT} either side of 0 (past it every number is a"
            f" whole one, which a JSON client may read back rounded), got {value}: quote it as text"
        )
    return value


def _publish_choice_rules(schema: dict[str, Any]) -> None:
    """A choice's options with ``_plain_choice``'s rules: the integer and number options its
    bounds (JSON Schema's ``number`` takes integers too: unbounded, it took the ones the API
    refuses), the string option its refusal of a NUL."""
    for option in schema.get("anyOf", []):
        if option.get("type") in ("integer", "number"):
            option.update(minimum=-MAX_JSON_INT, maximum=MAX_JSON_INT)
        if option.get("type") == "string":
            option["pattern"] = "^[^\\u0000]*$"


Choice = Annotated[
    Union[bool, int, float, str],
    BeforeValidator(_plain_choice),
    Field(json_schema_extra=_publish_choice_rules),
]


class _Parameter(StrictScalars):
    # NaN and infinity in bounds or choices would break the encoding (and JSON stores).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=NAME_PATTERN)
    when: dict[str, Annotated[list[Choice], Field(min_length=1)]] | None = Field(
        default=None, min_length=1, exclude_if=lambda when: when is None
    )
    """Active only while every named parent takes one of the listed values (``SearchSpace``).
    Left out of dumps when unset, so a spec without conditions reads as it always did."""

    @property
    def width(self) -> int:
        """How many unit-cube dimensions this parameter takes."""
        return 1

    def encode(self, value: Any) -> list[float]:
        raise NotImplementedError

    def encode_values(self, values: list[Any]) -> np.ndarray:
        """``encode`` of each value, as rows (a column block of ``SearchSpace.encode_many``)."""
        return np.array([self.encode(value) for value in values], dtype=float).reshape(len(values), self.width)


class _NumericParameter(_Parameter):
    scale: Literal["linear", "log", "reverse_log"] = "linear"
    """``log`` is dense near ``low`` (needs ``low > 0``); ``reverse_log`` is dense near ``high``
    (SageMaker's ReverseLogarithmic: a float range inside ``[0, 1)``, encoded as ``-log(1 - x)``)."""

    @model_validator(mode="after")
    def _check_bounds(self) -> _NumericParameter:
        if not self.low < self.high:  # type: ignore[attr-defined]
            hint = "; for a constant, use a categorical with one choice" if self.low == self.high else ""  # type: ignore[attr-defined]
            raise ValueError(f"low ({self.low}) must be less than high ({self.high}){hint}")  # type: ignore[attr-defined]
        if self.scale == "log" and self.low <= 0:  # type: ignore[attr-defined]
            raise ValueError(f"a log scale needs low > 0, got low={self.low}")  # type: ignore[attr-defined]
        if self.scale == "reverse_log" and not 0 <= self.low < self.high < 1:  # type: ignore[attr-defined]
            bounds = f"low={self.low}, high={self.high}"  # type: ignore[attr-defined]
            raise ValueError(f"a reverse_log scale needs a float range with 0 <= low < high < 1, got {bounds}")
        if not math.isfinite(float(self.high) - float(self.low)):  # type: ignore[attr-defined]
            raise ValueError("the range from low to high is too wide to encode (high - low overflows)")
        return self

    def _span(self) -> tuple[float, float]:
        """The encoded interval in the parameter's own scale (log for log scale)."""
        raise NotImplementedError

    def encoded_span(self) -> tuple[float, float]:
        """The interval the unit interval stands for, in the parameter's own scale (its
        log on a log scale, ``-log(1 - x)`` on reverse_log)."""
        return self._span()

    def _forward(self, value: float) -> float:
        if self.scale == "log":
            return math.log(value)
        return -math.log1p(-value) if self.scale == "reverse_log" else float(value)

    def _backward(self, value: float) -> float:
        if self.scale == "log":
            return math.exp(value)
        return -math.expm1(-value) if self.scale == "reverse_log" else float(value)

    def encode(self, value: Any) -> list[float]:
        return self.encode_values([value])[0].tolist()

    def encode_values(self, values: list[Any]) -> np.ndarray:
        """The column at once (every Suggest encodes every trial): ``_forward`` per value,
        then the same float64 arithmetic as one value's, on the array."""
        lo, hi = self._span()
        floats = map(float, values)
        if self.scale == "linear":
            raw = np.fromiter(floats, dtype=float, count=len(values))
        elif self.scale == "log":  # ``_forward`` unrolled: a Suggest of a long job encodes thousands
            raw = np.fromiter(map(math.log, floats), dtype=float, count=len(values))
        else:
            raw = np.fromiter((self._forward(value) for value in floats), dtype=float, count=len(values))
        return np.minimum(1.0, np.maximum(0.0, (raw - lo) / (hi - lo))).reshape(len(values), 1)

    def contains(self, value: Any) -> bool:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return numeric and self.low <= value <= self.high  # type: ignore[attr-defined]

    def value_of(self, value: Any) -> Any:
        """``value`` as this parameter takes it, or a ``ValueError`` saying why not."""
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{value!r} is not a number")
        if not self.low <= value <= self.high:  # type: ignore[attr-defined]
            raise ValueError(f"{value!r} is outside [{self.low}, {self.high}]")  # type: ignore[attr-defined]
        return float(value)

    def _raw(self, u: float) -> float:
        lo, hi = self._span()
        return self._backward(lo + min(1.0, max(0.0, float(u))) * (hi - lo))


class FloatParameter(_NumericParameter):
    """A real-valued parameter in ``[low, high]``."""

    type: Literal["float"]
    low: float
    high: float

    def _span(self) -> tuple[float, float]:
        return self._forward(self.low), self._forward(self.high)

    def decode(self, u: np.ndarray) -> float:
        """The value at ``u``; a bound exactly at the cube's ends (a log scale's round trip
        gave ``999.9999999999998`` for ``high: 1000``)."""
        if u[0] >= 1.0:
            return self.high
        if u[0] <= 0.0:
            return self.low
        return min(self.high, max(self.low, self._raw(u[0])))


class IntParameter(_NumericParameter):
    """An integer parameter in ``[low, high]``, both included.

    Each integer owns an equal share of the unit interval (``[k - 0.5, k + 0.5]`` in
    its scale), so uniform sampling on the cube is uniform over the integers.
    """

    type: Literal["int"]
    low: int = Field(ge=-MAX_EXACT_INT, le=MAX_EXACT_INT)
    high: int = Field(ge=-MAX_EXACT_INT, le=MAX_EXACT_INT)

    def _span(self) -> tuple[float, float]:
        return self._forward(self.low - 0.5), self._forward(self.high + 0.5)

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def value_of(self, value: Any) -> int:
        """``value`` as an int (``3.0`` is 3, as a DataFrame's column with a gap holds it)."""
        number = super().value_of(value)
        if not number.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        return int(value)

    def decode(self, u: np.ndarray) -> int:
        return int(min(self.high, max(self.low, round(self._raw(u[0])))))

    def matches(self, block: np.ndarray, values: list[Any]) -> np.ndarray:
        """Which rows of this parameter's encoded column decode to one of ``values``."""
        lo, hi = self._span()
        t = lo + np.clip(block[:, 0], 0.0, 1.0) * (hi - lo)
        k = np.clip(np.round(np.exp(t) if self.scale == "log" else t), self.low, self.high)
        return np.isin(k, np.array(values, dtype=float))


class CategoricalParameter(_Parameter):
    """One of a list of choices, encoded one-hot."""

    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1, json_schema_extra={"uniqueItems": True})  # as ``_unique`` refuses

    @field_validator("choices")
    @classmethod
    def _unique(cls, choices: list[Choice], info: ValidationInfo) -> list[Choice]:
        keys = [repr(c) for c in choices]
        if len(set(keys)) != len(keys):
            twice = next(c for i, c in enumerate(choices) if keys[i] in keys[:i])
            yaml = " (YAML reads yes, on and true as True, no, off and false as False: quote them for text)"
            hint = yaml if isinstance(twice, bool) else ""
            raise ValueError(f"choices must be unique: {twice!r} is given twice{hint}")
        if read_back(info):
            return choices  # the rule below came later: a job stored before it stays readable
        seen: dict[str, Choice] = {}
        for choice in choices:  # a script (SageMaker's too) reads every value as text
            first = seen.setdefault(str(choice), choice)
            if first is not choice:
                both = f"{first!r} and {choice!r} are both --{info.data.get('name', 'name')} {choice}"
                raise ValueError(f"choices must be unique as a script reads them: {both}")
        numbers: dict[float, Choice] = {}
        for choice in choices:  # -0.0 and 0.0 were one choice to ``index`` (the other never ran, a grid ran one twice)
            if isinstance(choice, int | float) and not isinstance(choice, bool):
                first = numbers.setdefault(float(choice), choice)
                if first is not choice:
                    raise ValueError(f"choices must be unique: {first!r} and {choice!r} are the same number")
        return choices

    @property
    def width(self) -> int:
        return len(self.choices)

    @cached_property
    def _positions(self) -> dict[tuple[type, Choice], int]:
        """Each choice's position by its type and value: ``index``'s exact match in one lookup."""
        return {(type(choice), choice): i for i, choice in enumerate(self.choices)}

    def index(self, value: Any) -> int:
        """The position of the choice ``value`` is: the one of its type and value, else one
        equal to it or read the same by a script (``"1"`` for ``1``), else a bool Python
        holds equal to a number (``True`` for ``1``: only when no choice is nearer)."""
        try:
            return self._positions[(type(value), value)]
        except (KeyError, TypeError):  # TypeError: an unhashable value, which no choice is
            pass
        for i, choice in enumerate(self.choices):
            if (choice == value and isinstance(choice, bool) is isinstance(value, bool)) or str(choice) == str(value):
                return i
        for i, choice in enumerate(self.choices):
            if choice == value:
                return i
        raise ValueError(f"{value!r} is not one of {self.choices}")

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def value_of(self, value: Any) -> Choice:
        """The choice ``value`` names (``ValueError`` if none)."""
        return self.choices[self.index(value)]

    def encode(self, value: Any) -> list[float]:
        onehot = [0.0] * len(self.choices)
        onehot[self.index(value)] = 1.0
        return onehot

    def decode(self, u: np.ndarray) -> Choice:
        return self.choices[int(np.argmax(u))]

    def matches(self, block: np.ndarray, values: list[Any]) -> np.ndarray:
        """Which rows of this parameter's one-hot block (snapped) hold one of ``values``."""
        return block[:, [self.index(v) for v in values]].sum(1) > 0.5


Parameter = Annotated[FloatParameter | IntParameter | CategoricalParameter, Field(discriminator="type")]


def unique_names(parameters: list[Parameter], info: ValidationInfo) -> list[Parameter]:
    """The parameters, if no two share a name and their conditions form a tree (a pydantic
    field validator; ``conditions.check``, with the rules that came later skipped for a
    space read back from a store)."""
    seen: set[str] = set()
    for p in parameters:
        if p.name in seen:
            raise ValueError(f"duplicate parameter name {p.name!r}")
        seen.add(p.name)
    conditions.check(parameters, stored=read_back(info))
    return parameters


LONGEST_NUMBER = -1.2345678901234567e-100
"""A number whose JSON is as long as a float's can be (24 characters): what a float or int
parameter's value stands as in ``largest_config``."""


def largest_config(parameters: list[Parameter]) -> dict[str, Any]:
    """Every parameter at its value of the longest JSON (a categorical's longest choice, a
    number as ``LONGEST_NUMBER``): no trial of the space gets a larger configuration, so a
    limit this one fits (a store item's, a launch request's) every trial fits."""
    return {
        p.name: max(p.choices, key=config_bytes) if isinstance(p, CategoricalParameter) else LONGEST_NUMBER
        for p in parameters
    }


def config_bytes(value: Any) -> int:
    """The bytes of ``value`` (a configuration, or one value of it) as a store keeps it: JSON in UTF-8."""
    return len(json.dumps(value, ensure_ascii=False).encode())


class SearchSpace(ReadBackKeepsKnownFields):
    """An ordered list of parameters with unique names, some of them conditional (``when``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: list[Parameter] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _unique_names(cls, parameters: list[Parameter], info: ValidationInfo) -> list[Parameter]:
        return unique_names(parameters, info)

    @property
    def dim(self) -> int:
        """Dimension of the unit-cube encoding."""
        return sum(p.width for p in self.parameters)

    @cached_property
    def conditional(self) -> bool:
        """Whether some parameter has a ``when``: the space is a tree, not a box."""
        return any(p.when for p in self.parameters)

    @cached_property
    def _order(self) -> list[int]:
        return conditions.parents_first(self.parameters)

    @cached_property
    def inactive_fill(self) -> np.ndarray:
        """The encoding's value in each column of an inactive parameter."""
        return np.array(
            [
                0.0 if isinstance(p, CategoricalParameter) else INACTIVE_NUMERIC
                for p in self.parameters
                for _ in range(p.width)
            ]
        )

    def slices(self) -> list[slice]:
        """The columns of the encoding that belong to each parameter, in order."""
        out, start = [], 0
        for p in self.parameters:
            out.append(slice(start, start + p.width))
            start += p.width
        return out

    @cached_property
    def rules(self) -> list[conditions.Rule]:
        """Each parameter's conditions, parents first, as ``conditions.rules`` reads them."""
        return conditions.rules(self.parameters, self._order)

    def active_names(self, params: dict[str, Any]) -> set[str]:
        """The parameters active in ``params`` (a parent's value decides; an absent parent is inactive)."""
        return conditions.active_names(self.parameters, self.rules, params)

    def activity(self, X: np.ndarray) -> np.ndarray:
        """Which parameters are active at each row of snapped encodings, shape ``(n, len(parameters))``."""
        X = np.atleast_2d(X)
        if not self.conditional:
            return np.ones((len(X), len(self.parameters)), dtype=bool)
        return conditions.activity(self.parameters, self._order, self.slices(), X)

    def active_columns(self, X: np.ndarray) -> np.ndarray:
        """``activity`` spread over each parameter's columns, shape ``(n, dim)``."""
        widths = [p.width for p in self.parameters]
        return np.repeat(self.activity(X), widths, axis=1)

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        """Map a parameter dict to a point of the unit cube (inactive parameters to their filler)."""
        if self.conditional:
            return self.encode_many([params])[0]
        return np.array([u for p in self.parameters for u in p.encode(params[p.name])], dtype=float)

    def encode_many(self, many: list[dict[str, Any]]) -> np.ndarray:
        """``encode`` of each parameter dict, as rows; column by column, since a Suggest
        encodes every trial of its job."""
        if not self.conditional:
            return np.hstack([p.encode_values([params[p.name] for params in many]) for p in self.parameters])
        active = [self.active_names(params) for params in many]
        blocks = []
        for p, cols in zip(self.parameters, self.slices()):
            block = np.tile(self.inactive_fill[cols], (len(many), 1))
            rows = [i for i, names in enumerate(active) if p.name in names]
            if rows:
                block[rows] = p.encode_values([many[i][p.name] for i in rows])
            blocks.append(block)
        return np.hstack(blocks)

    def decode(self, x: np.ndarray, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
        """Map a point of the unit cube to plain Python values of the active parameters;
        ``fixed`` values (an enqueued point's, ``partial_configuration``) replace the point's
        before the conditions are read, so they decide which of the others are active."""
        x = np.asarray(x, dtype=float)
        values = {p.name: p.decode(x[s]) for p, s in zip(self.parameters, self.slices())}
        if fixed:
            values.update(fixed)
        if not self.conditional:
            return values
        active = self.active_names(values)
        return {name: value for name, value in values.items() if name in active}

    def round(self, x: np.ndarray) -> np.ndarray:
        """Snap a point to the encoding of the parameters it decodes to."""
        return self.encode(self.decode(x))

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether ``params`` sets exactly this space's active parameters, each to a valid value."""
        try:
            self.configuration(params)
        except ValueError:
            return False
        return True

    def configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` as a configuration of this space (each value as its parameter takes it:
        ``value_of``), or a ``ValueError`` naming the first parameter at fault and why:
        unknown, a bad value, missing while active, or set while its condition does not hold."""
        values = self._values_of(params)
        try:
            active = self.active_names(values)
        except KeyError as missing:  # a parent of an active parameter
            raise ValueError(f"params.{missing.args[0]}: missing (it is active here)") from None
        for p in self.parameters:
            if p.name in active and p.name not in values:
                raise ValueError(f"params.{p.name}: missing (it is active here)")
            if p.name in values and p.name not in active:
                raise ValueError(f"params.{p.name}: set, but inactive here (when: {p.when}); leave it out")
        return {p.name: values[p.name] for p in self.parameters if p.name in values}

    def partial_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` as some of this space's parameters fixed (an enqueued point, Optuna's
        ``enqueue_trial``: the rest come from the strategy), or a ``ValueError`` naming the
        first at fault: unknown, a bad value, or a conditional parameter whose condition
        does not hold among the values given (its parents must be given too)."""
        values = self._values_of(params)
        for p in self.parameters:
            for parent in (p.when or {}) if p.name in values else ():
                if parent not in values:
                    raise ValueError(f"params.{p.name}: conditional (when: {p.when}): give {parent} too")
        given = [rule for rule in self.rules if rule[0] in values]
        active = conditions.active_names(self.parameters, given, values)
        for p in self.parameters:
            if p.name in values and p.name not in active:
                raise ValueError(f"params.{p.name}: set, but inactive here (when: {p.when}); leave it out")
        return {p.name: values[p.name] for p in self.parameters if p.name in values}

    def _values_of(self, params: dict[str, Any]) -> dict[str, Any]:
        """Each of ``params`` as its parameter takes it (``value_of``; a numpy scalar, from a
        DataFrame or an array, as Python's), or a ``ValueError`` naming the first unknown name
        or bad value."""
        if not isinstance(params, Mapping):  # a list or a string was an AttributeError on ``.items``
            raise TypeError(f"params: a mapping of parameter names to values, got {shown(params)}")
        by_name = {p.name: p for p in self.parameters}
        values = {}
        for name, value in params.items():
            if name not in by_name:
                unknown = clipped(str(name), SHOWN_CHARS)
                raise ValueError(f"params.{unknown}: not a parameter of this space ({', '.join(by_name)})")
            try:
                values[name] = by_name[name].value_of(value.item() if isinstance(value, np.generic) else value)
            except ValueError as bad:
                raise ValueError(f"params.{name}: {bad}") from None
        return values

    def key(self, params: dict[str, Any]) -> tuple:
        """A hashable identity of a configuration, for duplicate checks (inactive ones count as absent)."""
        return tuple(repr(params[p.name]) if p.name in params else "<inactive>" for p in self.parameters)
