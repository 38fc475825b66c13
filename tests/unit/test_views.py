"""The text views: the trials table keeps one line per trial whatever a value holds."""

from __future__ import annotations

import csv
import io

import pytest

from hyperstep.models import Job, Trial, TrialState
from hyperstep.spec import parse_spec
from hyperstep.views import trials_csv, trials_table
from tests.conftest import spec_document


def test_a_choice_with_a_line_break_or_control_character_is_escaped_in_the_table_only() -> None:
    """A categorical choice holding a newline split its trial's row in two (and a tab or an
    escape sequence went to the terminal as is): the table shows it as ``repr`` does; the
    CSV keeps the value itself."""
    choices = ["two\nlines", "tab\there", "esc\x1b[31m", "line\u2028sep", "plain"]
    document = spec_document()
    document["parameters"] = [{"name": "kind", "type": "categorical", "choices": choices}]
    job = Job(id="job", spec=parse_spec(document))
    trials = [Trial(job_id="job", id=f"t{i:04d}", number=i, params={"kind": c}) for i, c in enumerate(choices, 1)]
    lines = trials_table(job, trials).splitlines()
    assert len(lines) == 2 + len(trials)
    start, end = lines[0].index("kind"), lines[0].index("seconds")
    cells = [line[start:end].strip() for line in lines[2:]]
    assert cells == ["'two\\nlines'", "'tab\\there'", "'esc\\x1b[31m'", "'line\\u2028sep'", "plain"]
    rows = list(csv.DictReader(io.StringIO(trials_csv(job, trials))))
    assert [row["kind"] for row in rows] == choices


def test_the_csv_keeps_text_that_would_start_a_spreadsheet_formula_as_text() -> None:
    """probe-23: a categorical choice ``=1+1`` (or ``@SUM(...)``, ``+...``, ``-...``) and a
    trial's error, which holds its script's last line, went into ``trials --csv`` as they were:
    a spreadsheet opening the file runs them as formulas (OWASP, "CSV Injection"). Such text
    gets a leading ``'``; a choice that is a number (``-1``) and the numbers stay as they are.
    rev-p23: a carriage return in a field (``\rx``, ``x\r=1+1``) was written bare on Python
    3.11 and 3.12 (the writer quoted only ``\n``, its line end): a spreadsheet started a row
    at it, ``=1+1`` a cell of its own; it is quoted."""
    choices = ["=1+1", "+A1", "-cmd", "@SUM(A1)", "\tx", "\rx", "x\r=1+1", "-1", "plain"]
    document = spec_document()
    document["parameters"] = [{"name": "kind", "type": "categorical", "choices": choices}]
    job = Job(id="job", spec=parse_spec(document))
    trials = [Trial(job_id="job", id=f"t{i:04d}", number=i, params={"kind": c}) for i, c in enumerate(choices, 1)]
    failed = Trial(job_id="job", id="t0010", number=10, params={"kind": "plain"}, state="failed", error="=HYPERLINK(1)")
    text = trials_csv(job, [*trials, failed])
    assert "\r\n" not in text  # its rows still end with a newline alone
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["kind"] for row in rows[:-1]] == [
        "'=1+1",
        "'+A1",
        "'-cmd",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "x\r=1+1",
        "-1",
        "plain",
    ]
    assert (rows[-1]["error"], rows[0]["error"]) == ("'=HYPERLINK(1)", "")


def test_the_csv_keeps_a_metric_name_a_script_reported_that_would_start_a_formula_as_text() -> None:
    """rev-p23: a trial's script names the metrics it reports (``hyperstep.report``, at most
    255 characters, any text), and each becomes a column of ``trials --csv``: a name
    ``=HYPERLINK(...)`` went into the header as it was, the channel the trial's error
    (its script's last line) was closed on. It gets the leading ``'`` too."""
    job = Job(id="job", spec=parse_spec(spec_document()))
    trial = Trial(job_id="job", id="t0001", number=1, params={}, metrics={"=HYPERLINK(1)": 2.0, "-acc": 0.5})
    header = next(csv.reader(io.StringIO(trials_csv(job, [trial]))))
    assert {"'=HYPERLINK(1)", "'-acc"} <= set(header) and not {"=HYPERLINK(1)", "-acc"} & set(header)


def curve_trial(number: int, state: TrialState, steps: int) -> Trial:
    """A trial of job ``j`` with a curve of ``steps`` steps."""
    curve = {s: 1.0 / s for s in range(1, steps + 1)}
    return Trial(job_id="j", id=f"t{number:04d}", number=number, params={}, state=state, value=1.0, curve=curve)


