"""The SQLite store keeps the model of a job or trial body it wrote with that body
(``ParsedBodies.wrote``): a trial's next step report reads it without parsing the JSON
again, nor the job a trial's end rewrote; the model read is the one a fresh parse of the
stored body gives; a write that was rolled back leaves the stored body to be read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperstep.models import Job, MetricReport, Trial, TrialState, trial_id
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import full_spec, trials_of


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    store.put_trials(trials_of(job, [1]))
    store.start_trial("job", trial_id(1), "ref")
    yield store
    store.close()


def report(store: SQLiteStore, step: int) -> Trial | None:
    point = {"val-loss": MetricReport(value=1.0 / step, step=step, at=float(step))}
    return store.report_metrics("job", trial_id(1), point, "val-loss", whole_curve=False)


def test_step_reports_read_the_body_the_one_before_wrote_without_parsing_it(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    parse = store._trials._parse

    def counted(body: str) -> Any:
        parsed.append(body)
        return parse(body)

    monkeypatch.setattr(store._trials, "_parse", counted)
    for step in range(1, 6):
        assert report(store, step) is not None
    assert parsed == []  # before: each report parsed the body the one before had written


def test_a_job_written_is_read_again_without_parsing_it(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.get_job("job")
    parsed: list[str] = []
    parse = store._jobs._parse
    monkeypatch.setattr(store._jobs, "_parse", lambda body: parsed.append(body) or parse(body))
    store.finish_trial("job", trial_id(1), TrialState.COMPLETED, 0.5)  # rewrites the job's counters
    assert store.get_job("job").completed == 1
    assert parsed == []  # before: the job body the end wrote was parsed on the next read


def test_the_model_read_is_the_one_the_stored_body_parses_to(store: SQLiteStore, tmp_path: Path) -> None:
    for step in range(1, 4):
        report(store, step)
    fresh = SQLiteStore(tmp_path / "store.db")  # another connection: parses every body it reads
    try:
        assert store.get_trial("job", trial_id(1)) == fresh.get_trial("job", trial_id(1))
        assert store.get_trial("job", trial_id(1)).report_key == fresh.get_trial("job", trial_id(1)).report_key
        store.finish_trial("job", trial_id(1), TrialState.COMPLETED, 0.5)
        assert store.get_job("job") == fresh.get_job("job")
    finally:
        fresh.close()


def test_a_write_rolled_back_leaves_the_stored_body_to_be_read(store: SQLiteStore) -> None:
    report(store, 1)
    stored = store.get_trial("job", trial_id(1))
    with pytest.raises(RuntimeError), store._tx() as conn:
        store._write_trial(conn, stored.model_copy(update={"metrics": {"val-loss": 9.0}}))
        raise RuntimeError("rolled back")
    assert store.get_trial("job", trial_id(1)) == stored
