"""Early stopping through the ask/report/tell surface, exactly as issue 9 writes it."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

import hyperstep
from hyperstep.errors import SpecError
from hyperstep.messages import MAX_CURVE_STEPS
from hyperstep.models import Trial, TrialState
from hyperstep.spec import parse_spec

SPACE = hyperstep.SearchSpace.model_validate({"parameters": [{"name": "rate", "type": "float", "low": 0, "high": 1}]})
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}


def curve_value(rate: float, step: int) -> float:
    """A learning curve: lower rates learn to a lower loss; every curve falls with steps."""
    return rate + 1.0 / step


def run_one(study: hyperstep.Study) -> tuple[Trial, int]:
    """The issue's loop, verbatim but for the training; returns the trial and its last step."""
    trial = study.ask(1)[0]
    for step in range(1, 28):
        value = curve_value(trial.params["rate"], step)
        if study.report(trial.id, step, value):  # True: stop this trial now
            study.tell(trial.id, value, state="stopped")
            break
    else:
        study.tell(trial.id, value)
    return study.store.get_trial(study.job_id, trial.id), step


def test_the_issue_interface_stops_losers_and_runs_winners_to_the_end() -> None:
    study = hyperstep.Study(SPACE, goal="minimize", strategy="bayesian", seed=0, early_stopping=ASHA)
    ran = [run_one(study) for _ in range(12)]
    stopped = [(t, step) for t, step in ran if t.state is TrialState.PRUNED]
    complete = [(t, step) for t, step in ran if t.state is TrialState.COMPLETED]
    assert stopped and complete
    assert all(step < 27 for _, step in stopped) and all(step == 27 for _, step in complete)
    for trial, step in stopped:  # a stopped trial keeps its curve, and its last value
        assert sorted(trial.curve) == list(range(1, step + 1))
        assert trial.value == pytest.approx(curve_value(trial.params["rate"], step))
    best = study.best_trial
    assert best is not None and best.state is TrialState.COMPLETED
    assert best.value == min(t.value for t, _ in complete)
    job = study.job
    assert (job.completed, job.pruned, job.budget_used) == (len(complete), len(stopped), 12)  # stopped trials count


ISSUE_SNIPPET = """
study = hyperstep.Study(space, goal="minimize", strategy="bayesian", seed=0,
                        early_stopping={"name": "asha", "min_resource": 1, "max_resource": 27,
                                        "reduction_factor": 3})
trial = study.ask(1)[0]
for step in range(1, 28):
    value = train_one_more_epoch()
    if study.report(trial.id, step, value):      # True: stop this trial now
        study.tell(trial.id, value, state="stopped")
        break
else:
    study.tell(trial.id, value)
"""
"""Issue 9's Python interface, character for character (code outside the repository drives it so)."""


def test_the_issue_snippet_runs_character_for_character() -> None:
    """The snippet, executed as written, once a finished trial makes a rung: a trial that
    learns worse is stopped at rung 1 and told stopped; the first runs to the end."""
    values = iter([0.1] * 27 + [0.9] * 27)
    namespace = {"hyperstep": hyperstep, "space": SPACE, "train_one_more_epoch": lambda: next(values)}
    exec(ISSUE_SNIPPET, namespace)
    study, first = namespace["study"], namespace["trial"]
    exec(ISSUE_SNIPPET.split("\n", 4)[-1], namespace)  # its loop again (from ``trial = ...``) on the same study
    trials = sorted(study.store.list_trials(study.job_id), key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETED, TrialState.PRUNED]
    assert trials[0].id == first.id and sorted(trials[0].curve) == list(range(1, 28))
    assert sorted(trials[1].curve) == [1] and trials[1].value == 0.9
    assert study.best_trial.id == first.id


def test_report_is_a_plain_bool_and_false_without_early_stopping() -> None:
    study = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=0)
    trial = study.ask(1)[0]
    answer = study.report(trial.id, 1, 0.5)
    assert answer is False and type(answer) is bool
    assert study.store.get_trial(study.job_id, trial.id).curve == {1: 0.5}


