"""DynamoDB adapter only: a trial read queries its curve chunks only when its item says it
may have some (the ``chunked`` marker), and items older than the marker still read theirs."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from hyperstep.models import Job, MetricReport, Trial, TrialState
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.study import Study
from tests.contract.conftest import full_spec, trials_of


class Counting:
    """A DynamoDB client that records the operations the store calls (and can fail one)."""

    def __init__(self, client: Any, fail: str | None = None) -> None:
        self._client, self._fail, self.calls = client, fail, []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "meta":
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            if name == self._fail:
                raise RuntimeError(f"{name} failed")
            return attribute(**kwargs)

        return call


def step(value: float, k: int) -> dict[str, MetricReport]:
    return {"loss": MetricReport(value=value, step=k)}


@pytest.fixture
def counted(dynamodb: Any, table: str) -> tuple[DynamoDBStore, Counting]:
    client = Counting(dynamodb)
    store = DynamoDBStore(table, client=client)
    job = Job(id="curves", spec=full_spec(), created_at=1.0)
    store.create_job(job)
    store.put_trials(trials_of(job, [1, 2]))
    return store, client


def test_only_a_trial_with_a_curve_is_read_with_a_query(counted: tuple[DynamoDBStore, Counting]) -> None:
    store, client = counted
    for read in (
        lambda: store.start_trial("curves", "t0001", "ref"),
        lambda: store.report_metrics("curves", "t0001", {"acc": MetricReport(value=0.5)}),
        lambda: store.await_result("curves", "t0001"),
        lambda: store.get_trial("curves", "t0001"),
    ):
        client.calls.clear()
        assert read().curve == {}
        assert "query" not in client.calls
    store.start_trial("curves", "t0002", "ref")
    for k in (0, 1, 1500):
        store.report_metrics("curves", "t0002", step(1.0 / (k + 1), k), curve_metric="loss")
    client.calls.clear()
    trial = store.get_trial("curves", "t0002")
    assert trial.curve == {0: 1.0, 1: 0.5, 1500: 1.0 / 1501}
    assert client.calls == ["get_item", "query"]
    assert "chunked" not in trial.model_dump_json()  # a storage detail, not part of the trial


def test_an_item_older_than_the_marker_still_reads_its_chunks(
    dynamodb: Any, table: str, counted: tuple[DynamoDBStore, Counting]
) -> None:
    store, _ = counted
    store.start_trial("curves", "t0002", "ref")
    store.report_metrics("curves", "t0002", step(2.0, 3), curve_metric="loss")
    key = {"pk": {"S": "JOB#curves"}, "sk": {"S": "TRIAL#t0002"}}
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE chunked")  # as the old code wrote it
    assert store.get_trial("curves", "t0002").curve == {3: 2.0}
    assert store.report_metrics("curves", "t0002", {"acc": MetricReport(value=0.1)}).curve == {3: 2.0}


class CrashAtChunkWrite:
    """A DynamoDB client whose first request writing a curve chunk once ``armed`` fails (a
    Lambda that dies there), whichever operation carries it; every other request goes through."""

    def __init__(self, client: Any) -> None:
        self._client, self.armed = client, False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in ("put_item", "transact_write_items"):
            return attribute

        def call(**kwargs: Any) -> Any:
            puts = [kwargs.get("Item")] + [a["Put"]["Item"] for a in kwargs.get("TransactItems", []) if "Put" in a]
            if self.armed and any(p and p["sk"]["S"].startswith("CURVE#") for p in puts):
                self.armed = False
                raise RuntimeError("crashed at the chunk's write")
            return attribute(**kwargs)

        return call


@pytest.mark.parametrize("whole_curve", [True, False])
def test_a_step_report_lands_whole_or_not_at_all(dynamodb: Any, table: str, whole_curve: bool) -> None:
    """The body (the merged reports, the chunk marker and set) and the step's chunk are one
    ``TransactWriteItems``: a crash at the chunk's write leaves the trial as it was, so the
    event's redelivery records both; never a report in the body whose point the curve lacks
    (before, the body was written first: a crash in between kept ``metrics`` and lost the
    point for good, the redelivery finding its report already merged)."""
    client = CrashAtChunkWrite(dynamodb)
    store = DynamoDBStore(table, client=client)
    job = Job(id="crash", spec=full_spec(), created_at=1.0)
    store.create_job(job)
    store.put_trials(trials_of(job, [1]))
    store.report_metrics("crash", "t0001", step(2.0, 1), "loss", whole_curve=whole_curve)
    before = store.get_trial("crash", "t0001")
    client.armed = True
    with pytest.raises(RuntimeError, match="crashed"):
        store.report_metrics("crash", "t0001", step(1.0, 2), "loss", whole_curve=whole_curve)
    assert store.get_trial("crash", "t0001") == before  # nothing landed
    assert before.curve == {1: 2.0} and before.metrics == {"loss": 2.0}
    store.report_metrics("crash", "t0001", step(1.0, 2), "loss", whole_curve=whole_curve)  # redelivered
    after = store.get_trial("crash", "t0001")
    assert (after.curve, after.metrics) == ({1: 2.0, 2: 1.0}, {"loss": 1.0})


def completed_by_final_acc(trial: Trial) -> Trial | None:
    """``report_after_end``'s ``complete``: a final ``acc`` report completes the trial."""
    final = trial.reports.get("acc")
    if final is None or not final.final:
        return None
    return trial.model_copy(update={"state": TrialState.COMPLETED, "value": final.value, "error": None})


