"""Schedulers: decisions computed by hand from small sets of curves."""

from __future__ import annotations

import random

import pytest

from hyperstep.schedulers import Curves
from hyperstep.schedulers.asha import ASHA, Hyperband, rungs
from hyperstep.schedulers.base import newest
from hyperstep.schedulers.median import MedianStopping


def test_rungs_are_min_times_powers_of_eta_below_max() -> None:
    assert rungs(1, 27, 3) == [1, 3, 9]
    assert rungs(2, 30, 2) == [2, 4, 8, 16]
    assert rungs(1, 27, 3, first=2) == [9]


def test_asha_first_trial_at_a_rung_goes_on() -> None:
    asha = ASHA(1, 27, 3)
    assert not asha.should_stop(0, Curves({0: {1: 5.0}}))


def test_asha_keeps_the_top_third_at_a_rung() -> None:
    asha = ASHA(1, 27, 3)
    # rung 1 holds 0.5, 0.9, 0.7 from trials 0-2; trial 3 arrives with 0.6: n=4, ceil(4/3)=2 go on,
    # one value (0.5) is better: rank 1 < 2, it goes on; with 0.8 two are better (0.5, 0.7): it stops.
    others = {0: {1: 0.5}, 1: {1: 0.9}, 2: {1: 0.7}}
    assert not asha.should_stop(3, Curves({**others, 3: {1: 0.6}}))
    assert asha.should_stop(3, Curves({**others, 3: {1: 0.8}}))


def test_asha_decides_only_as_a_trial_passes_a_rung() -> None:
    asha = ASHA(1, 27, 3)
    others = {0: {1: 0.1, 2: 0.1, 3: 0.1}, 1: {1: 0.2, 3: 0.2}}
    # trial 2 is worst at rung 1 (n=3, top 1): it would stop at step 1 ...
    assert asha.should_stop(2, Curves({**others, 2: {1: 0.9}}))
    # ... but at step 2 it passes no rung: no decision, it goes on
    assert not asha.should_stop(2, Curves({**others, 2: {1: 0.9, 2: 0.9}}))
    # at step 3 it passes rung 3: values 0.1, 0.2 and its 0.15: n=3, top 1, one better: stops
    assert asha.should_stop(2, Curves({**others, 2: {1: 0.9, 2: 0.9, 3: 0.15}}))


def test_asha_meets_a_rung_at_the_first_step_past_it() -> None:
    asha = ASHA(1, 27, 3)
    # trial 1 reports every 5 steps: its step 5 meets rungs 1 and 3, decided at rung 1 where
    # trial 0 recorded 0.4: n=2, ceil(2/3)=1, 0.4 is better than 0.5: stop
    assert asha.should_stop(1, Curves({0: {1: 0.4, 3: 0.3}, 1: {5: 0.5}}))
    assert not asha.should_stop(1, Curves({0: {1: 0.4, 3: 0.3}, 1: {5: 0.35}}))


def test_a_trial_at_max_resource_is_complete_and_never_stopped() -> None:
    asha = ASHA(1, 9, 3)
    assert not asha.should_stop(1, Curves({0: {9: 0.1}, 1: {9: 5.0}}))


def test_median_compares_best_so_far_with_the_median_of_others_at_that_step() -> None:
    median = MedianStopping(min_resource=2, max_resource=10)
    others = {0: {1: 1.0, 2: 0.5, 3: 0.4}, 1: {2: 0.7}, 2: {2: 0.9, 4: 0.1}}
    # at step 2: others 0.5, 0.7, 0.9 -> median 0.7; best so far 0.8 is worse: stop
    assert median.should_stop(3, Curves({**others, 3: {1: 0.9, 2: 0.8}}))
    # best so far counts the earlier step: 0.6 at step 1 beats the median
    assert not median.should_stop(3, Curves({**others, 3: {1: 0.6, 2: 0.8}}))
    # before min_resource: no decision
    assert not median.should_stop(3, Curves({**others, 3: {1: 9.0}}))


def test_median_waits_for_two_others_at_the_step() -> None:
    median = MedianStopping(min_resource=1, max_resource=10)
    # at step 3 only trial 0 reached it (trial 1 stopped at 2): no decision
    assert not median.should_stop(2, Curves({0: {3: 0.1}, 1: {2: 0.1}, 2: {3: 9.0}}))
    # at step 4, trials 0 and 1 take their first step at or past it (5 and 4): median 0.15
    assert median.should_stop(2, Curves({0: {5: 0.1}, 1: {4: 0.2}, 2: {4: 0.3}}))