def test_best_trial_while_none_reached_max_resource_is_best_at_the_highest_step() -> None:
    study = hyperstep.Study(SPACE, goal="maximize", strategy="random", seed=1, early_stopping=ASHA)
    a, b, c = study.ask(3)
    study.report(a.id, 1, 0.9)
    study.report(b.id, 1, 0.1)
    study.report(b.id, 3, 0.2)
    study.report(c.id, 3, 0.3)
    assert study.best_trial.id == c.id  # highest step 3: c's 0.3 beats b's 0.2 (maximize)
    study.report(a.id, 27, 0.5)
    assert study.best_trial.id == a.id  # a reached max_resource


def test_a_trial_reaching_max_resource_is_never_stopped() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 3})
    good, bad = study.ask(2)
    assert not study.report(good.id, 1, 0.1)
    assert study.report(bad.id, 1, 0.9)  # worse at rung 1 (n=2, top 1)
    assert not study.report(bad.id, 3, 5.0)  # at max_resource: complete, whatever its value


def test_decisions_are_deterministic_for_a_seed() -> None:
    def decisions() -> list[tuple[str, int]]:
        study = hyperstep.Study(SPACE, strategy="random", seed=3, early_stopping={**ASHA, "name": "hyperband"})
        return [(t.state.value, step) for t, step in (run_one(study) for _ in range(10))]

    first = decisions()
    assert first == decisions()
    assert any(state == "pruned" for state, _ in first), "the run must stop some trials, or it shows nothing"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"name": "lottery", "max_resource": 9}, "early_stopping.name: Input should be 'none', 'median', 'asha'"),
        (  # the checks across fields name the field they fault (they said "early_stopping: ...")
            {"name": "asha", "min_resource": 10, "max_resource": 9},
            "early_stopping.min_resource: 10 must not exceed max_resource (9)",
        ),
        ({"name": "asha", "max_resource": 9, "reduction_factor": 1}, "reduction_factor: Input should be greater"),
        ({"name": "median"}, "early_stopping.max_resource: missing: median needs it"),
        (  # not "exceed max_resource (1)": unwritten
            {"name": "asha", "min_resource": 5},
            "early_stopping.max_resource: missing: asha needs it",
        ),
        ({"name": "asha", "max_resource": 10_001}, "max_resource: Input should be less than or equal to 10000"),
    ],
)
def test_spec_validation_errors(block: dict, message: str) -> None:
    parameters = [{"name": "x", "type": "float", "low": 0, "high": 1}]
    document = {"name": "j", "objective": {"metric": "loss"}, "parameters": parameters, "early_stopping": block}
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    assert str(caught.value).startswith("early_stopping") and message in str(caught.value)
    with pytest.raises(SpecError) as caught:  # the same one line from Python
        hyperstep.Study(SPACE, early_stopping=block)
    assert str(caught.value).startswith("early_stopping") and message in str(caught.value)


@pytest.mark.parametrize("block", [{"name": "none", "min_resource": 5}])
def test_a_switched_off_block_with_min_resource_alone_is_accepted(block: dict) -> None:
    """``none`` switches early stopping off whatever else the block holds (no name is refused:
    ``test_an_early_stopping_block_without_a_name_is_refused_...``), as
    with ``max_resource`` and ``reduction_factor``: a ``min_resource`` alone is not held
    against a ``max_resource`` nobody wrote (the default, 1)."""
    parameters = [{"name": "x", "type": "float", "low": 0, "high": 1}]
    document = {"name": "j", "objective": {"metric": "loss"}, "parameters": parameters, "early_stopping": block}
    assert parse_spec(document).early_stopping.name == "none"
    study = hyperstep.Study(SPACE, early_stopping=block)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 7, 0.5) is False