@pytest.mark.parametrize("completes", [False, True])
def test_a_report_after_a_stopped_end_lands_whole_or_not_at_all(dynamodb: Any, table: str, completes: bool) -> None:
    """A late report reaching a stopped trial writes its body (with a completing report, the
    job's counters too) and its step's chunk in one ``TransactWriteItems``: a crash at the
    chunk's write leaves trial and job as they were, and the redelivery records it whole
    (before, the body was written first: a crash in between kept the report and its end
    without the step's point)."""
    client = CrashAtChunkWrite(dynamodb)
    store = DynamoDBStore(table, client=client)
    store.create_job(Job(id="late", spec=full_spec(), created_at=1.0))
    store.put_trials(trials_of(store.get_job("late"), [1]))
    store.report_metrics("late", "t0001", step(2.0, 1), "loss")
    assert store.finish_trial("late", "t0001", TrialState.STOPPED, error="stopped")
    before, job = store.get_trial("late", "t0001"), store.get_job("late")
    late = {**step(1.0, 2), **({"acc": MetricReport(value=0.8, final=True)} if completes else {})}
    client.armed = True
    with pytest.raises(RuntimeError, match="crashed"):
        store.report_after_end("late", "t0001", late, "loss", completed_by_final_acc)
    assert (store.get_trial("late", "t0001"), store.get_job("late")) == (before, job)  # nothing landed
    written = store.report_after_end("late", "t0001", late, "loss", completed_by_final_acc)  # redelivered
    assert written == store.get_trial("late", "t0001")
    assert (written.curve, written.metrics["loss"]) == ({1: 2.0, 2: 1.0}, 1.0)
    assert written.state is (TrialState.COMPLETED if completes else TrialState.STOPPED)
    assert store.get_job("late").completed == int(completes)