def test_steps_saved_count_to_where_completed_trials_ended() -> None:
    """A pruned trial would have run as far as the trials that completed: ``max_resource``,
    or less when the script ends sooner (27 epochs under a max_resource of 100 saved 97
    steps a pruned trial at step 3 would never have run)."""
    from hyperstep.views import steps_saved

    for top, saved in [(100, 24 + 18), (27, 24 + 18), (20, 17 + 11)]:
        block = {"name": "asha", "min_resource": 1, "max_resource": top}
        job = Job(id="j", spec=parse_spec(spec_document(early_stopping=block)))
        trials = [
            curve_trial(1, TrialState.COMPLETED, min(27, top)),
            curve_trial(2, TrialState.PRUNED, 3),
            curve_trial(3, TrialState.PRUNED, 9),
        ]
        assert steps_saved(job, trials) == {"pruned": 2, "steps": min(27, top) + 12, "steps_saved": saved}, top
    only_pruned = [curve_trial(2, TrialState.PRUNED, 3)]  # nothing completed yet: max_resource
    job = Job(id="j", spec=parse_spec(spec_document(early_stopping={"name": "asha", "max_resource": 100})))
    assert steps_saved(job, only_pruned)["steps_saved"] == 97


def test_steps_saved_count_past_max_resource_to_where_completed_trials_ended() -> None:
    """A trial that reaches ``max_resource`` is not stopped there: its script runs to its own
    end (README), and so would a pruned one have. ``hyperstep run`` of examples/simulated
    (27 epochs) with asha and a max_resource of 9: two trials completed with 27 steps, ten
    pruned at step 1 or 3; the summary said 76 steps saved (53%), counting each pruned trial
    only to step 9, where 256 (79%) were."""
    from hyperstep.views import steps_saved

    job = Job(id="j", spec=parse_spec(spec_document(early_stopping={"name": "asha", "max_resource": 9})))
    trials = [
        curve_trial(1, TrialState.COMPLETED, 27),
        curve_trial(2, TrialState.PRUNED, 1),
        curve_trial(3, TrialState.PRUNED, 3),
    ]
    assert steps_saved(job, trials) == {"pruned": 2, "steps": 31, "steps_saved": 26 + 24}
    shorter = curve_trial(4, TrialState.COMPLETED, 20)  # a script that ended sooner: the furthest counts
    assert steps_saved(job, [shorter, *trials])["steps_saved"] == 26 + 24


def test_steps_saved_read_the_job_s_stops_by_its_reason_and_older_deadline_stops_by_their_end() -> None:
    """rev-t23: a pruned trial is the job's when its reason begins ``stopped by the job``
    (``completion.stopped_by_job``), not when it only holds the words (a ``Study`` caller's
    own error); one recorded before stop-23 at or after the deadline, in the old words, is
    the deadline's by its end time (ce8e707's rows)."""
    from hyperstep.views import steps_saved

    block = {"name": "asha", "min_resource": 1, "max_resource": 9}
    spec = parse_spec(spec_document(early_stopping=block, budget={"max_trials": 9, "max_runtime_seconds": 60}))
    job = Job(id="j", spec=spec, created_at=1000.0)

    def pruned(number: int, steps: int, error: str, ended_at: float) -> Trial:
        return curve_trial(number, TrialState.PRUNED, steps).model_copy(update={"error": error, "ended_at": ended_at})

    trials = [
        curve_trial(1, TrialState.COMPLETED, 9),
        pruned(2, 3, "stopped early by asha at step 3", 1030.0),
        pruned(3, 2, "preempted: stopped by the job scheduler", 1040.0),  # 7 saved
        pruned(4, 2, "stopped by the job (target 0.2 reached) at step 2", 1050.0),
        pruned(5, 1, "stopped at the job's deadline (max_runtime_seconds 60) at step 1", 1060.0),
    ]
    assert steps_saved(job, trials) == {"pruned": 2, "steps": 17, "steps_saved": 6 + 7}


def test_the_csv_of_several_objectives_holds_each_from_the_trial_s_values_and_marks_the_front() -> None:
    """A study's second objective lives in ``Trial.values`` only (no metric of that name):
    the CSV left it out, and no CSV said which trials were on the front (the table does)."""
    document = spec_document()
    document.pop("objective")
    document["objectives"] = [{"metric": "acc", "goal": "maximize"}, {"metric": "kb", "goal": "minimize"}]
    definitions = [{"name": "acc", "regex": "acc=(.*)"}, {"name": "kb", "regex": "kb=(.*)"}]
    document["trial"]["metric_definitions"] += definitions
    job = Job(id="job", spec=parse_spec(document))
    trials = [
        Trial(job_id="job", id=f"t{i:04d}", number=i, params={"x": 0.5}, state="completed", value=v[0], values=v)
        for i, v in enumerate([[0.9, 10.0], [0.8, 20.0], [0.95, 30.0]], 1)
    ]
    rows = list(csv.DictReader(io.StringIO(trials_csv(job, trials))))
    assert list(rows[0])[:5] == ["trial", "state", "acc", "kb", "front"]
    assert [(float(r["acc"]), float(r["kb"]), r["front"]) for r in rows] == [
        (0.9, 10.0, "*"),
        (0.8, 20.0, ""),
        (0.95, 30.0, "*"),
    ]


