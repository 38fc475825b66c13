"""Conditions of a search tree: which parameters a configuration activates (``when``).

A parameter with ``when: {parent: [values]}`` is active only while every named parent is
active and takes one of the listed values. These functions work on a space's parameter
list (``hyperstep.space``), in an order that puts parents first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hyperstep.space import Parameter


def check(parameters: list[Parameter], stored: bool = False) -> list[int]:
    """Refuse ``when`` conditions that cannot hold (ValueError); return the parameters'
    indices, parents first.

    A parent must be another categorical or int parameter of the space (a float never
    equals a listed value once encoded), every listed value one it takes, no chain of
    parents may lead back to where it started, and each parameter must be active in some
    configuration (not checked for a ``stored`` space: the rule came later).
    """
    by_name = {p.name: p for p in parameters}
    for p in parameters:
        for parent, values in (p.when or {}).items():
            if parent not in by_name:
                raise ValueError(f"parameter {p.name!r}: when names {parent!r}, which is not a parameter")
            q = by_name[parent]
            if q.type == "float":
                raise ValueError(
                    f"parameter {p.name!r}: when names the float parameter {parent!r}; "
                    "a parent must be categorical or int"
                )
            bad = [v for v in values if not q.contains(v)]
            if bad:
                raise ValueError(
                    f"parameter {p.name!r}: when.{parent} lists {bad[0]!r}, a value {parent!r} never takes"
                    f" (it takes {_values_of(q)})"
                )
    order = parents_first(parameters)
    if not stored:
        _refuse_never_active(parameters, rules(parameters, order))
    return order


def _refuse_never_active(parameters: list[Parameter], table: list[Rule]) -> None:
    """Refuse a parameter that no configuration activates: its conditions and its ancestors'
    are a conjunction of "ancestor takes one of these values", so it can be active exactly
    when, for each ancestor, the value sets it needs of that ancestor share a value."""
    by_name = {p.name: p for p in parameters}
    needs: dict[str, dict[str, frozenset[Any]]] = {}  # parameter -> ancestor -> the values it may take
    for name, parents in table:
        need: dict[str, frozenset[Any]] = {}
        for parent, allowed in parents:
            for ancestor, values in [*needs[parent].items(), (parent, allowed)]:
                both = need.get(ancestor, values) & values
                if not both:
                    first, second = (_shown(by_name[ancestor], v) for v in (need[ancestor], values))
                    raise ValueError(
                        f"parameter {name!r} is never active: its conditions need {ancestor!r} to be one of"
                        f" {second} and one of {first} at once"
                    )
                need[ancestor] = both
        needs[name] = need


def _values_of(parent: Parameter) -> str:
    """What a parent takes, in words: ``'a', 'b'`` (the first ten choices) or ``2 to 5``."""
    if parent.type == "categorical":
        choices = parent.choices  # type: ignore[union-attr]
        return ", ".join(map(repr, choices[:10])) + (f" and {len(choices) - 10} more" if len(choices) > 10 else "")
    return f"{parent.low} to {parent.high}"  # type: ignore[union-attr]


def _shown(parent: Parameter, allowed: frozenset[Any]) -> list[Any]:
    """``allowed`` (``rules``) as the parent's values, in its order."""
    if parent.type == "categorical":
        return [parent.choices[i] for i in sorted(allowed)]  # type: ignore[union-attr]
    return sorted(allowed)


def parents_first(parameters: list[Parameter]) -> list[int]:
    """Indices of ``parameters`` with every parent before its children; ValueError on a cycle."""
    index = {p.name: i for i, p in enumerate(parameters)}
    order: list[int] = []
    state: dict[int, str] = {}

    def visit(i: int, path: list[str]) -> None:
        if state.get(i) == "done":
            return
        if state.get(i) == "open":
            cycle = [*path[path.index(parameters[i].name) :], parameters[i].name]
            raise ValueError(f"conditions form a cycle: {' -> '.join(cycle)}")
        state[i] = "open"
        for parent in parameters[i].when or {}:
            visit(index[parent], [*path, parameters[i].name])
        state[i] = "done"
        order.append(i)

    for i in range(len(parameters)):
        visit(i, [])
    return order


Rule = tuple[str, list[tuple[str, frozenset[Any]]]]
"""A parameter's name and, for each parent its ``when`` names, the values it needs that
parent to take (``rules``)."""


def rules(parameters: list[Parameter], order: list[int]) -> list[Rule]:
    """Each parameter's conditions (``order``: parents first) with the listed values as
    ``takes`` compares them: a categorical parent's as choice positions, an int's as they
    are. Built once per space: a configuration is then read with one lookup per parent,
    whatever the length of the lists (a 1,000-choice parent's took seconds per ask)."""
    by_name = {q.name: q for q in parameters}
    table = []
    for i in order:
        parents = []
        for parent, values in (parameters[i].when or {}).items():
            q = by_name[parent]
            listed = [q.index(v) for v in values] if q.type == "categorical" else values  # type: ignore[union-attr]
            parents.append((parent, frozenset(listed)))
        table.append((parameters[i].name, parents))
    return table


def takes(parent: Parameter, value: Any, allowed: frozenset[Any]) -> bool:
    """Whether ``parent``'s ``value`` is one of the values ``allowed`` (a ``rules`` entry's)."""
    return (parent.index(value) if parent.type == "categorical" else value) in allowed  # type: ignore[union-attr]


def active_names(parameters: list[Parameter], table: list[Rule], params: dict[str, Any]) -> set[str]:
    """The names active in the configuration ``params`` (``table``: the space's ``rules``)."""
    active: set[str] = set()
    by_name = {q.name: q for q in parameters}
    for name, parents in table:
        if all(parent in active and takes(by_name[parent], params[parent], allowed) for parent, allowed in parents):
            active.add(name)
    return active


def activity(parameters: list[Parameter], order: list[int], slices: list[slice], X: np.ndarray) -> np.ndarray:
    """Which parameters are active at each row of snapped encodings ``X``, shape ``(n, len(parameters))``."""
    out = np.ones((len(X), len(parameters)), dtype=bool)
    index = {p.name: i for i, p in enumerate(parameters)}
    holds: dict[tuple[int, str], np.ndarray] = {}  # siblings share their parent's test
    for i in order:
        for parent, values in (parameters[i].when or {}).items():
            j = index[parent]
            key = (j, repr(values))
            if key not in holds:
                holds[key] = out[:, j] & parameters[j].matches(X[:, slices[j]], values)  # type: ignore[union-attr]
            out[:, i] &= holds[key]
    return out
