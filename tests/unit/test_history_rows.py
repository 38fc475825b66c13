"""A Suggest round's history made from rows kept across rounds (``hyperstep.history_rows``):
the same ``History`` as ``history_of`` over every trial, and each trial encoded once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import hyperstep
from hyperstep.messages import FinishRequest, SuggestRequest
from hyperstep.models import Trial, TrialState, trial_id
from hyperstep.service import TuningService
from hyperstep.space import SearchSpace
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.strategies import History
from hyperstep.trial_view import Snapshot
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend

SPACE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            {"name": "layers", "type": "int", "low": 1, "high": 4},
            {"name": "kind", "type": "categorical", "choices": ["a", "b", "c"]},
        ]
    }
)
ENDED = [TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.PRUNED]


def assert_same(kept: History, made: History) -> None:
    for name in ("X", "y", "X_failed", "X_pending", "Y", "G"):
        a, b = getattr(kept, name), getattr(made, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), name
    assert kept.seed == made.seed and kept.space == made.space


def new_trial(job_id: str, number: int, rng: np.random.Generator) -> Trial:
    return Trial(job_id=job_id, id=trial_id(number), number=number, params=SPACE.decode(rng.random(SPACE.dim)))


def ended(trial: Trial, rng: np.random.Generator, objectives: int) -> Trial:
    """The trial ended in a random state, sometimes with a value no strategy can use."""
    state = ENDED[rng.integers(len(ENDED))]
    values = [float(v) for v in rng.normal(size=objectives)]
    if rng.random() < 0.1:
        values[0] = math.nan
    metrics = {} if rng.random() < 0.2 else {"mb": float(rng.random() * 4)}
    has_value = state in (TrialState.COMPLETED, TrialState.PRUNED)
    return trial.model_copy(
        update={
            "state": state,
            "value": values[0] if has_value else None,
            "values": values if has_value and objectives > 1 else None,
            "metrics": metrics,
        }
    )


def prior(study: hyperstep.Study, n: int, rng: np.random.Generator) -> list[Trial]:
    """A parent job's ended trials (a warm start)."""
    return [ended(new_trial("parent", k, rng), rng, len(study.spec.goals)) for k in range(1, n + 1)]


@pytest.mark.parametrize(
    ("goal", "constraints", "parents"),
    [
        ("minimize", [], 0),
        ("maximize", [{"metric": "mb", "max": 2}], 0),
        ("minimize", [{"metric": "mb", "min": 0.5, "max": 3}], 7),
        (["minimize", "maximize"], [], 0),
        (["minimize", "maximize"], [{"metric": "mb", "max": 2}], 5),
    ],
)
def test_kept_rows_give_history_of_every_trial_round_after_round(
    goal: Any, constraints: Sequence[dict[str, Any]], parents: int
) -> None:
    """Trials appear out of number order, start, end in every state; rounds share one snapshot."""
    study = hyperstep.Study(SPACE, goal=goal, strategy="random", seed=3, constraints=constraints)
    rng = np.random.default_rng(len(constraints) + parents)
    parent = prior(study, parents, rng)
    study.parents, study.parent_trials = (("parent",), lambda _: parent) if parents else ((), study.parent_trials)
    snapshot, trials = Snapshot(), {}
    numbers = iter(range(1, 1000))
    for _ in range(40):
        batch = [new_trial(study.job_id, next(numbers), rng) for _ in range(rng.integers(0, 4))]
        changed = list(rng.permutation(batch)) if batch else []
        for trial in [t for t in trials.values() if t.state.active]:
            if rng.random() < 0.4:
                changed.append(ended(trial, rng, len(study.spec.goals)))
            elif trial.state is TrialState.PENDING and rng.random() < 0.5:
                changed.append(trial.model_copy(update={"state": TrialState.RUNNING}))
        snapshot.put(changed)
        trials.update({t.id: t for t in changed})
        by_number = sorted(trials.values(), key=lambda t: t.number)
        assert snapshot.ordered() == by_number
        assert snapshot.active() == [t for t in by_number if t.state.active]
        assert_same(study.history(snapshot.ordered(), snapshot), study.history(by_number))
    assert snapshot.ended() == sum(not t.state.active for t in trials.values()) > 20