def test_negative_zero_reads_as_zero() -> None:
    """A script printing ``loss=-0`` made ``run`` say "best loss=-0" and the tables show -0."""
    from hyperstep.views import fmt

    assert fmt(-0.0) == "0" and fmt(0.0) == "0" and fmt(-1e-7) == "-1e-07"


def test_the_jobs_table_leaves_the_cost_of_an_unpriced_job_blank() -> None:
    """A local job without ``cost_per_hour`` showed cost 0 in ``hyperstep status`` while its
    trials' cost was blank: unpriced is not free. A job with a dollar budget shows what it spent."""
    from hyperstep.views import job_row, jobs_table

    unpriced = Job(id="local-1", spec=parse_spec(spec_document()), created_at=0.0)
    budget = spec_document(
        budget={"max_trials": 6, "max_cost_usd": 5}, trial={**spec_document()["trial"], "cost_per_hour": 1}
    )
    priced = Job(id="priced-1", spec=parse_spec(budget), created_at=0.0)
    rows = {line.split()[0]: line.split() for line in jobs_table([job_row(unpriced), job_row(priced)]).splitlines()[2:]}
    assert rows["local-1"] == ["local-1", "running", "0", "0", "0"]
    assert rows["priced-1"] == ["priced-1", "running", "0", "0", "0", "0"]


def test_a_count_takes_its_noun_in_the_singular_for_one_only() -> None:
    from hyperstep.views import counted, saved_text

    assert [counted(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
    saved = saved_text({"pruned": 1, "steps": 0, "steps_saved": 1})
    assert saved == "1 trial stopped early, 0 steps run, 1 step saved (100%)"


def test_the_cost_line_names_what_priced_the_trials() -> None:
    """A job's cost comes from the list price table, or from the trial block's own
    ``cost_per_hour`` (a local trial's always); the line said "list prices" for both."""
    from tests.unit.test_pricing import sagemaker_block

    listed = parse_spec(spec_document(trial=sagemaker_block(), budget={"max_trials": 4, "max_cost_usd": 5}))
    own = parse_spec(spec_document(trial=sagemaker_block(cost_per_hour=2.0), budget={"max_trials": 4}))
    local = parse_spec(spec_document(trial={**spec_document()["trial"], "cost_per_hour": 36.0}))
    lines = [trials_table(Job(id="job", spec=spec, cost_usd=0.5), []).splitlines()[-1] for spec in (listed, own, local)]
    assert lines == [
        "cost: $0.5 of $5 (list prices)",
        "cost: $0.5 (at trial.cost_per_hour)",
        "cost: $0.5 (at trial.cost_per_hour)",
    ]


@pytest.mark.parametrize("end", ["completed end", "final report", "none"])
def test_steps_saved_leave_out_a_pruned_trial_whose_script_ran_to_its_end(end: str) -> None:
    """ASHA prunes t0002 at step 1 of ``max_resource`` 9, but its script had run to its end
    before the stop landed: its platform's completed end (with the final loss) or its
    script's final ``hyperstep.report`` comes after the prune, its steps 2 to 9 never. It
    stays pruned (issue 9), but the stop saved nothing: ``steps_saved`` (what ``run``'s
    summary, ``status`` and the report page print) counts none of its steps. A trial with
    no sign of its end still counts 8 saved. (Before: 8 saved either way.)"""
    from hyperstep.messages import LaunchRequest, TrialResult
    from hyperstep.service import TuningService
    from hyperstep.stores.sqlite import SQLiteStore
    from hyperstep.study import Study
    from hyperstep.views import job_summary
    from tests.unit.test_service import FakeBackend, FakeOrchestrator

    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    asha = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3, "curve_model": False}
    job = service.submit(parse_spec(spec_document(early_stopping=asha, budget={"max_trials": 2})), job_id="job")
    for trial in Study.from_job(service.store, job).ask(2):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    for step in range(1, 10):
        service.report_metrics("job", "t0001", {"loss": 0.1 / step}, step=step)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)
    assert service.store.get_trial("job", "t0002").state.value == "pruned"
    if end == "completed end":
        service.collect(TrialResult(job_id="job", trial_id="t0002", state="completed", metrics={"loss": 0.05}))
    elif end == "final report":
        service.report_metrics("job", "t0002", {"loss": 0.05})
    job = service.store.get_job("job")
    summary = job_summary(job, None, service.store.list_trials("job"))
    assert summary["early_stopping"] == {"pruned": 1, "steps": 10, "steps_saved": 8 if end == "none" else 0}
