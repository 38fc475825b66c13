"""``hyperstep.blas``: the one library module that writes the environment writes only the
BLAS thread variables the user left unset, and hands the rest back as it was; proposals and
early-stopping decisions run on one BLAS thread whatever the process set, the objective on
the process's own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import hyperstep
from hyperstep import blas
from hyperstep.blas import one_blas_thread
from hyperstep.strategies.bayesian import BayesianOptimization


def test_only_the_unset_thread_variables_are_written_and_the_users_environment_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {"PATH": "/bin", "OMP_NUM_THREADS": "4"}
    monkeypatch.setattr(os, "environ", dict(environment))
    monkeypatch.setattr(blas, "_ADDED", set())
    blas.use_one_thread()
    assert {k: v for k, v in os.environ.items() if k not in environment} == {
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    assert os.environ["OMP_NUM_THREADS"] == "4"  # the user's kept
    assert blas.users_environment() == environment


def blas_threads() -> set[int]:
    """The thread counts of the BLAS libraries loaded (numpy's and scipy's OpenBLAS)."""
    import scipy.linalg  # noqa: F401  (its OpenBLAS counted too)

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def two_threads() -> Iterator[None]:
    """The process at two BLAS threads, as OpenBLAS's default on a 2-core machine or
    ``OPENBLAS_NUM_THREADS=2`` sets it."""
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this OpenBLAS takes no second thread (one core)")
        yield


def test_a_nested_block_leaves_one_thread_and_the_outer_one_gives_the_processs_back(two_threads: None) -> None:
    with one_blas_thread():
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {1}
    assert blas_threads() == {2}


ANOTHER_THREAD = """
import threading
import scipy.linalg  # numpy's OpenBLAS and scipy's
from threadpoolctl import threadpool_info
from hyperstep.blas import one_blas_thread

def threads():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})

seen = []
def block():
    with one_blas_thread():
        seen.append(threads())

block()  # the main thread first: threadpoolctl's controlling thread while it sets the count
worker = threading.Thread(target=block)
worker.start()
worker.join()
print(seen, threads())
"""


def test_a_block_in_another_thread_after_the_main_threads_gets_one_thread_too() -> None:
    """threadpoolctl (3.8) lets only the thread that set OpenBLAS's count last set it again
    until that thread's limits end: a block that kept the limiter past its thread's block
    left the next thread's proposals at the process's count."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", ANOTHER_THREAD], env=environment, capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "[[1], [1]] [2]"


def test_a_proposal_runs_on_one_thread_and_the_objective_on_the_processs(
    two_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, set[int]] = {"history": set(), "propose": set(), "should_stop": set(), "objective": set()}
    propose, history = BayesianOptimization.propose, hyperstep.Study.history

    def spied_history(self: hyperstep.Study, *args: Any) -> Any:  # an ask's curve fits (extrapolated finals)
        seen["history"] |= blas_threads()
        return history(self, *args)

    monkeypatch.setattr(hyperstep.Study, "history", spied_history)

    def spied_propose(self: BayesianOptimization, *args: Any) -> Any:
        seen["propose"] |= blas_threads()
        return propose(self, *args)

    monkeypatch.setattr(BayesianOptimization, "propose", spied_propose)
    early_stopping = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    study = hyperstep.Study([{"name": "x", "type": "float", "low": 0.0, "high": 1.0}], seed=0,
                            early_stopping=early_stopping)  # fmt: skip
    scheduler = type(study.scheduler)
    should_stop = scheduler.should_stop

    def spied_should_stop(self: Any, *args: Any) -> bool:
        seen["should_stop"] |= blas_threads()
        return should_stop(self, *args)

    monkeypatch.setattr(scheduler, "should_stop", spied_should_stop)

    def objective(trial: hyperstep.TrialHandle) -> float:
        seen["objective"] |= blas_threads()
        for step in range(1, 10):
            trial.report((trial.params["x"] - 0.3) ** 2 + 1.0 / step, step)
        return (trial.params["x"] - 0.3) ** 2 + 1.0 / 9

    study.optimize(objective, n_trials=6)
    assert seen == {"history": {1}, "propose": {1}, "should_stop": {1}, "objective": {2}}


