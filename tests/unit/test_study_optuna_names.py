"""Optuna calls a copied script makes of a ``Study``: ``TrialState.COMPLETE`` / ``FAIL``,
``get_trials(states=...)``, ``optimize(callbacks=...)`` with ``study.stop()``, and the
error of ``tell(study.ask(), ...)`` (hyperstep's ``ask`` returns a list)."""

from __future__ import annotations

import threading
import warnings

import pytest

import hyperstep
from hyperstep import Study, Trial, TrialState

SPACE = [{"name": "x", "type": "float", "low": 0, "high": 1}]


def test_optuna_s_state_names_are_the_same_members() -> None:
    assert TrialState.COMPLETE is TrialState.COMPLETED and TrialState.FAIL is TrialState.FAILED
    assert len(TrialState.__members__) == 6  # no new member: listings and the API's enum (openapi.json) unchanged
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    (trial,) = study.ask(1)
    assert study.tell(trial, 0.5, state=TrialState.COMPLETE).state is TrialState.COMPLETED


def test_get_trials_filters_by_states_as_optuna_s() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    done, failed, pruned, running = study.ask(4)
    study.tell(done, 0.5)
    study.tell(failed, state="failed")
    study.tell(pruned, 0.7, state="pruned")
    assert study.get_trials() == study.trials and len(study.get_trials(deepcopy=False)) == 4
    assert [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))] == [done.number]
    assert [t.number for t in study.get_trials(states=[TrialState.COMPLETE, TrialState.PRUNED])] == [1, 3]
    assert [t.number for t in study.get_trials(states=TrialState.FAIL)] == [failed.number]
    assert [t.number for t in study.get_trials(states=("pending",))] == [running.number]
    with pytest.raises(ValueError, match="'complete' is not a valid TrialState"):
        study.get_trials(states=["complete"])


def test_optimize_calls_each_callback_with_the_ended_trial_and_stop_ends_the_loop() -> None:
    """Optuna's callbacks get ``(study, frozen_trial)`` after each trial; ``study.stop()`` in
    one (Optuna's way to stop at a target) starts no further trial."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    seen: list[tuple[int, TrialState, float | None]] = []

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number == 2:
            raise ValueError("diverged")
        return 0.25 * trial.number

    def note(s: Study, trial: Trial) -> None:
        seen.append((trial.number, trial.state, trial.value))
        if trial.number == 3:
            s.stop()

    study.optimize(objective, n_trials=10, catch=(ValueError,), callbacks=[note])
    assert seen == [(1, TrialState.COMPLETED, 0.25), (2, TrialState.FAILED, None), (3, TrialState.COMPLETED, 0.75)]
    assert len(study.trials) == 3
    study.optimize(objective, n_trials=1)  # a stop holds for the loop it was called in only
    assert len(study.trials) == 4
    with pytest.raises(RuntimeError, match="no optimize loop is running"):
        study.stop()


def test_a_returned_none_still_warns_at_the_caller_s_line() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(lambda trial: None, n_trials=1)
    assert [w.filename for w in caught] == [__file__]


def test_telling_the_list_ask_returned_says_to_take_one() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(TypeError, match=r"ask returns a list of trials; take one, study.ask\(\)\[0\]"):
        study.tell(study.ask(), 0.5)


def test_n_jobs_runs_the_objective_in_threads_each_on_its_own_trial() -> None:
    """Two objectives wait for each other (a barrier of two): they ran at once, each on its
    own trial; ``n_trials`` counts the trials of all threads."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    both = threading.Barrier(2, timeout=30)
    ran: list[int] = []

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number <= 2:
            both.wait()
        ran.append(trial.number)
        return trial.params["x"]

    study.optimize(objective, n_trials=6, n_jobs=2, gc_after_trial=True)
    assert sorted(ran) == [1, 2, 3, 4, 5, 6]
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 6


def test_an_exception_in_one_thread_is_raised_and_stops_the_others() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number == 3:
            raise KeyError("broken")
        return 0.5

    with pytest.raises(KeyError, match="broken"):
        study.optimize(objective, n_trials=50, n_jobs=2)
    assert len(study.trials) < 50 and study.trials[2].state is TrialState.FAILED


@pytest.mark.parametrize("n_jobs", [0, -2, True, 1.5])
def test_a_bad_n_jobs_is_refused_before_any_trial(n_jobs: object) -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(ValueError, match="n_jobs must be a positive integer or -1"):
        study.optimize(lambda trial: 0.5, n_trials=1, n_jobs=n_jobs)  # type: ignore[arg-type]
    assert study.trials == []


