"""What a strategy reads of a job's ended trials, each trial encoded once: a Suggest round
at 10,000 trials does the in-memory work of one at 1,000.

``study_history.history_of`` encodes and sorts every trial of the job on every round; at 10,000
trials that pass was most of a round's CPU. An ended trial changes only if a late final
report turns its stopped or pruned end into a completed one (``TrialStore.report_after_end``;
the view reads it again, below), so the rows of ended trials (the
encoded point; a completed trial's values to minimize and constraint slack) are made once,
when the ``TrialView`` snapshot learns the trial ended (``Snapshot.ended_log``), and kept
with the snapshot in the warm process's memory. A round adds the rows of the trials that
ended since, encodes the active ones (at most the job's parallelism) and puts the arrays
together in ``history_of``'s order, after the rows of a warm start's parents (made again
only when the view has read a parent again): the same ``History``, array for array
(``tests/unit/test_history_rows.py``).

The rows are no better than the snapshot, which the view catches up and checks against the
job item just read on every round; a snapshot loaded again is a new one, without rows, and
one whose ended trial was replaced (``Snapshot.rewrites``) has its rows made again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from hyperstep.models import Trial, TrialState
from hyperstep.objectives import constraint_slack, objective_values
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec
from hyperstep.strategies import History


class EndedLog(Protocol):
    """What the rows read of a ``trial_view.Snapshot``: its ended trials in the order it
    learned of them, how often one of those was replaced, and its active trials."""

    ended_log: list[Trial]
    rewrites: int

    def active(self) -> list[Trial]: ...


class _Rows:
    """Float rows appended in any order of trial number, read back by number."""

    def __init__(self, width: int) -> None:
        self._data = np.empty((64, width))
        self._numbers = np.empty(64, dtype=np.int64)
        self.count = 0

    def extend(self, numbers: Sequence[int], rows: np.ndarray) -> None:
        need = self.count + len(numbers)
        if need > len(self._data):
            size = max(need, 2 * len(self._data))
            self._data = np.resize(self._data, (size, self._data.shape[1]))
            self._numbers = np.resize(self._numbers, size)
        self._data[self.count : need] = rows
        self._numbers[self.count : need] = numbers
        self.count = need

    def by_number(self) -> np.ndarray:
        order = np.argsort(self._numbers[: self.count], kind="stable")
        return self._data[order]


def _key(space: SearchSpace, spec: JobSpec) -> tuple[Any, ...]:
    """What the rows depend on: the parameters, the objectives and the constraints."""
    return tuple(space.parameters), tuple(spec.goals), tuple(spec.constraints)


class EndedRows:
    """The rows ``history_of`` makes of one job's ended trials, made once each."""

    def __init__(self, space: SearchSpace, spec: JobSpec) -> None:
        self.space, self.spec = space, spec
        self._key = _key(space, spec)
        self._objectives = len(spec.goals)
        self._slack = sum((c.max is not None) + (c.min is not None) for c in spec.constraints)
        self._start_over(rewrites=0)
        self._parents: list[Sequence[Trial]] = []
        self._prior: History | None = None

    def prior(self, parents: Sequence[Sequence[Trial]], make: Callable[[], History | None]) -> History | None:
        """The history of a warm start's parents' trials, ``make``'s, kept while ``parents``
        are the very lists of the last call (the ``TrialView`` keeps a parent's list until
        its count of ended trials moves): made again when any is another list."""
        if len(parents) != len(self._parents) or any(a is not b for a, b in zip(parents, self._parents)):
            self._parents, self._prior = list(parents), make()
        return self._prior

    def fits(self, space: SearchSpace, spec: JobSpec) -> bool:
        """Whether these rows are what ``history_of`` would make for this space and spec."""
        return _key(space, spec) == self._key

    def history(self, snapshot: EndedLog, prior: History | None, seed: int) -> History:
        """``history_of`` of the prior trials (their ``History``, a warm start's parents) and
        then the snapshot's trials by number, for the strategy to read."""
        self._catch_up(snapshot)
        d, m = self.space.dim, self._objectives
        done = self._done.by_number()
        X, Y, G = done[:, :d], done[:, d : d + m], done[:, d + m :]
        X_failed, X_pruned = self._failed.by_number(), self._pruned.by_number()
        X_active = self.space.encode_many([t.params for t in snapshot.active()])
        X_prior_pending = np.empty((0, d))
        if prior is not None:
            X, X_failed = np.vstack([prior.X, X]), np.vstack([prior.X_failed, X_failed])
            X_prior_pending = prior.X_pending
            Y = np.vstack([prior.objectives, Y])
            G = G if prior.G is None else np.vstack([prior.G, G])
        several = self.spec.multi_objective
        return History(
            space=self.space,
            X=np.ascontiguousarray(X),
            y=np.ascontiguousarray(Y[:, 0]),
            X_failed=np.ascontiguousarray(X_failed),
            X_pending=np.vstack([X_active, X_prior_pending, X_pruned]),
            seed=seed,
            Y=np.ascontiguousarray(Y) if several else None,
            G=np.ascontiguousarray(G) if self.spec.constraints else None,
        )

    def _start_over(self, rewrites: int) -> None:
        d = self.space.dim
        self._done = _Rows(d + self._objectives + self._slack)
        self._failed, self._pruned = _Rows(d), _Rows(d)
        self._read, self._rewrites = 0, rewrites

    def _catch_up(self, snapshot: EndedLog) -> None:
        if snapshot.rewrites != self._rewrites:
            self._start_over(snapshot.rewrites)
        self._add(snapshot.ended_log[self._read :])
        self._read = len(snapshot.ended_log)

    def _add(self, trials: Sequence[Trial]) -> None:
        done: list[tuple[Trial, list[float]]] = []
        failed, pruned = [], []
        for trial in trials:
            values = objective_values(self.spec, trial)
            if values is not None:
                done.append((trial, values))
            elif trial.state is TrialState.FAILED:
                failed.append(trial)
            elif trial.state is TrialState.PRUNED and not self.spec.multi_objective:
                pruned.append(trial)  # a point to avoid: proposing it again would rerun what was stopped
        if done:
            ended = [t for t, _ in done]
            slack = constraint_slack(self.spec, ended)
            columns = [self._encode(ended), np.array([v for _, v in done], dtype=float)]
            self._done.extend([t.number for t in ended], np.hstack([*columns, *([] if slack is None else [slack])]))
        for rows, kept in ((self._failed, failed), (self._pruned, pruned)):
            if kept:
                rows.extend([t.number for t in kept], self._encode(kept))

    def _encode(self, trials: Sequence[Trial]) -> np.ndarray:
        return self.space.encode_many([t.params for t in trials])