SCIPY_LOADED_LAZILY = """
import sys
from threadpoolctl import threadpool_info
import hyperstep
from hyperstep.strategies.bayesian import BayesianOptimization

space = [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]
hyperstep.Study(space, strategy="random", seed=0).ask(2)
print("scipy.linalg" in sys.modules)
seen = set()
propose = BayesianOptimization.propose

def spied(self, *args):
    import scipy.linalg  # as the GP loads it, inside the proposal
    seen.update(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    return propose(self, *args)

BayesianOptimization.propose = spied
study = hyperstep.Study(space, seed=0)
for i in range(6):  # past the initial design: the first proposal is the GP's
    study.add_trial({"x": i / 6}, value=(i / 6 - 0.3) ** 2)
study.ask(1)
print(sorted(seen))
"""


def test_a_random_ask_loads_no_scipy_and_a_bayesian_ones_scipy_blas_is_limited_too() -> None:
    """A block that loaded ``scipy.linalg`` whatever the strategy cost a random strategy's
    first ``ask`` 0.6 s; one that left the Bayesian strategy to load it lazily would leave
    its OpenBLAS at the process's count on the first proposal of a process."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", SCIPY_LOADED_LAZILY], env=environment, capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    assert done.stdout.split("\n")[:2] == ["False", "[1]"]


JOINT_GP_FIRST = """
import sys
from threadpoolctl import threadpool_info
import hyperstep
import hyperstep.study_history as study_history

seen = []
fit = study_history.joint_observations

def spied(*args, **kwargs):
    values = fit(*args, **kwargs)  # the joint GP: scipy's Cholesky factors, its OpenBLAS loaded here
    seen.append(sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}))
    return values

study_history.joint_observations = spied
space = [{"name": n, "type": "float", "low": 0.0, "high": 1.0} for n in "xy"]
early_stopping = {"name": "asha", "min_resource": 1, "max_resource": 9, "resource_model": "gp"}
study = hyperstep.Study(space, strategy="evolutionary", seed=0, early_stopping=early_stopping)

def objective(trial):
    for step in range(1, 10):
        trial.report((trial.params["x"] - 0.3) ** 2 + 1.0 / step, step)
    return (trial.params["x"] - 0.3) ** 2 + 1.0 / 9

study.optimize(objective, n_trials=4)
print("scipy.linalg" in sys.modules, len(seen), sorted({n for threads in seen for n in threads}))
"""


def test_the_joint_gp_of_a_strategy_without_scipy_runs_on_one_thread_from_a_processs_first_ask() -> None:
    """The joint model (``resource_model: gp``) fits ``strategies.gp`` in ``Study.ask``'s
    history for any strategy that learns, evolutionary too (``uses_scipy`` False): left to
    load ``scipy.linalg`` inside the block, its OpenBLAS ran at the process's count on the
    process's first fit (a Suggest function's cold start)."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", JOINT_GP_FIRST], env=environment, capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "True 4 [1]"  # each ask's history: the GP fits from the third


def test_a_block_that_raises_gives_the_processs_count_back_and_the_lock(two_threads: None) -> None:
    with pytest.raises(ZeroDivisionError), one_blas_thread():
        1 / 0  # noqa: B018
    assert blas_threads() == {2}
    free: list[bool] = []

    def another_threads_turn() -> None:  # the lock is re-entrant: only another thread can tell it is held
        free.append(blas._ONE_AT_A_TIME.acquire(timeout=5))
        if free[0]:
            blas._ONE_AT_A_TIME.release()

    worker = threading.Thread(target=another_threads_turn)
    worker.start()
    worker.join()
    assert free == [True]  # not left held: another thread's block may run