def test_a_curve_of_10000_steps_stays_far_below_dynamodbs_item_limit() -> None:
    curve = {step: 1.0 / (step + 1) + 1e-9 * step for step in range(MAX_CURVE_STEPS)}  # the stores' cap
    trial = Trial(job_id="j", id="t0000", number=0, params={"rate": 0.5}, curve=curve)
    body = trial.model_dump_json()
    assert len(trial.curve) == MAX_CURVE_STEPS and len(body.encode()) < 200_000
    back = Trial.model_validate_json(body)
    assert back.curve == trial.curve  # exact: float64 round trip
    assert json.loads(body)["curve"] != {}


@pytest.mark.parametrize("step", [1.5, "2", True, None])
def test_report_refuses_a_step_that_is_not_an_integer_saying_so(step: object) -> None:
    """A step is an integer (numpy's too); ``True`` is no step 1, and a float or a string
    is refused with the same ValueError as a negative step, not a pydantic or type error."""
    study = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=0, early_stopping=ASHA)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=r"^step must be an integer from 0 to \d+, got "):
        study.report(trial.id, step, 0.5)  # type: ignore[arg-type]
    assert study.store.get_trial(study.job_id, trial.id).curve == {}
    assert study.report(trial.id, np.int64(2), 0.5) is False
    assert study.store.get_trial(study.job_id, trial.id).curve == {2: 0.5}


@pytest.mark.parametrize("value", ["0.5", None, [0.5], True, False])
def test_report_refuses_a_value_that_is_not_a_number_saying_so(value: object) -> None:
    study = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=0, early_stopping=ASHA)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=r"^report a number as the value, got "):
        study.report(trial.id, 1, value)  # type: ignore[arg-type]
    assert study.store.get_trial(study.job_id, trial.id).curve == {}


def test_model_based_asks_carry_the_trial_count_as_the_strategys_offset_and_plain_ones_none() -> None:
    """``History.offset``: the strategy's global/local hedge goes on across one-at-a-time asks
    with model-based early stopping; without it every ask is a batch of its own (offset 0).
    (The Bayesian strategy: one that reads no result is given no rungs, hence no offset.)"""
    space = {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]}
    early = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3, "model_based": True}
    for stopping, offsets in ((early, [0, 1, 2, 3]), (None, [0, 0, 0, 0])):
        study = hyperstep.Study(space, strategy="bayesian", seed=0, early_stopping=stopping)
        seen = []
        for _ in range(4):
            seen.append(study.history(study.store.list_trials(study.job_id)).offset)
            trial = study.ask(1)[0]
            for step in range(1, 10):
                if study.report(trial.id, step, (trial.params["x"] - 0.3) ** 2 + 1 / step):
                    study.tell(trial.id, (trial.params["x"] - 0.3) ** 2 + 1 / step, state="stopped")
                    break
            else:
                study.tell(trial.id, (trial.params["x"] - 0.3) ** 2 + 1 / 9)
        assert seen == offsets