def test_a_trial_reads_as_optuna_s_frozen_trial_does() -> None:
    """``intermediate_values``, ``datetime_start``, ``datetime_complete`` and ``duration``,
    read from the trial's curve and times (the store's clock: here a fixed one)."""
    from hyperstep.stores.sqlite import SQLiteStore

    clock = iter([100.0, 100.0, 100.0, 102.5, 102.5, 102.5])
    store = SQLiteStore(":memory:", clock=lambda: next(clock, 102.5))
    study = hyperstep.Study(SPACE, strategy="random", seed=0, store=store)
    (trial,) = study.ask(1)
    assert (trial.datetime_complete, trial.duration, trial.intermediate_values) == (None, None, {})
    study.report(trial, 1, 0.5)
    ended = study.tell(trial, 0.25)
    assert ended.intermediate_values == {1: 0.5}
    assert ended.duration == ended.datetime_complete - ended.datetime_start
    assert ended.datetime_complete.timestamp() == ended.ended_at and ended.datetime_start.timestamp() == 100.0
    assert "duration" not in ended.model_dump()  # read, not stored nor in the API's answers


def test_an_interrupt_while_optimize_waits_for_its_threads_stops_them_after_their_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C lands in the main thread, which waits on the threads' futures: Optuna's loop
    then starts no further trial (its pool waits for the running ones); here the threads
    went on to ``n_trials`` (or forever without it) before the interrupt was raised."""
    import concurrent.futures

    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    result = concurrent.futures.Future.result
    started = threading.Event()

    def interrupted(self: concurrent.futures.Future, timeout: float | None = None) -> object:
        if threading.current_thread() is threading.main_thread():
            started.wait(30)
            raise KeyboardInterrupt
        return result(self, timeout)

    def objective(trial: hyperstep.TrialHandle) -> float:
        started.set()
        threading.Event().wait(0.01)
        return 0.5

    monkeypatch.setattr(concurrent.futures.Future, "result", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=60, n_jobs=2)
    assert len(study.trials) <= 6  # the trials running when it came, not the 60
    assert all(t.state is TrialState.COMPLETED for t in study.trials)


def test_n_jobs_minus_one_runs_a_loop_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CPUs: two loops at once (a barrier of two; one loop would wait on it alone)."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    both = threading.Barrier(2, timeout=30)

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number <= 2:
            both.wait()
        return 0.5

    study.optimize(objective, n_trials=4, n_jobs=-1)
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 4


def test_gc_after_trial_collects_after_each_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr("gc.collect", lambda *args: collected.append(1) or 0)
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    study.optimize(lambda trial: 0.5, n_trials=3, gc_after_trial=True)
    study.optimize(lambda trial: 0.5, n_trials=2)
    assert len(collected) == 3


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_optimize_ends_when_its_job_finishes_meanwhile_and_refuses_a_job_finished_before(tmp_path, n_jobs: int) -> None:
    """A job stopped (``hyperstep stop``, a run's end) while a study's ``optimize`` ran on it
    raised ask's ``ValueError`` ("... or give another job_id") out of the loop, from a worker
    thread with ``n_jobs``: as at ``study.stop()``, the loop now ends after the trial running.
    ``optimize`` on a job finished before it starts is refused, naming ``optimize``, with no trial."""
    from hyperstep.models import JobStatus, StopReason
    from hyperstep.stores.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "s.db")
    study = hyperstep.Study(SPACE, strategy="random", seed=0, store=store, job_id="shared")

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number == 3:  # as another process stops the job
            store.set_job_status("shared", JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="me")
        return 0.5

    study.optimize(objective, n_trials=40, n_jobs=n_jobs)
    ran = len(study.trials)
    assert ran == 3 if n_jobs == 1 else 3 <= ran < 40
    assert all(t.state is TrialState.COMPLETED for t in study.trials)
    with pytest.raises(ValueError, match=r"^optimize: job 'shared' has stopped \(me\): a study reads"):
        study.optimize(objective, n_trials=1, n_jobs=n_jobs)
    assert len(study.trials) == ran


@pytest.mark.parametrize("ending", ["value", "pruned", "raises"])
def test_hyperstep_stop_during_a_trial_of_optimize_keeps_its_stop_and_ends_the_loop(tmp_path, ending: str) -> None:
    """``hyperstep stop`` of a study's job records its running trial stopped; the objective's
    end then came to ``tell`` a trial already told: ``optimize`` raised that ``ValueError``
    ("already told (stopped)") in place of ending, and in place of the objective's own
    exception. Now the stop stands, the loop ends, and what the objective raised is raised."""
    from hyperstep.cli import main
    from hyperstep.stores.sqlite import SQLiteStore

    db = str(tmp_path / "s.db")
    study = hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(db), job_id="own")

    def objective(trial: hyperstep.TrialHandle) -> float:
        if trial.number == 2:
            assert main(["--store", db, "stop", "own", "--runs", str(tmp_path / "runs")]) == 0
            if ending == "pruned":
                raise hyperstep.TrialPruned()
            if ending == "raises":
                raise KeyError("broken")
        return 0.5

    if ending == "raises":
        with pytest.raises(KeyError, match="broken"):
            study.optimize(objective, n_trials=5)
    else:
        study.optimize(objective, n_trials=5)
    assert [(t.number, t.state) for t in study.trials] == [(1, TrialState.COMPLETED), (2, TrialState.STOPPED)]