TWO_THREADS_AT_ONCE = """
import threading
import scipy.linalg  # numpy's OpenBLAS and scipy's
from threadpoolctl import threadpool_info
from hyperstep.blas import one_blas_thread

def threads():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})

first_in, second_waits, first_out, seen = threading.Event(), threading.Event(), threading.Event(), []

def first():
    with one_blas_thread():
        first_in.set()
        second_waits.wait(10)
    first_out.set()

def second():
    first_in.wait(10)
    second_waits.set()
    with one_blas_thread():
        first_out.wait(2)  # set already when the blocks take turns; else the first ends meanwhile
        seen.append(threads())

workers = [threading.Thread(target=first), threading.Thread(target=second)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(seen, threads())
"""


def test_a_block_entered_while_another_threads_runs_waits_for_it_and_gets_one_thread() -> None:
    """Two threads' blocks at once (``optimize(n_jobs=2)``, the local runtime's bus and
    executor): the second waits for the first to end. Entered at once, threadpoolctl would
    ignore its limit (the first thread controls OpenBLAS) and the first's end would give the
    process's count back while the second's block still ran."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", TWO_THREADS_AT_ONCE], env=environment, capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "[[1]] [2]"


BATCH_AGAINST_ASK = """
import sys, threading
import hyperstep
from hyperstep import early_stopping as stopping
from hyperstep.stores.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
space = [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]
parent = hyperstep.Study(space, store=store, job_id="parent", seed=0)
for i in range(5):
    parent.add_trial({"x": i / 5}, value=i / 5)
asha = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
child = hyperstep.Study(space, store=store, job_id="child", seed=0, early_stopping=asha, warm_start=["parent"])
for k in range(4):
    trial = child.ask(1)[0]
    for step in range(1, 4):
        child.report(trial, step, 1.0 + k)
judged = store.list_trials("child")[-1]
asker = hyperstep.Study(space, store=store, job_id="child")  # its parents not read yet
asking, batched, decided = threading.Event(), threading.Event(), []
read_parents = asker.parent_trials

def parent_trials(job_id):
    asking.set()
    batched.wait(10)
    return read_parents(job_id)

asker.parent_trials = parent_trials

def collect():  # as handle_collect of a list: the batch around each event's decision
    asking.wait(10)
    with store.batch():
        batched.set()
        decided.append(stopping.should_stop(stopping.scheduler_of(store.get_job("child")), judged, store, True))

workers = [threading.Thread(target=collect, daemon=True), threading.Thread(target=asker.ask, args=(1,), daemon=True)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(20)
print("waiting" if any(worker.is_alive() for worker in workers) else "done", len(decided))
"""


def test_an_ask_reads_the_store_outside_its_block_so_a_batched_decision_cannot_deadlock_it(tmp_path: Any) -> None:
    """A collect batch (``handle_collect`` of a list, SQLite) holds the store's lock around each
    event's decision, whose scheduler call takes the block's lock; an ask that read its warm
    start's parents inside its block took the two the other way round. Forced in that order
    (the ask reading its parents when the batch begins), the two threads waited for each other."""
    done = subprocess.run([sys.executable, "-c", BATCH_AGAINST_ASK, str(tmp_path / "store.sqlite")],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "done 1"


def test_the_reports_importance_gp_runs_on_one_thread(two_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hyperstep report``'s parameter importance fits hyperstep's GP: the same shares for a
    job at any thread count, as a proposal's (it ran at the process's count before)."""
    from hyperstep.job_report import analysis
    from hyperstep.strategies.gp import GaussianProcess
    from tests.unit.test_job_report import make_data

    seen: set[int] = set()
    fit = GaussianProcess.fit

    def spied_fit(*args: Any, **kwargs: Any) -> Any:
        seen.update(blas_threads())
        return fit(*args, **kwargs)

    monkeypatch.setattr(GaussianProcess, "fit", spied_fit)
    data = make_data()
    assert analysis.importance(data.job, data.trials) is not None
    assert seen == {1}