@pytest.mark.parametrize("state", ["stopped", "pruned"])
def test_a_trial_told_stopped_after_reaching_max_resource_completes_and_can_be_the_best(state: str) -> None:
    """A trial whose curve reached ``max_resource`` before it was told stopped (or pruned)
    had trained to the end: it ends completed with its value, as the service ends a stop
    that lands after the last step, so ``best_trial`` (the best that reached
    ``max_resource``) is it, not a worse trial that was told completed."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 3})
    ran_out, worse = study.ask(2)
    for step in (1, 2, 3):
        study.report(ran_out.id, step, 0.5 / step)
        study.report(worse.id, step, 1.0 / step)
    study.tell(worse.id, 1.0 / 3)
    told = study.tell(ran_out.id, None, state=state)
    assert (told.state, told.value, told.curve) == (TrialState.COMPLETED, 0.5 / 3, {1: 0.5, 2: 0.25, 3: 0.5 / 3})
    assert study.best_trial.id == ran_out.id
    job = study.job
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (2, 0, 2, ran_out.id)


def test_a_study_reopened_on_its_store_with_other_early_stopping_is_refused(tmp_path) -> None:
    """A stored job keeps its spec: reopened with another early_stopping, the study would
    silently run the stored one (``report`` always False for a job stored without), so it
    is refused; the same block, or none given, opens it with its own."""
    from hyperstep.stores.sqlite import SQLiteStore

    path = tmp_path / "s.db"
    hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="plain")
    with pytest.raises(ValueError, match=r"^early_stopping: job 'plain' is stored with other early stopping \(none\)"):
        hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="plain", early_stopping=ASHA)
    stopping = hyperstep.Study(
        SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="es", early_stopping=ASHA
    )
    with pytest.raises(ValueError, match=r"stored with other early stopping \(asha\)"):
        hyperstep.Study(SPACE, store=SQLiteStore(path), job_id="es", early_stopping={**ASHA, "max_resource": 9})
    good, bad = stopping.ask(2)
    stopping.report(good.id, 1, 0.1)
    for block in (ASHA, None):
        again = hyperstep.Study(
            SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="es", early_stopping=block
        )
        assert again.spec.early_stopping == stopping.spec.early_stopping
    assert again.report(bad.id, 1, 0.9) is True  # the stored ASHA judges it: worse at rung 1


def test_best_trial_with_early_stopping_is_never_an_infeasible_one() -> None:
    """README: a trial outside a constraint is never the best. With early stopping,
    ``best_trial`` read every trial (``early_stopping.best_trial``) and answered the
    infeasible one while the job's best and the front held the feasible one."""
    study = hyperstep.Study(
        SPACE,
        strategy="random",
        seed=0,
        early_stopping={"name": "median", "min_resource": 1, "max_resource": 4},
        constraints=[{"metric": "latency_ms", "max": 10}],
    )
    fast, slow, running = study.ask(3)
    study.tell(slow, 0.1, metrics={"latency_ms": 99.0})
    study.tell(fast, 0.5, metrics={"latency_ms": 1.0})
    study.report(running, 4, 0.2)  # reached max_resource, no final metrics yet: not known infeasible
    assert study.best_trial.id == running.id
    study.tell(running, 0.2, metrics={"latency_ms": 50.0})
    assert study.best_trial.id == fast.id == study.job.best_trial_id
    assert [t.id for t in study.pareto_front] == [fast.id]


def test_an_early_stopping_block_without_a_name_is_refused_and_an_empty_one_is_none() -> None:
    """Absent, ``{}`` or ``{name: none}``: every trial runs to its end. A block with fields
    but no name was ``none`` too, silently here and on the API (only ``validate`` warned):
    ``report`` always answered False. It is refused naming the field; nothing is stored."""
    from hyperstep.stores.sqlite import SQLiteStore

    store = SQLiteStore(":memory:")
    nameless = {"min_resource": 1, "max_resource": 27, "reduction_factor": 3}
    with pytest.raises(SpecError, match=r"^early_stopping\.name: missing: a block with fields needs a name \("):
        hyperstep.Study(SPACE, early_stopping=nameless, store=store)
    assert store.list_jobs() == []
    assert hyperstep.Study(SPACE, early_stopping={}).spec.early_stopping.name == "none"  # type: ignore[union-attr]