def test_an_ended_trial_replaced_in_the_snapshot_has_its_rows_made_again() -> None:
    """Ended trials never change; if one held as ended is replaced all the same, the rows do not keep the old one."""
    study = hyperstep.Study(SPACE, strategy="random", seed=1)
    first = Trial(job_id=study.job_id, id=trial_id(1), number=1, params={"lr": 0.1, "layers": 2, "kind": "a"})
    second = first.model_copy(update={"id": trial_id(2), "number": 2})
    snapshot = Snapshot()
    snapshot.put([first.model_copy(update={"state": TrialState.COMPLETED, "value": 1.0}), second])
    assert study.history(snapshot.ordered(), snapshot).y.tolist() == [1.0]
    snapshot.put([first.model_copy(update={"state": TrialState.COMPLETED, "value": 5.0})])
    assert snapshot.rewrites == 1 and snapshot.ended() == 1
    assert_same(study.history(snapshot.ordered(), snapshot), study.history(snapshot.ordered()))
    assert study.history(snapshot.ordered(), snapshot).y.tolist() == [5.0]
    snapshot.put([first.model_copy(update={"state": TrialState.RUNNING})])  # nor one that shows as running again
    assert snapshot.rewrites == 2 and snapshot.ended() == 0 and len(snapshot.active()) == 2
    assert_same(study.history(snapshot.ordered(), snapshot), study.history(snapshot.ordered()))


def rows_encoded_per_round(monkeypatch: pytest.MonkeyPatch, rounds: int, parent: int = 0) -> list[int]:
    """Rows a warm Suggest encodes in each round after the first, one trial of 3 running
    ending before each; with ``parent``, the job is warm-started from a finished job of
    that many trials."""
    encoded: list[int] = []
    encode_many = SearchSpace.encode_many

    def counting(self: SearchSpace, many: list[dict[str, Any]]) -> np.ndarray:
        encoded.append(len(many))
        return encode_many(self, many)

    monkeypatch.setattr(SearchSpace, "encode_many", counting)
    store = SQLiteStore(":memory:")
    service = TuningService(store, {"local": FakeBackend()})

    def job(trials: int, parents: Sequence[str] = ()) -> str:
        budget = {"max_trials": trials, "max_parallel": 3}
        spec = parse_spec(spec_document(strategy={"name": "random", "seed": 1}, budget=budget))
        return service.create_job(spec, parents=parents).id

    def end_oldest(job_id: str) -> None:
        oldest = next(t for t in store.list_trials(job_id) if t.state.active)
        store.finish_trial(job_id, oldest.id, TrialState.COMPLETED, value=float(oldest.number))

    parents = []
    if parent:
        parents.append(job(parent))
        while not service.suggest_and_launch(SuggestRequest(job_id=parents[0])).done:
            end_oldest(parents[0])
        service.finish(FinishRequest(job_id=parents[0]))
    job_id = job(rounds + 20, parents)
    service.suggest_and_launch(SuggestRequest(job_id=job_id))
    rows = []
    for _ in range(rounds):
        end_oldest(job_id)
        encoded.clear()
        service.suggest_and_launch(SuggestRequest(job_id=job_id))
        rows.append(sum(encoded))
    return rows


def test_a_round_encodes_the_trials_that_changed_not_the_whole_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm Suggest encodes the trial that ended since the last round and the running ones,
    however many trials the job has had (it encoded every trial of the job each round)."""
    rows = rows_encoded_per_round(monkeypatch, rounds=60)
    assert max(rows) <= 1 + 3, rows  # the one that ended, the running ones; not the 60 ended before


def test_a_warm_started_round_encodes_the_parents_trials_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The finished parent's 30 trials are encoded in the first round and kept (they were
    carried over and encoded again every round)."""
    rows = rows_encoded_per_round(monkeypatch, rounds=20, parent=30)
    assert max(rows) <= 1 + 3, rows