def test_hyperband_assigns_brackets_deterministically_with_its_weights() -> None:
    band = Hyperband(1, 27, 3, seed=7)
    assert band.brackets == 4  # first rungs 1, 3, 9, and one bracket that never stops
    assert [band.bracket(n) for n in range(50)] == [Hyperband(1, 27, 3, seed=7).bracket(n) for n in range(50)]
    shares = [sum(band.bracket(n) == b for n in range(4000)) / 4000 for b in range(4)]
    expected = band.bracket_weights()  # 27/4, 9/3, 3/2, 1/1 normalised
    assert expected == pytest.approx([6.75 / 12.25, 3 / 12.25, 1.5 / 12.25, 1 / 12.25])
    assert shares == pytest.approx(list(expected), abs=0.03)


def test_hyperband_compares_only_within_a_bracket() -> None:
    band = Hyperband(1, 27, 3, seed=0)
    zero = [n for n in range(200) if band.bracket(n) == 0][:3]
    last = [n for n in range(200) if band.bracket(n) == band.brackets - 1][:1]
    a, b, c = zero
    # bracket 0 decides at rung 1: c is worse than a and b there (n=3, top 1): stop
    assert band.should_stop(c, Curves({a: {1: 0.1}, b: {1: 0.2}, c: {1: 0.9}}))
    # a trial of the last bracket is never judged, however bad
    (d,) = last
    assert not band.should_stop(d, Curves({a: {1: 0.1, 3: 0.1, 9: 0.1}, d: {1: 9.0, 3: 9.0, 9: 9.0}}))


def test_a_power_law_curve_predicts_its_final_value_once_it_has_three_steps() -> None:
    from hyperstep.schedulers.curves import predict

    curve = {s: 0.1 + 1.2 * s**-1.0 for s in range(1, 4)}
    assert predict({1: 1.3, 2: 0.7}, 27) is None  # two steps: nothing to fit
    assert predict(curve, 3) is None  # the target is no prediction: it is known
    heading = predict(curve, 27)
    assert heading is not None and heading.mean == pytest.approx(0.1 + 1.2 / 27, abs=0.02)
    assert heading.low <= heading.mean <= heading.high


def test_asha_with_a_curve_model_lets_a_slow_starter_with_the_best_slope_go_on() -> None:
    # at rung 3: trial 0 flat at 0.30, trial 1 at 0.35 and flattening; trial 2 is worst there
    # (0.40) but falls fast (1.6, 0.8, 0.4: heading near 0): plain ASHA stops it, the curve model does not
    others = {0: {1: 0.3, 2: 0.3, 3: 0.3}, 1: {1: 0.5, 2: 0.4, 3: 0.35}}
    slow = {1: 1.6, 2: 0.8, 3: 0.4}
    assert ASHA(1, 27, 3).should_stop(2, Curves({**others, 2: slow}))
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(2, Curves({**others, 2: slow}))
    # one merely slow (worst at rung 3 and flattening above the others) still stops
    flat = {1: 0.6, 2: 0.5, 3: 0.45}
    assert ASHA(1, 27, 3, curve_model=True).should_stop(2, Curves({**others, 2: flat}))
    # at rung 1 there is no curve to fit: plain ASHA
    assert ASHA(1, 27, 3, curve_model=True).should_stop(2, Curves({0: {1: 0.3}, 1: {1: 0.35}, 2: {1: 1.6}}))


def test_hyperband_with_uniform_brackets_gives_each_bracket_the_same_share() -> None:
    band = Hyperband(1, 27, 3, seed=7, brackets="uniform")
    assert band.bracket_weights() == pytest.approx([0.25] * 4)
    shares = [sum(band.bracket(n) == b for n in range(4000)) / 4000 for b in range(4)]
    assert shares == pytest.approx([0.25] * 4, abs=0.03)