def test_a_trial_stopped_short_of_max_resource_stays_pruned_whatever_value_comes_late() -> None:
    """``report`` says stop at rung 3 of 9; the script still sends a better final value
    (told with the stop) and then tells it completed too: the trial stays pruned (told once),
    keeps its curve and its unit of budget, and ``best_trial`` is the trial that reached
    ``max_resource``, not it (issue 9; the service's rule for a late final report, pinned here
    for ask/tell)."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 9})
    leader, loser = study.ask(2)
    for step in range(1, 10):
        study.report(leader.id, step, 0.1 + 0.5 / step)
    study.tell(leader.id, 0.1 + 0.5 / 9)
    stopped = [step for step in (1, 2, 3) if study.report(loser.id, step, 2.0 / step)]
    assert stopped  # behind the leader at a rung: stop
    told = study.tell(loser.id, 0.01, state="stopped")  # the script's final value, sent anyway
    assert (told.state, max(told.curve) < 9) == (TrialState.PRUNED, True)
    with pytest.raises(ValueError, match="already told"):
        study.tell(loser.id, 0.01)
    assert study.best_trial.id == leader.id
    job = study.job
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (1, 1, 2, leader.id)


def test_a_late_step_joins_a_pruned_trial_s_curve_and_completes_it_at_max_resource() -> None:
    """Told stopped at step 2 of 3 (pruned), the trial's script still reports: step 2 again
    keeps its first value (with Optuna's warning) and step 3 joins its curve, ``report`` still
    answers True, and step 3, at ``max_resource``, ends it completed with that value, counted
    once, the best trial. (Before, a told trial's reports were dropped: pruned at 0.5 with its
    curve at step 2.)"""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 3})
    (trial,) = study.ask(1)
    study.report(trial.id, 1, 1.0)
    study.report(trial.id, 2, 0.5)
    assert study.tell(trial.id, state="stopped").state is TrialState.PRUNED
    with pytest.warns(UserWarning, match="step 2 is already reported"):
        assert study.report(trial.id, 2, 0.45) is True
    kept = study.store.get_trial(study.job_id, trial.id)
    assert (kept.state, kept.curve) == (TrialState.PRUNED, {1: 1.0, 2: 0.5})
    assert study.report(trial.id, 3, 0.25) is True
    done = study.store.get_trial(study.job_id, trial.id)
    assert (done.state, done.value, done.curve) == (TrialState.COMPLETED, 0.25, {1: 1.0, 2: 0.5, 3: 0.25})
    job = study.job
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (1, 0, 1, trial.id)


@pytest.mark.parametrize(
    ("block", "strategy", "ignored"),
    [
        ({"name": "median", "max_resource": 9, "reduction_factor": 2}, "random", ["reduction_factor"]),
        ({"name": "asha", "max_resource": 9, "brackets": "uniform"}, "bayesian", ["brackets"]),
        ({"name": "asha", "max_resource": 9, "resource_model": "gp"}, "sobol", ["resource_model"]),
        ({"name": "median", "max_resource": 9, "reduction_factor": 2}, "bayesian", []),  # the model's rungs read it
        (ASHA, "bayesian", []),
        # no step before max_resource is judged, and a trial there is complete: it stopped none, without a word
        ({"name": "asha", "min_resource": 9, "max_resource": 9}, "bayesian", ["min_resource"]),
        ({"name": "median", "min_resource": 27, "max_resource": 27}, "random", ["min_resource"]),
    ],
)
def test_a_study_warns_of_the_early_stopping_options_nothing_reads_as_validate_does(
    block: dict, strategy: str, ignored: list[str]
) -> None:
    """The same rule at every entry point: an option nothing reads with the rest of the spec
    is accepted with a warning naming it (``hyperstep validate`` prints the same line; it
    was said there only, and Study took ``median`` with a ``reduction_factor`` silently)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hyperstep.Study(SPACE, strategy=strategy, seed=0, early_stopping=block)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert [line.split(" ")[0] for line in said] == [f"early_stopping.{name}" for name in ignored], said
    assert [w.filename for w in caught if issubclass(w.category, UserWarning)] == [__file__] * len(said)  # the caller's


@pytest.mark.parametrize("state", ["stopped", "pruned"])
@pytest.mark.parametrize("early_stopping", [ASHA, None])
@pytest.mark.parametrize(
    "told",
    [float("nan"), float("inf"), 10**400, Fraction(-(10**400), 3)],  # a Fraction's float() raised OverflowError
    ids=["nan", "inf", "int-past-float", "fraction-past-float"],
)
def test_a_trial_told_stopped_with_a_value_that_is_not_finite_fails_and_counts(
    early_stopping: dict | None, told: float, state: str
) -> None:
    """The issue's loop on a trial that diverges at its first step: ``report`` answers True
    (not recorded, so no curve) and the loop tells ``stopped`` with the value it has, NaN. The
    trial diverged: it fails with no value (no store keeps NaN: DynamoDB refuses it, JSON has
    none), as a trial told completed with NaN does and as the service fails one whose final
    value is not finite, and it counts against the budget. It ended stopped before, giving its
    unit back: an ``ask(max_trials=3)`` loop over a space that diverges everywhere never ran out
    (20 trials asked, 1 unit used, when the probe stopped it). Told ``pruned`` (Optuna's word),
    alike: it ended pruned with no value, no failure. With a finite step, see the next test."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=early_stopping)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 1, told) is (early_stopping is not None)
    ended = study.tell(trial.id, told, state=state)
    assert (ended.state, ended.value, ended.curve) == (TrialState.FAILED, None, {})
    assert ended.error is not None and ended.error.startswith("objective is not finite")
    assert study.job.budget_used == 1
    kept = study.tell(study.ask(1)[0].id, 0.5, state="stopped")  # finite, with no curve: kept as told
    assert (kept.state, kept.value) == (TrialState.STOPPED, 0.5)


def test_the_issue_loop_over_trials_that_all_diverge_runs_out_of_budget() -> None:
    study = hyperstep.Study(SPACE, strategy="bayesian", seed=0, early_stopping=ASHA)
    asked = 0
    while (trials := study.ask(1, max_trials=3)) and asked < 10:
        asked += 1
        if study.report(trials[0].id, 1, float("nan")):
            study.tell(trials[0].id, float("nan"), state="stopped")
    assert asked == 3 and study.job.budget_used == 3
    assert [t.state for t in study.trials] == [TrialState.FAILED] * 3


@pytest.mark.parametrize("state", ["stopped", "pruned"])
def test_a_trial_that_diverges_after_finite_steps_ends_pruned_at_its_last_finite_value(state: str) -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 1, 0.5) is False and study.report(trial.id, 2, float("nan")) is True
    ended = study.tell(trial.id, float("nan"), state=state)
    assert (ended.state, ended.value, ended.curve, study.job.budget_used) == (TrialState.PRUNED, 0.5, {1: 0.5}, 1)


def test_a_trial_with_finite_steps_told_stopped_with_nan_in_a_study_without_early_stopping_does_not_fail() -> None:
    """Only a trial with no finite step fails when told stopped with a value that is not
    finite (``tell``'s rule). Without early stopping a trial with a curve stays the user's
    stop, no value, its unit of budget given back, as told stopped with no value; it was
    failed, counted, ``objective is not finite``. Told pruned it ends at its last finite value."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    completed, stopped, pruned = study.ask(3)
    for trial in (completed, stopped, pruned):
        assert study.report(trial.id, 1, 0.5) is False and study.report(trial.id, 2, float("nan")) is False
    ended = study.tell(completed.id, float("nan"))  # told completed, it fails whatever its curve
    assert (ended.state, ended.value, ended.error) == (TrialState.FAILED, None, "objective is not finite (nan)")
    ended = study.tell(stopped.id, float("nan"), state="stopped")
    assert (ended.state, ended.value, ended.error, ended.curve) == (TrialState.STOPPED, None, None, {1: 0.5})
    assert study.job.budget_used == 2  # the failed one's and the pending one's; the stopped one gave its back
    ended = study.tell(pruned.id, float("nan"), state="pruned")
    assert (ended.state, ended.value, study.job.budget_used) == (TrialState.PRUNED, 0.5, 2)


def test_a_late_step_at_max_resource_completes_a_trial_told_stopped_as_the_service_does() -> None:
    """The user stops a trial before any step (``tell(state="stopped")``, no curve: stopped,
    its unit of budget given back); its script's report of step 3 (``max_resource``) still
    comes. The service completes such a trial (``_report_after_end``: its training was
    over), so ``Study`` does too: completed with that value, its unit of budget taken back,
    the best trial. (Before: ``Study`` left it stopped, the service completed it.)"""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 3})
    (trial,) = study.ask(1)
    assert study.tell(trial.id, state="stopped").state is TrialState.STOPPED
    assert study.job.budget_used == 0
    assert study.report(trial.id, 3, 0.25) is True
    done = study.store.get_trial(study.job_id, trial.id)
    assert (done.state, done.value, done.curve) == (TrialState.COMPLETED, 0.25, {3: 0.25})
    job = study.job
    assert (job.completed, job.budget_used, job.best_trial_id) == (1, 1, trial.id)


