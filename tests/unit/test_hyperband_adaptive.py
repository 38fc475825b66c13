"""Hyperband with adaptive brackets (Hyper-Tune's bracket selection): shares from the data
known when a trial started, fixed while it runs."""

from __future__ import annotations

import pytest

import hyperstep
from hyperstep.early_stopping import curves_of
from hyperstep.models import TrialState
from hyperstep.schedulers import Curves
from hyperstep.schedulers.asha import Hyperband, hyperband_shares
from hyperstep.schedulers.base import MIN_PAIRS, kendall_tau


def finished(count: int, crossing: bool, first: int = 0) -> dict[int, dict[int, float]]:
    """``count`` trials run to 27: at rungs 1 and 3 ordered by their number; at rung 9 and at
    the end in the same order, or (``crossing``) at rungs 1 and 3 in the reverse order of
    their finals (the trial ahead early ends behind)."""
    out = {}
    for i in range(first, first + count):
        early = 0.1 * i
        final = 1.0 - 0.01 * i if crossing else 1.0 + 0.01 * i
        out[i] = {1: early, 3: early, 9: final + 0.5, 27: final}
    return out


def timed(curves: dict[int, dict[int, float]], running: dict[int, float]) -> Curves:
    """``curves`` as ended trials, trial i created at i and ended at i + 0.5; ``running``:
    trials still running, by creation time."""
    created = {n: float(n) for n in curves} | running
    ended = {n: n + 0.5 for n in curves if n not in running}
    return Curves({**curves, **{n: {1: 0.5} for n in running}}, created=created, ended=ended)