def crossing_peers(sign: float) -> dict[int, dict[int, float]]:
    """Six trials run to 27: value 0.1*i at rung 1 and, at the end, 0.1*i (sign 1: curves
    keep their order) or 1 - 0.1*i (sign -1: curves cross, the first ahead ends behind)."""
    return {i: {1: 0.1 * i, 3: 0.1 * i, 9: 0.1 * i, 27: 0.1 * i if sign > 0 else 1.0 - 0.1 * i} for i in range(6)}


def test_asha_does_not_stop_on_a_rung_whose_ranking_the_finished_trials_contradict() -> None:
    asha = ASHA(1, 27, 3)
    # trial 6 is last at rung 1 (0.9 behind 0.0-0.5): out of the top ceil(7/3) = 3
    assert asha.should_stop(6, Curves({**crossing_peers(1.0), 6: {1: 0.9}}))
    assert not asha.should_stop(6, Curves({**crossing_peers(-1.0), 6: {1: 0.9}}))
    # with fewer than six finished trials, the rung is trusted as ASHA does
    five = {i: c for i, c in crossing_peers(-1.0).items() if i < 5}
    assert asha.should_stop(6, Curves({**five, 6: {1: 0.9}}))


def test_with_a_curve_model_a_trial_top_at_its_rung_stops_when_its_curve_cannot_reach_the_best_final() -> None:
    # trial 0 ran to 27 and ended at 0.10; trial 1 is best at rung 3 of the trials there
    # (trial 0 was 0.50 at 3), but its exact power law flattens at 0.30: it cannot end below 0.10
    done = {1: 1.0, 2: 0.7, 3: 0.5, 9: 0.2, 27: 0.1}
    flattening = {s: 0.3 + 0.2 * s**-1.0 for s in (1, 2, 3)}
    peers = Curves({0: done, 1: flattening})
    assert not ASHA(1, 27, 3).should_stop(1, peers)  # plain ASHA: top at the rung, goes on
    assert ASHA(1, 27, 3, curve_model=True).should_stop(1, peers)
    # one heading below the best final goes on; so does any while no trial has reached 27
    falling = {s: 0.05 + 0.4 * s**-1.0 for s in (1, 2, 3)}
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(1, Curves({0: done, 1: falling}))
    unfinished = {s: v for s, v in done.items() if s < 27}
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(1, Curves({0: unfinished, 1: flattening}))


def test_with_a_curve_model_predicted_finals_show_a_crossing_rung_before_six_trials_finish() -> None:
    # six trials stopped at rung 3 on power laws that cross: ahead at rung 1, behind at the end
    crossing = {i: {s: (0.5 - 0.05 * i) + (0.1 * i) * s**-1.0 for s in (1, 2, 3)} for i in range(6)}
    late = {6: {1: 2.0}}  # last at rung 1: out of the top third there
    assert ASHA(1, 27, 3).should_stop(6, Curves({**crossing, **late}))  # no trial finished: the rung is trusted
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(6, Curves({**crossing, **late}))


def test_an_exact_power_law_predicts_its_final_value_between_the_grid_exponents() -> None:
    # exponents off the fit's grid: the grid's best alone was up to 2.7e-3 off the final value
    # here, with the truth outside the interval (low above it)
    from hyperstep.schedulers.curves import predict

    for b in (0.437, 1.13):
        final = 0.1 + 1.2 * 27**-b
        heading = predict({s: 0.1 + 1.2 * s**-b for s in (1, 2, 3)}, 27)
        assert heading is not None and heading.mean == pytest.approx(final, abs=1e-5)
        assert heading.low <= final + 1e-6


def test_with_a_curve_model_a_trial_heading_just_below_the_best_final_goes_on() -> None:
    # trial 0 ended at 0.1 + 1.2 * 27**-1.13 + 5e-4; trial 1's exact power law ends 5e-4 below
    # it: refining near the incumbent, what the incumbent stop must not cut
    final = 0.1 + 1.2 * 27**-1.13
    done = {1: 1.0, 3: 0.6, 9: 0.3, 27: final + 5e-4}
    refining = {s: 0.1 + 1.2 * s**-1.13 for s in (1, 2, 3)}
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(1, Curves({0: done, 1: refining}))


def exact_law(b: float, last: int, final: float = 0.15) -> dict[int, float]:
    """Steps 1..``last`` of ``c + 1.2 * s**-b`` whose value at 27 is ``final``."""
    c = final - 1.2 * 27**-b
    return {s: c + 1.2 * s**-b for s in range(1, last + 1)}