def test_a_stopped_trial_without_a_curve_ends_alike_in_study_and_service() -> None:
    """The same trial, the same sequence (stopped with no curve, then a step at
    ``max_resource``), through ``Study`` and through the service's collect: the same end."""
    from hyperstep.service import TuningService
    from tests.unit.test_service import FakeBackend

    ends = []
    for through_service in (False, True):
        study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "max_resource": 3})
        (trial,) = study.ask(1)
        study.tell(trial.id, state="stopped")
        if through_service:
            service = TuningService(study.store, {"local": FakeBackend()})
            service.report_metrics(study.job_id, trial.id, {study.spec.primary.metric: 0.25}, step=3)
        else:
            study.report(trial.id, 3, 0.25)
        ended = study.store.get_trial(study.job_id, trial.id)
        ends.append((ended.state, ended.value, study.job.budget_used))
    assert ends[0] == ends[1] == (TrialState.COMPLETED, 0.25, 1)


@pytest.mark.parametrize("resource_model", [None, "gp"])
@pytest.mark.parametrize("strategy", ["random", "sobol", "grid"])
@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_a_strategy_that_reads_no_result_is_given_no_rungs_to_rank(
    strategy: str, scheduler: str, resource_model: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``model_based`` (the default) with random, sobol or grid (``validate`` says it is
    ignored) ranked every trial at every rung, and fitted the curves, on every ask, though
    these strategies read only which points were tried. They are given none now; their
    trials and the stops are the same (``benchmarks.learns_nothing_cost``: the same traces
    before and after)."""
    import hyperstep.study_history as study_history

    def ranked(*args: object, **kwargs: object) -> None:
        raise AssertionError("the rungs were ranked for a strategy that reads no result")

    monkeypatch.setattr(study_history, "rung_observations", ranked)
    space = {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]}
    early = {"name": scheduler, "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    if resource_model is None:
        study = hyperstep.Study(space, strategy=strategy, seed=0, early_stopping=early)
    else:  # the joint GP's fit is no more theirs than the rungs (rev-e20); Study says it is ignored
        early["resource_model"] = resource_model
        with pytest.warns(UserWarning, match="resource_model is ignored"):
            study = hyperstep.Study(space, strategy=strategy, seed=0, early_stopping=early)
    assert study.fidelity_levels is None and not study.joint_model
    for _ in range(4):  # a 1-D grid has 5 points: the 5th ask reads the 4 ended trials
        trial = study.ask(1)[0]
        for step in range(1, 10):
            value = (trial.params["x"] - 0.3) ** 2 + 1 / step
            if study.report(trial.id, step, value) and step < 9:
                study.tell(trial.id, value, state="stopped")
                break
        else:
            study.tell(trial.id, value)
    assert len(study.ask(1)) == 1


def test_report_and_tell_of_an_unknown_trial_raise_the_notfounderror_readme_names() -> None:
    """README: "an unknown one raises ``NotFoundError``"; it was not in ``hyperstep``'s
    namespace (``except hyperstep.NotFoundError`` raised AttributeError). A ``KeyError`` too."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    for call in (lambda: study.report("t0042", 1, 0.5), lambda: study.tell(42, 0.5)):
        with pytest.raises(hyperstep.NotFoundError, match=r"^trial 't0042' of job '.*' not found$") as caught:
            call()
        assert isinstance(caught.value, KeyError)
    assert study.trials == []


def test_the_bayesian_strategy_learns_from_trials_that_diverge_at_their_first_step() -> None:
    """Where the space diverges (NaN at step 1 for x > 0.6), a diverged trial told stopped is
    now a failure the strategy sees. As a stopped trial it was neither an observation nor a
    failure: with none to learn from, the strategy proposed into the same region again and
    again (seed 0: 60 asked, 60 diverged, 1 unit of a 30-trial budget used)."""
    study = hyperstep.Study(SPACE, strategy="bayesian", seed=0, early_stopping={**ASHA, "max_resource": 9})
    asked = diverged = 0
    while (trials := study.ask(1, max_trials=12)) and asked < 24:
        trial, asked = trials[0], asked + 1
        for step in range(1, 10):
            value = float("nan") if trial.params["rate"] > 0.6 else curve_value(trial.params["rate"], step)
            if study.report(trial.id, step, value):
                study.tell(trial.id, value, state="stopped")
                diverged += math.isnan(value)
                break
        else:
            study.tell(trial.id, value)
    assert asked == 12 and diverged <= 6, (asked, diverged)
    best = study.best_trial
    assert best is not None and best.state is TrialState.COMPLETED and best.params["rate"] <= 0.6


def test_report_judges_each_report_alone_so_a_step_after_a_true_may_answer_false() -> None:
    """Act on the first True (README): ``report`` keeps no answer it gave (a study's
    processes share only the store), and decides as a report passes a rung, on the newest
    step. probe-22 asked whether a False after a True (ASHA, steps 3, 2, 1) is right: it is
    the documented rule, so a trial reported on after a True is not stopped by the study."""
    study = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=0, early_stopping=ASHA)
    for value in (0.1, 0.2):  # two trials past rung 1 and 3, learning well
        finished = study.ask(1)[0]
        for step in range(1, 4):
            study.report(finished.id, step, value)
    trial = study.ask(1)[0]
    assert [study.report(trial.id, step, 5.0) for step in (1, 2, 3)] == [True, False, True]  # rungs 1 and 3


