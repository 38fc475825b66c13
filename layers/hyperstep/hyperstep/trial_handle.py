"""The trial ``Study.optimize`` gives its objective: Optuna's ``suggest_*``, ``report`` and
``should_prune`` over a trial ``ask`` proposed.

The space is declared up front (the spec's ``parameters``, ``Study(space=...)``): a
``suggest_*`` call returns the value the strategy proposed for its name, once the call
declares the parameter as the space does (type, bounds, log, step, choices). A call that
declares it otherwise, names no parameter of the space, or asks for one inactive under its
condition is a bug in the objective: a ``ValueError`` saying what differs. Nothing is
inferred from the calls, as Optuna's define-by-run would: the strategy proposed every value
before the objective ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperstep.space import CategoricalParameter, Parameter

if TYPE_CHECKING:
    from hyperstep.models import Trial
    from hyperstep.study import Study

Declaration = tuple[Any, ...]
"""How a parameter is declared: ``("categorical", choices)``, or ``(type, low, high, scale,
step)`` (``step`` None for a float, which the space never steps; 1 for an int)."""


def declared(parameter: Parameter) -> Declaration:
    """How the space declares ``parameter``, in the terms of a ``suggest_*`` call."""
    if isinstance(parameter, CategoricalParameter):
        return ("categorical", list(parameter.choices))
    step = 1 if parameter.type == "int" else None
    return (parameter.type, parameter.low, parameter.high, parameter.scale, step)


def exact(declaration: Declaration) -> Declaration:
    """``declaration`` with each choice as its type and value: ``[1, 0]`` is not ``[True, False]``
    and ``[1.0, 2.0]`` not ``[1, 2]`` (Python holds them equal), as the space's ``index`` tells
    them apart; a numpy scalar is taken as Python's (``suggest_categorical("k", np.arange(3))``)."""
    if declaration[0] != "categorical":
        return declaration
    choices = [c.item() if isinstance(c, np.generic) else c for c in declaration[1]]
    return ("categorical", [(type(c), c) for c in choices])


def described(declaration: Declaration) -> str:
    """``declaration`` in words: ``float in [0.0001, 0.1], log``, ``categorical ['relu', 'tanh']``."""
    if declaration[0] == "categorical":
        return f"categorical {declaration[1]!r}"
    kind, low, high, scale, step = declaration
    scaled = "" if scale == "linear" else f", {scale}"
    stepped = "" if step is None else f", step {step}"
    return f"{kind} in [{low}, {high}]{scaled}{stepped}"


class TrialHandle:
    """One trial of ``Study.optimize``, as its objective sees it (Optuna's ``Trial``).

    Every field of the asked ``Trial`` reads through (``number``, ``id``, ``job_id``, ``params``:
    every value the strategy proposed, ``report_key``...), so an objective that reads
    ``trial.params[...]`` or passes the trial to ``Study.report`` and ``Study.tell`` works as it
    did with the ``Trial`` itself."""

    def __init__(self, study: Study, trial: Trial) -> None:
        self._study = study
        self._trial = trial
        self._stop = False

    def __getattr__(self, name: str) -> Any:
        """A field of the asked ``Trial``, as an objective read it when ``optimize`` gave it the ``Trial``."""
        if name.startswith("_"):  # not set yet (a copy, an unpickling): no recursion into _trial
            raise AttributeError(name)
        return getattr(self._trial, name)

    def __repr__(self) -> str:
        return f"TrialHandle(number={self.number}, params={self.params!r})"

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """The strategy's value for the float parameter ``name``, declared as in the space."""
        return self._suggested("suggest_float", name, ("float", low, high, "log" if log else "linear", step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """The strategy's value for the int parameter ``name``, declared as in the space."""
        return self._suggested("suggest_int", name, ("int", low, high, "log" if log else "linear", step))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """The strategy's choice for the categorical parameter ``name``, its choices as in the space's."""
        return self._suggested("suggest_categorical", name, ("categorical", list(choices)))

    def _suggested(self, call: str, name: str, declaration: Declaration) -> Any:
        """``params[name]``, once the call's ``declaration`` is the space's and ``name`` is active."""
        space = self._study.space
        by_name = {p.name: p for p in space.parameters}
        up_front = "the space is declared up front (the spec's parameters or Study(space=...))"
        if name not in by_name:
            raise ValueError(
                f"{call}({name!r}): not a parameter of this study's space ({', '.join(by_name)}); {up_front}"
            )
        parameter = by_name[name]
        if exact(declaration) != exact(declared(parameter)):
            reverse = getattr(parameter, "scale", None) == "reverse_log"
            hint = " (no suggest_* declares reverse_log: read trial.params instead)" if reverse else ""
            raise ValueError(
                f"{call}({name!r}): declared {described(declaration)} here but {described(declared(parameter))}"
                f" in the study's space; {up_front}: a suggest_* call declares a parameter as the space does{hint}"
            )
        if name not in self.params:
            assert parameter.when is not None  # only a conditional parameter is ever absent
            here = ", ".join(f"{k}={self.params[k]!r}" if k in self.params else f"{k} inactive" for k in parameter.when)
            raise ValueError(
                f"{call}({name!r}): inactive in trial {self.number} (when: {parameter.when}; here {here}),"
                " so it has no value: ask for it only where its condition holds"
            )
        return self.params[name]

    def report(self, value: float, step: int) -> None:
        """Optuna's ``report(value, step)``: ``Study.report(trial, step, value)``, which records
        the step on the trial's curve and decides whether it should stop (``should_prune``)."""
        if self._study.report(self.id, step, value):
            self._stop = True

    def set_user_attr(self, key: str, value: Any) -> None:
        """Optuna's ``set_user_attr(key, value)``: ``Study.set_trial_user_attr(trial, key, value)``;
        ``trial.user_attrs`` then holds it, here and in the study's trials."""
        self._trial = self._study.set_trial_user_attr(self.id, key, value)

    def should_prune(self) -> bool:
        """Whether a ``report`` of this trial said stop (then raise ``hyperstep.TrialPruned``).
        It stays True after the first True, as README's "act on the first True" says: each
        report is judged alone, and a later step that passes no rung answers False. Always
        False without early stopping, as Optuna's ``NopPruner``. A report after the trial was
        told completed is ``Study.report``'s ``TrialFinishedError``."""
        return self._stop