def test_an_exact_power_law_with_a_residual_left_predicts_a_narrow_interval() -> None:
    # b = 0.97 falls between the grid's exponents: judged against the grids' best residual,
    # the interval ran from 0.1490 to 0.1535 about a final of 0.15 after nine steps
    from hyperstep.schedulers.curves import predict

    for last in (4, 9):
        heading = predict(exact_law(0.97, last), 27)
        assert heading is not None
        assert heading.low >= 0.15 - 2e-5 and heading.high <= 0.15 + 2e-5
    # three steps, three parameters: some exponent fits (nearly) any curve, a zero residual
    # says nothing, and the interval stays as wide as the grids make it
    short = predict(exact_law(0.97, 3), 27)
    assert short is not None and short.low < 0.15 - 1e-3


def test_with_a_curve_model_a_trial_heading_just_behind_the_best_final_stops_at_rung_9() -> None:
    # trial 0 ended at 0.149; trial 1's exact power law is heading to 0.150, 1e-3 behind:
    # at rung 9 its curve says so (it ran to the end before: the interval reached 0.1490)
    done = {**exact_law(0.5, 26, final=0.149), 27: 0.149}
    assert ASHA(1, 27, 3, curve_model=True).should_stop(1, Curves({0: done, 1: exact_law(0.97, 9)}))
    # heading 1e-4 ahead of the best final: goes on
    ahead = exact_law(0.97, 9, final=0.1489)
    assert not ASHA(1, 27, 3, curve_model=True).should_stop(1, Curves({0: done, 1: ahead}))


def late_drop(step: int, floor: float) -> float:
    """Flat near 1.0 until about step 12, then down to ``floor`` (not a power law)."""
    return floor + (1.0 - floor) / (1.0 + (step / 12.0) ** 4)


def slow_start(step: int, floor: float) -> float:
    """``late_drop`` with a small early gain that levels off, so its first steps look like a
    power law heading near 1 (a curve whose gains grow is no power law: ``bounded`` False)."""
    return late_drop(step, floor) - 0.02 * (1.0 - 1.0 / step)


def test_with_a_curve_model_the_incumbent_stop_turns_off_at_a_rung_where_it_would_have_cut_the_winners() -> None:
    # trial 0 ended first at 0.5; trials 1-3 then each beat the best final before them, though
    # their first three steps (levelling off) predicted finals near 1: the incumbent stop at
    # rung 3 would have cut all three. Trial 4, flat at rung 3 and top there, goes on
    first = {s: 0.5 + 0.5 * s**-1.0 for s in range(1, 28)}
    winners = {i: {s: slow_start(s, 0.3 - 0.05 * i) for s in range(1, 28)} for i in (1, 2, 3)}
    flat = {s: slow_start(s, 0.1) - 0.01 for s in (1, 2, 3)}
    ended = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}
    asha = ASHA(1, 27, 3, curve_model=True)
    assert asha.behind_incumbent(flat, Curves({0: first, **winners, 4: flat}, ended=ended))
    assert not asha.incumbent_stop_held(3, Curves({0: first, **winners, 4: flat}, ended=ended))
    assert not asha.should_stop(4, Curves({0: first, **winners, 4: flat}, ended=ended))
    # the same winners on power laws their first three steps predicted: the stop holds, trial 4 stops
    laws = {i: {s: (0.3 - 0.05 * i) + 0.7 * s**-0.5 for s in range(1, 28)} for i in (1, 2, 3)}
    assert asha.incumbent_stop_held(3, Curves({0: first, **laws, 4: flat}, ended=ended))
    assert asha.should_stop(4, Curves({0: first, **laws, 4: flat}, ended=ended))
    # a pessimistic prediction for a trial that ended behind the best before it is no miss
    behind = {i: {s: slow_start(s, 0.6 + 0.05 * i) for s in range(1, 28)} for i in (1, 2, 3)}
    assert asha.incumbent_stop_held(3, Curves({0: first, **behind, 4: flat}, ended=ended))


