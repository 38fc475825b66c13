"""Search space: parameter definitions and their encoding to the unit cube.

Every strategy works on the unit cube ``[0, 1]^d``: a float or int parameter takes one
dimension (log-scaled ones are encoded in log space), a categorical one takes one
dimension per choice (one-hot). ``SearchSpace.encode`` and ``decode`` are inverse up
to rounding, so a strategy never needs to know what a parameter means.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"
MAX_EXACT_INT = 2**53
"""Int bounds are encoded as floats, which hold every integer up to 2**53 exactly."""


class _Parameter(BaseModel):
    # NaN and infinity in bounds or choices would break the encoding (and JSON stores).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=NAME_PATTERN)

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
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _check_bounds(self) -> _NumericParameter:
        if not self.low < self.high:  # type: ignore[attr-defined]
            hint = "; for a constant, use a categorical with one choice" if self.low == self.high else ""  # type: ignore[attr-defined]
            raise ValueError(f"low ({self.low}) must be less than high ({self.high}){hint}")  # type: ignore[attr-defined]
        if self.scale == "log" and self.low <= 0:  # type: ignore[attr-defined]
            raise ValueError(f"a log scale needs low > 0, got low={self.low}")  # type: ignore[attr-defined]
        if not math.isfinite(float(self.high) - float(self.low)):  # type: ignore[attr-defined]
            raise ValueError("the range from low to high is too wide to encode (high - low overflows)")
        return self

    def _span(self) -> tuple[float, float]:
        """The encoded interval in the parameter's own scale (log for log scale)."""
        raise NotImplementedError

    def _forward(self, value: float) -> float:
        return math.log(value) if self.scale == "log" else float(value)

    def _backward(self, value: float) -> float:
        return math.exp(value) if self.scale == "log" else float(value)

    def encode(self, value: Any) -> list[float]:
        return self.encode_values([value])[0].tolist()

    def encode_values(self, values: list[Any]) -> np.ndarray:
        """The column at once (every Suggest encodes every trial): ``_forward`` per value,
        then the same float64 arithmetic as one value's, on the array."""
        lo, hi = self._span()
        forward = math.log if self.scale == "log" else float
        raw = np.fromiter((forward(float(value)) for value in values), dtype=float, count=len(values))
        return np.minimum(1.0, np.maximum(0.0, (raw - lo) / (hi - lo))).reshape(len(values), 1)

    def contains(self, value: Any) -> bool:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return numeric and self.low <= value <= self.high  # type: ignore[attr-defined]

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

    def decode(self, u: np.ndarray) -> int:
        return int(min(self.high, max(self.low, round(self._raw(u[0])))))


def _plain_choice(value: Any) -> Any:
    """A choice is a JSON scalar; say so rather than list every union member's complaint."""
    if not isinstance(value, bool | int | float | str):
        raise ValueError(f"a choice must be a string, number or boolean, got {value!r}")
    return value


Choice = Annotated[Union[bool, int, float, str], BeforeValidator(_plain_choice)]


class CategoricalParameter(_Parameter):
    """One of a list of choices, encoded one-hot."""

    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _unique(cls, choices: list[Choice]) -> list[Choice]:
        keys = [repr(c) for c in choices]
        if len(set(keys)) != len(keys):
            raise ValueError("choices must be unique")
        return choices

    @property
    def width(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            if type(choice) is type(value) and choice == value:
                return i
        for i, choice in enumerate(self.choices):
            if choice == value or str(choice) == str(value):
                return i
        raise ValueError(f"{value!r} is not one of {self.choices}")

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def encode(self, value: Any) -> list[float]:
        onehot = [0.0] * len(self.choices)
        onehot[self.index(value)] = 1.0
        return onehot

    def decode(self, u: np.ndarray) -> Choice:
        return self.choices[int(np.argmax(u))]


Parameter = Annotated[FloatParameter | IntParameter | CategoricalParameter, Field(discriminator="type")]


def unique_names(parameters: list[Parameter]) -> list[Parameter]:
    """The parameters, if no two share a name (a pydantic field validator)."""
    seen: set[str] = set()
    for p in parameters:
        if p.name in seen:
            raise ValueError(f"duplicate parameter name {p.name!r}")
        seen.add(p.name)
    return parameters


class SearchSpace(BaseModel):
    """An ordered list of parameters with unique names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: list[Parameter] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _unique_names(cls, parameters: list[Parameter]) -> list[Parameter]:
        return unique_names(parameters)

    @property
    def dim(self) -> int:
        """Dimension of the unit-cube encoding."""
        return sum(p.width for p in self.parameters)

    def slices(self) -> list[slice]:
        """The columns of the encoding that belong to each parameter, in order."""
        out, start = [], 0
        for p in self.parameters:
            out.append(slice(start, start + p.width))
            start += p.width
        return out

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        """Map a parameter dict to a point of the unit cube."""
        return np.array([u for p in self.parameters for u in p.encode(params[p.name])], dtype=float)

    def encode_many(self, many: list[dict[str, Any]]) -> np.ndarray:
        """``encode`` of each parameter dict, as rows; column by column, since a Suggest
        encodes every trial of its job."""
        return np.hstack([p.encode_values([params[p.name] for params in many]) for p in self.parameters])

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """Map a point of the unit cube to plain Python parameter values."""
        x = np.asarray(x, dtype=float)
        return {p.name: p.decode(x[s]) for p, s in zip(self.parameters, self.slices())}

    def round(self, x: np.ndarray) -> np.ndarray:
        """Snap a point to the encoding of the parameters it decodes to."""
        return self.encode(self.decode(x))

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether ``params`` sets exactly this space's parameters, each to a valid value."""
        names = {p.name for p in self.parameters}
        return set(params) == names and all(p.contains(params[p.name]) for p in self.parameters)

    def key(self, params: dict[str, Any]) -> tuple:
        """A hashable identity of a configuration, for duplicate checks."""
        return tuple(repr(params[p.name]) for p in self.parameters)