def test_kendall_tau_counts_concordant_and_discordant_pairs() -> None:
    assert kendall_tau([(1, 1), (2, 2), (3, 3)]) == pytest.approx(1.0)
    assert kendall_tau([(1, 3), (2, 2), (3, 1)]) == pytest.approx(-1.0)
    assert kendall_tau([(1, 1), (2, 3), (3, 2)]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert kendall_tau([(1, 1), (1, 2)]) is None  # one side all tied


def test_a_first_rung_that_ranks_against_the_finals_gets_no_trials() -> None:
    band = Hyperband(1, 27, 3, seed=0, brackets="adaptive")
    crossing = timed(finished(12, crossing=True), {})
    known = crossing.known_at_start(11)
    assert len(known) == 11  # every trial ended before trial 11 was created... but itself
    # rungs 1 and 3 rank against the finals (tau -1): their brackets get nothing; rung 9 agrees
    assert list(band.rung_agreement(crossing, known)) == pytest.approx([0.0, 0.0, 1.0, 1.0])
    weights = band.adaptive_weights(crossing, known)
    assert weights[:2] == pytest.approx([0.0, 0.0])
    assert weights[2:] == pytest.approx([1.5 / 2.5, 1.0 / 2.5])  # Hyperband's 3/2 and 1/1
    # new trials created after those twelve ended: none is drawn into brackets 0 or 1
    running = {n: 100.0 + n for n in range(20, 220)}
    later = timed(finished(12, crossing=True), running)
    drawn = [band.bracket(n, later) for n in running]
    assert {0, 1}.isdisjoint(drawn)
    # Hyperband's weights (and so the same scheduler without the lever) put most there
    plain = Hyperband(1, 27, 3, seed=0)
    assert sum(plain.bracket(n, later) in (0, 1) for n in running) > len(running) / 2


def test_agreeing_rungs_keep_hyperbands_shares_and_too_few_finished_trials_change_nothing() -> None:
    band = Hyperband(1, 27, 3, seed=0, brackets="adaptive")
    agreeing = timed(finished(12, crossing=False), {})
    assert band.adaptive_weights(agreeing, agreeing.known_at_start(11)) == pytest.approx(hyperband_shares(4, 3))
    few = timed(finished(5, crossing=True), {})  # five pairs: below MIN_PAIRS, nothing known
    assert band.adaptive_weights(few, few.known_at_start(4)) == pytest.approx(hyperband_shares(4, 3))


def test_adaptive_brackets_are_deterministic_for_a_seed() -> None:
    running = {n: 100.0 + n for n in range(20, 120)}
    curves = timed(finished(12, crossing=True), running)
    drawn = [Hyperband(1, 27, 3, seed=3, brackets="adaptive").bracket(n, curves) for n in running]
    again = [Hyperband(1, 27, 3, seed=3, brackets="adaptive").bracket(n, curves) for n in running]
    other_seed = [Hyperband(1, 27, 3, seed=4, brackets="adaptive").bracket(n, curves) for n in running]
    assert drawn == again
    assert drawn != other_seed


def test_a_running_trials_bracket_does_not_change_with_what_ends_after_it_started() -> None:
    start = finished(12, crossing=True)  # ended by time 12
    agreeing = finished(30, crossing=False, first=12)  # ended after time 60
    numbers = [n for n in range(50, 400) if Hyperband(1, 27, 3, seed=0).bracket(n) == 0]

    def curves(created: float) -> Curves:
        trials = {**start, **agreeing, **{n: {1: 0.5} for n in numbers}}
        ends = {m: m + 0.5 for m in start} | {m: 60.0 + m for m in agreeing}
        return Curves(trials, {m: float(m) for m in [*start, *agreeing]} | dict.fromkeys(numbers, created), ends)

    def drawn(created: float) -> list[int]:  # a fresh scheduler each time: nothing cached
        return [Hyperband(1, 27, 3, seed=0, brackets="adaptive").bracket(n, curves(created)) for n in numbers]

    at_start = [Hyperband(1, 27, 3, seed=0, brackets="adaptive").bracket(n, timed(start, {n: 50.0})) for n in numbers]
    assert set(at_start) <= {2, 3}  # started at 50, after twelve crossing trials ended
    assert drawn(50.0) == at_start  # the thirty that ended later change no running trial's bracket
    assert drawn(1000.0).count(0) > len(numbers) / 2  # trials created after them are drawn with them


def test_the_study_draws_brackets_from_the_trials_it_ran() -> None:
    """Through the issue's loop on crossing curves (a low rate ends best but starts worst):
    the stored trials carry the times the brackets are drawn from, and after a few trials
    ran to the end the bracket that judges at rung 1 gets no new trial."""
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "rate", "type": "float", "low": 0, "high": 1}]}
    )
    spec = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "reduction_factor": 3, "brackets": "adaptive"}
    study = hyperstep.Study(space, goal="minimize", strategy="random", seed=0, early_stopping=spec)

    def value(rate: float, step: int) -> float:  # before step 9 the best final value looks worst
        return 1.0 - 0.5 * rate + 0.01 / step if step < 9 else rate + 0.1 / step

    for _ in range(60):
        trial = study.ask(1)[0]
        for step in range(1, 28):
            if study.report(trial.id, step, value(trial.params["rate"], step)):
                study.tell(trial.id, value(trial.params["rate"], step), state="stopped")
                break
        else:
            study.tell(trial.id, value(trial.params["rate"], 27))
    trials = study.store.list_trials(study.job_id)
    assert all(t.state in (TrialState.COMPLETED, TrialState.PRUNED) for t in trials)
    curves = curves_of(trials, minimize=True)
    assert curves.known_at_start(trials[-1].number) == tuple(t.number for t in trials[:-1])
    band = study.scheduler
    assert isinstance(band, Hyperband)
    done = [i for i, t in enumerate(trials) if t.state is TrialState.COMPLETED]
    assert len(done) > MIN_PAIRS
    before, after = trials[: done[MIN_PAIRS - 1] + 1], trials[done[MIN_PAIRS - 1] + 1 :]
    assert after  # started once six trials had run to the end: rungs 1 and 3 have no trials
    assert band.adaptive_weights(curves, curves.known_at_start(after[0].number))[:2] == pytest.approx([0.0, 0.0])
    assert {band.bracket(t.number, curves) for t in after} <= {2, 3}
    assert 0 in {band.bracket(t.number, curves) for t in before}  # before: Hyperband's shares