def test_a_report_that_asks_for_no_whole_curve_reads_one_chunk_while_the_curve_cannot_be_full(
    counted: tuple[DynamoDBStore, Counting],
) -> None:
    """The trial item knows which chunks its curve has (``items.chunk_numbers``): while its
    own chunk's points and 1,000 for each other chunk are fewer than ``MAX_CURVE_STEPS``
    (10,000), a step can never be dropped, so its report reads its own chunk only; past
    that, every chunk."""
    store, client = counted
    store.start_trial("curves", "t0001", "ref")
    for k in range(10):
        client.calls.clear()
        written = store.report_metrics("curves", "t0001", step(1.0 / (k + 1), 1000 * k), "loss", whole_curve=False)
        assert written is not None and written.curve == {1000 * j: 1.0 / (j + 1) for j in range(max(k - 1, 0), k + 1)}
        # the body, its chunk; the chunk below for the curve's second newest step (a chunk's first step)
        assert client.calls == ["get_item", "get_item", "transact_write_items"] + ["get_item"] * (k > 0)
    client.calls.clear()
    written = store.report_metrics("curves", "t0001", step(0.2, 9001), "loss", whole_curve=False)
    assert written is not None and written.curve == {9001: 0.2, 9000: 0.1}
    assert client.calls == ["get_item", "get_item", "transact_write_items"]  # its own chunk alone
    client.calls.clear()
    store.report_metrics("curves", "t0001", step(0.05, 10_000), "loss", whole_curve=False)  # 10,000 counted
    assert client.calls == ["get_item", "get_item", "query", "transact_write_items"]
    curve = {**{1000 * k: 1.0 / (k + 1) for k in range(10)}, 9001: 0.2, 10_000: 0.05}
    assert store.get_trial("curves", "t0001").curve == curve


def test_a_curve_without_its_set_of_chunks_reads_them_all_and_keeps_the_cap(
    dynamodb: Any, table: str, counted: tuple[DynamoDBStore, Counting]
) -> None:
    """Chunks of one step each, a cap of 3 points: the set of chunks, kept with every
    report, sends the 4th step's report to read the whole curve, which drops that step;
    an item without the set (as the code before it wrote) reads every chunk too, and is
    given no set (one would not name its earlier chunks)."""
    store, client = counted
    store.start_trial("curves", "t0001", "ref")
    store.start_trial("curves", "t0002", "ref")
    small = [mock.patch("hyperstep.stores.dynamodb.CURVE_CHUNK_STEPS", 1)]
    small += [mock.patch(f"hyperstep.{module}.MAX_CURVE_STEPS", 3) for module in ("messages", "stores.dynamodb")]
    key = {"pk": {"S": "JOB#curves"}, "sk": {"S": "TRIAL#t0002"}}
    with small[0], small[1], small[2]:
        for k in (1, 2, 3, 4):
            client.calls.clear()
            written = store.report_metrics("curves", "t0001", step(1.0 / k, k), "loss", whole_curve=False)
            newest = {j: 1.0 / j for j in range(max(min(k, 3) - 1, 1), min(k, 3) + 1)}  # step 4 dropped
            assert written is not None and written.curve == newest
            assert ("query" in client.calls) is (k == 4)
        for k in (1, 2, 3):
            store.report_metrics("curves", "t0002", step(2.0 / k, k), "loss", whole_curve=False)
            dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE chunks")  # as old code wrote it
        for k in (4, 5):
            client.calls.clear()
            dropped = store.report_metrics("curves", "t0002", step(1.0, k), "loss", whole_curve=False)
            assert dropped.curve == {2: 1.0, 3: 2.0 / 3}
            assert "query" in client.calls
    assert store.get_trial("curves", "t0001").curve == {1: 1.0, 2: 0.5, 3: 1.0 / 3}
    assert store.get_trial("curves", "t0002").curve == {1: 2.0, 2: 1.0, 3: 2.0 / 3}


def test_a_study_step_report_with_early_stopping_queries_curves_only_at_a_rung(dynamodb: Any, table: str) -> None:
    """With ASHA (rungs 1, 3 and 9 of 27) a step report that passes no rung reads the
    trial's item and its step's chunk, never a Query of the curve: it costs the same at any
    length of the curve. One that passes a rung lists the trials to decide. (Before, every
    report with early stopping read the whole curve.)"""
    client = Counting(dynamodb)
    asha = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}
    space = {"parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}
    study = Study(space, strategy="random", seed=0, store=DynamoDBStore(table, client=client), early_stopping=asha)
    (trial,) = study.ask(1)
    queried = []
    for k in range(1, 11):
        client.calls.clear()
        assert not study.report(trial.id, k, 1.0 / k)  # a lone trial goes on
        queried.append("query" in client.calls)
    assert queried == [k in (1, 3, 9) for k in range(1, 11)]
    assert study.store.get_trial(study.job_id, trial.id).curve == {k: 1.0 / k for k in range(1, 11)}