@pytest.mark.parametrize("state", ["stopped", "pruned"])
@pytest.mark.parametrize("early_stopping", [ASHA, None])
def test_a_trial_told_stopped_with_no_value_after_a_nan_report_fails_and_counts_once(
    early_stopping: dict | None, state: str
) -> None:
    """probe-23: the loop that acts on ``report``'s True on a NaN at the first step and tells
    ``stopped`` (or ``pruned``, Optuna's ``TrialPruned``) with no value. Stopped, the trial gave
    its unit of budget back, so an ``ask(max_trials=)`` loop over a space that diverges never ran
    out; pruned, it ended pruned with no value, no failure. It is told as with the NaN it
    reported: failed, counted once."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=early_stopping)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 1, float("nan")) is (early_stopping is not None)
    ended = study.tell(trial.id, state=state)
    assert (ended.state, ended.value, ended.error) == (TrialState.FAILED, None, "objective is not finite (nan)")
    assert study.job.budget_used == 1


def test_a_trial_told_stopped_with_no_value_after_steps_then_a_nan_ends_as_before() -> None:
    """A finite step before the NaN: pruned at it with early stopping, the user's stop (its unit
    given back) without, as told with the NaN (``tell``'s rule for a trial with a curve)."""
    pruned = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    trial = pruned.ask(1)[0]
    assert pruned.report(trial.id, 1, 0.5) is False and pruned.report(trial.id, 2, float("inf")) is True
    ended = pruned.tell(trial.id, state="stopped")
    assert (ended.state, ended.value, pruned.job.budget_used) == (TrialState.PRUNED, 0.5, 1)
    stopped = hyperstep.Study(SPACE, strategy="random", seed=0)
    trial = stopped.ask(1)[0]
    assert stopped.report(trial.id, 1, 0.5) is False and stopped.report(trial.id, 2, float("nan")) is False
    ended = stopped.tell(trial.id, state="stopped")
    assert (ended.state, ended.value, stopped.job.budget_used) == (TrialState.STOPPED, None, 0)


def test_a_multi_objective_trial_told_stopped_with_no_value_after_a_nan_report_stays_stopped() -> None:
    """With several objectives the NaN ``report`` took (the first objective's) is not a list
    of values to tell the trial with: it ends stopped as told."""
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 1, float("nan")) is False
    ended = study.tell(trial.id, state="stopped")
    assert (ended.state, ended.values, study.job.budget_used) == (TrialState.STOPPED, None, 0)