def test_a_curve_still_falling_in_a_straight_line_is_not_bounded_by_the_power_law() -> None:
    from hyperstep.schedulers.curves import predict

    def heading(values: list[float]) -> bool:
        prediction = predict(dict(enumerate(values, start=1)), 27)
        assert prediction is not None
        return prediction.bounded

    assert not heading([0.7, 0.4, 0.1])  # falling as fast as ever: no sign of levelling off
    assert not heading([1.0, 0.99, 0.9])  # falling faster and faster (a late drop)
    assert heading([1.0, 0.5, 0.4])  # levelling off: the power law's shape
    assert heading(list(exact_law(0.97, 9).values()))
    assert heading([0.1, 0.4, 0.7])  # getting worse in a straight line: the bound stands


def test_with_a_curve_model_a_trial_ahead_at_every_step_on_straight_lines_is_not_stopped_as_behind() -> None:
    # trial 0 ended at -0.8 from 1 - 0.2 s; trial 1 falls twice as fast (ahead at every step),
    # but a power law fit to its three steps levels off above -0.8: the incumbent stop cut it
    done = {s: 1.0 - 0.2 * s for s in range(1, 10)}
    steeper = {s: 1.0 - 0.3 * s for s in (1, 2, 3)}
    asha = ASHA(1, 9, 3, curve_model=True)
    assert not asha.behind_incumbent(steeper, Curves({0: done, 1: steeper}))
    assert not asha.should_stop(1, Curves({0: done, 1: steeper}))


def test_decides_needs_only_the_newest_step_and_the_one_below_it() -> None:
    """``decides`` reads two steps of a curve, found in one scan (``newest``), and answers
    as the sorted curve did: at a rung only as the newest step is the first at or past it,
    for every order the steps arrived in (a late step below the newest moves the one below)."""
    assert newest({5: 0.1, 1: 0.3, 9: 0.2, 2: 0.4}) == (9, 5)
    assert newest({4: 1.0}) == (4, None)
    rng = random.Random(0)

    def sorted_crossed(curve: list[int], rung: int) -> bool:  # the rule as the sorted curve gave it
        steps = sorted(set(curve))
        return steps[-1] >= rung and (len(steps) == 1 or steps[-2] < rung)

    schedulers = [ASHA(1, 27, 3), Hyperband(1, 27, 3), Hyperband(1, 27, 3, brackets="adaptive"), MedianStopping(2, 27)]
    for _ in range(300):
        arrived = [rng.randint(0, 30) for _ in range(rng.randint(1, 6))]
        step, previous = newest(dict.fromkeys(arrived, 0.0))
        for scheduler in schedulers:
            if isinstance(scheduler, MedianStopping):
                expected = 2 <= max(arrived) < 27
            else:
                first = scheduler.bracket(7) if scheduler.name == "asha" or scheduler.weighting != "adaptive" else 0
                expected = max(arrived) < 27 and any(sorted_crossed(arrived, r) for r in rungs(1, 27, 3, first))
            assert scheduler.decides(7, step, previous) is expected, (scheduler.name, arrived)


def test_should_stop_judges_the_whole_curve_up_to_the_reported_step() -> None:
    """A step report's trial holds only its newest steps (``report_metrics(whole_curve=False)``);
    as it passes a rung the scheduler gets its whole curve from the listed trials, up to the
    reported step (a step a later report wrote meanwhile left out), with this report's values."""
    from hyperstep.early_stopping import should_stop
    from hyperstep.models import Trial, TrialState

    seen: dict[str, object] = {}

    class Recording(ASHA):
        def _stop(self, number: int, curve: dict[int, float], curves: Curves) -> bool:
            seen.update(curve=curve, others=curves.others(number))
            return False

    reported = Trial(job_id="j", id="t0002", number=2, params={}, state=TrialState.RUNNING, curve={2: 0.5, 3: 0.4})
    listed = reported.model_copy(update={"curve": {1: 0.9, 2: 0.6, 3: 0.45, 4: 0.3}})
    other = Trial(job_id="j", id="t0001", number=1, params={}, state=TrialState.RUNNING, curve={1: 0.8, 3: 0.2})

    class Listed:
        keeps_unchanged_trials = False

        def list_trials(self, job_id: str) -> list[Trial]:
            return [other, listed]

    assert not should_stop(Recording(1, 27, 3), reported, Listed(), minimize=True)  # type: ignore[arg-type]
    assert seen == {"curve": {1: 0.9, 2: 0.5, 3: 0.4}, "others": {1: {1: 0.8, 3: 0.2}}}
