"""The running totals the completion rules and the dollar budget read (``hyperstep.ended_totals``):
the answers of a pass over every trial, from work that does not grow with the job."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from hyperstep import trial_view
from hyperstep.completion import CONVERGED_EI
from hyperstep.ended_totals import EndedTotals
from hyperstep.messages import FinishRequest, SuggestRequest, TrialResult, Usage
from hyperstep.models import StopReason, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.trial_view import Snapshot
from tests.conftest import spec_document
from tests.unit.test_service import Clock, FakeBackend, FakeOrchestrator

ENDED = (TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.PRUNED)


def completed_since_best(minimize: bool, trials: Sequence[Trial]) -> tuple[Trial | None, int]:
    """The rule as a pass over every trial (what ``completion`` did before the totals): the
    first trial to reach the best value, and how many completed after it."""
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None]
    best: Trial | None = None
    since = 0
    for trial in sorted(done, key=lambda t: (t.ended_at or 0.0, t.number)):
        assert trial.value is not None
        if best is None or (trial.value < best.value if minimize else trial.value > best.value):  # type: ignore[operator]
            best, since = trial, 0
        else:
            since += 1
    return best, since


def random_trials(rng: random.Random, n: int) -> list[Trial]:
    """Ended trials with tied values and tied end times, some unpriced or never started."""
    return [
        Trial(
            job_id="job",
            id=f"t{number:04d}",
            number=number,
            params={},
            state=(state := rng.choice(ENDED)),
            value=float(rng.randint(0, 4)) if state is TrialState.COMPLETED or rng.random() < 0.2 else None,
            ended_at=rng.choice([None, *range(6)]),
            started_at=None if rng.random() < 0.2 else 0.0,
            cost_usd=None if rng.random() < 0.3 else rng.randint(1, 9) / 8,
        )
        for number in range(1, n + 1)
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_totals_of_trials_added_in_any_order_are_the_pass_over_them(seed: int) -> None:
    rng = random.Random(seed)
    trials = random_trials(rng, rng.randint(0, 30))
    totals = EndedTotals.of(rng.sample(trials, len(trials)))
    for minimize in (True, False):
        best, since = completed_since_best(minimize, trials)
        assert (0 if best is None else totals.completed_after(best)) == since
    priced = [t.cost_usd for t in trials if t.cost_usd is not None]
    assert totals.spent_usd == sum(t.cost_usd or 0.0 for t in trials)  # eighths: exact in any order
    assert totals.average_cost() == (sum(priced) / len(priced) if priced else None)


def test_a_trial_whose_end_beat_its_start_write_counts_in_the_average_it_is_charged_to() -> None:
    """Collect prices such a trial from the backend's record (``TuningService._charge``): its
    cost is spent, so it is one of the trials the average is taken over."""
    quick = Trial(job_id="job", id="t0001", number=1, params={}, state=TrialState.COMPLETED, value=1.0, cost_usd=3.0)
    slow = quick.model_copy(update={"id": "t0002", "number": 2, "started_at": 0.0, "cost_usd": 1.0})
    assert quick.started_at is None
    totals = EndedTotals.of([quick, slow])
    assert (totals.spent_usd, totals.average_cost()) == (4.0, 2.0)


def test_an_ended_trial_replaced_in_the_snapshot_is_counted_once_as_it_is_now() -> None:
    ended = Trial(job_id="job", id="t0001", number=1, params={}, state=TrialState.COMPLETED, value=1.0, cost_usd=2.0)
    snapshot = Snapshot.of([ended])
    snapshot.put([ended.model_copy(update={"state": TrialState.FAILED, "value": None, "cost_usd": 3.0})])
    assert (snapshot.totals.completed, snapshot.totals.spent_usd) == ([], 3.0)


# ---- a Suggest round --------------------------------------------------------------------


@pytest.fixture
def service() -> TuningService:
    return TuningService(SQLiteStore(clock=Clock()), {"local": FakeBackend()}, FakeOrchestrator())


def run(
    service: TuningService,
    budget: dict[str, Any],
    losses: Iterator[float],
    n_initial: int = 4,
    enqueue: Sequence[dict[str, Any]] = (),
) -> Iterator[set[int]]:
    """Run a two-at-a-time bayesian job whose trials end newest first (so the order they end
    in is not their numbers'), each priced at $0.125, its first trials running the points
    ``enqueue``; yield, for each Suggest round, the numbers of the trials whose fields the
    round read."""
    trial = {**spec_document()["trial"], "cost_per_hour": 3.6, "timeout_seconds": 100}
    spec = spec_document(
        parameters=[{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        strategy={"name": "bayesian", "seed": 0, "options": {"n_initial": n_initial}},
        trial=trial,
        budget={"max_parallel": 2, **budget},
        enqueue=list(enqueue),
    )
    service.submit(parse_spec(spec), job_id="job")
    clock = service.store.clock
    assert isinstance(clock, Clock)
    while True:
        with reading_trials() as read:
            plan = service.suggest_and_launch(SuggestRequest(job_id="job"))
        yield read
        if plan.done:
            service.finish(FinishRequest(job_id="job"))
            return
        running = [t for t in service.store.list_trials("job") if t.state.active]
        newest = max(running, key=lambda t: t.number)
        clock.now += 1
        usage = Usage(seconds=125.0, platform="local")  # $3.6 an hour: $0.125
        metrics = {"loss": next(losses)}
        service.collect(TrialResult(job_id="job", trial_id=newest.id, state="completed", metrics=metrics, usage=usage))


@contextlib.contextmanager
def reading_trials() -> Iterator[set[int]]:
    """The numbers of the trials whose fields are read inside the block."""
    read: set[int] = set()
    fields = set(Trial.model_fields)

    def reading(trial: Trial, name: str) -> Any:
        if name in fields:
            read.add(object.__getattribute__(trial, "__dict__")["number"])
        return object.__getattribute__(trial, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trial, "__getattribute__", reading, raising=False)
        yield read


def test_a_round_with_every_optional_rule_set_reads_the_trials_that_changed_not_the_whole_job(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``no_improvement_trials``, ``stop_on_convergence`` and ``max_cost_usd`` set (none firing
    in 40 trials: the initial design fills them, no model speaks): a round reads the trial
    that ended, the running one and the new ones, as one without the rules does (each rule
    passed over every trial of the job, every round)."""
    monkeypatch.setattr(trial_view, "TRIM_ENDED", 1)  # the store's ended ids, read each round: the newest
    budget = {"max_trials": 40, "no_improvement_trials": 100, "stop_on_convergence": True, "max_cost_usd": 100}
    losses = iter(random.Random(0).uniform(0, 1) for _ in range(40))
    rounds = list(run(service, budget, losses, n_initial=40))
    assert len(rounds) >= 39 and max(len(read) for read in rounds) <= 2 + 2 + 2, [len(r) for r in rounds]
    assert service.store.get_job("job").stop_reason is StopReason.MAX_TRIALS


def test_a_round_of_a_job_with_enqueued_points_reads_the_trials_that_changed_not_the_whole_job(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``enqueue``, each ask read every trial's number (the highest, for the points still
    owed), also once they were all given out: 40 in the last round. It reads the job's
    ``trial_seq`` now, and the points still run first, each once."""
    monkeypatch.setattr(trial_view, "TRIM_ENDED", 1)
    points = [{"x": 0.5}, {"x": 0.25}, {"x": 0.75}]
    losses = iter(random.Random(0).uniform(0, 1) for _ in range(40))
    rounds = list(run(service, {"max_trials": 40}, losses, n_initial=40, enqueue=points))
    assert len(rounds) >= 39 and max(len(read) for read in rounds) <= 2 + 2 + 2, [len(r) for r in rounds]
    trials = service.store.list_trials("job")
    assert [t.params for t in trials[:3]] == points and all(t.params not in points for t in trials[3:])


@pytest.mark.parametrize(
    ("budget", "losses", "trials", "reason", "detail"),
    [
        # trial 1 runs on while 2 to 6 end: 3's 0.4 is the best, the three after it are no
        # better (5's ties it); trial 1 ends last with a better value, after the rule held
        (
            {"no_improvement_trials": 3},
            [0.5, 0.4, 0.6, 0.4, 0.7, 0.1],
            6,
            StopReason.NO_IMPROVEMENT,
            "last 3 completed",
        ),
        # $0.125 each: with 2 to 8 ended ($0.875) and 1 running, nothing is left for a ninth
        ({"max_cost_usd": 1.0}, [0.5] * 8, 8, StopReason.MAX_COST, "$1 spent; a trial costs about $0.125"),
    ],
)
def test_a_scripted_job_stops_for_the_same_reason_at_the_same_trial(
    service: TuningService, budget: dict[str, Any], losses: list[float], trials: int, reason: StopReason, detail: str
) -> None:
    for _ in run(service, {"max_trials": 30, **budget}, iter(losses)):
        pass
    job = service.store.get_job("job")
    assert (job.trial_seq, job.stop_reason) == (trials, reason) and detail in (job.stop_detail or "")


def test_convergence_reads_the_latest_proposals_only() -> None:
    proposals = [
        Trial(job_id="job", id=f"t{n:04d}", number=n, params={}, expected_improvement=CONVERGED_EI * (10 - n))
        for n in range(1, 11)
    ]
    snapshot = Snapshot.of(reversed(proposals))
    assert [t.number for t in snapshot.latest(3)] == [8, 9, 10] and list(snapshot.latest(0)) == []
