"""A local trial's log is read a block and a line at a time, however much the script prints."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.tail import LogTail
from hyperstep.backends.logs import parse_metrics
from hyperstep.messages import MAX_CURVE_STEPS, TrialMetric, TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from hyperstep.spec_base import MetricDefinition
from tests.conftest import spec_document

MB = 1 << 20

LOUD = """
import sys
line = "y" * 1023 + "\\n"
for _ in range(48 * 1024):  # 48 MB of lines: a verbose training
    sys.stdout.write(line)
bar = "z" * 1023 + "\\r"
for _ in range(16 * 1024):  # 16 MB of a progress bar redrawn with carriage returns
    sys.stdout.write(bar)
print("\\nloss=0.25", flush=True)
sys.exit(int("fail" in sys.argv))
"""


def run_loud_trial(tmp_path: Path, fail: bool) -> tuple[TrialResult, list[TrialMetric], int]:
    """The loud script's trial, its step reports and the peak Python memory while it ran and was read."""
    result, metrics, peak = run_script(tmp_path, LOUD, "fail" if fail else "ok")
    assert (tmp_path / "runs" / "job" / "t0001" / "train.log").stat().st_size > 64 * MB
    return result, metrics, peak


def run_script(tmp_path: Path, script: str, argument: str) -> tuple[TrialResult, list[TrialMetric], int]:
    """A trial of ``script``, its step reports and the peak Python memory while it ran and was read."""
    (tmp_path / "loud.py").write_text(script)
    document = spec_document()
    command = ["python", "loud.py", argument]
    document["trial"] = {**document["trial"], "command": command, "workdir": str(tmp_path)}
    job = Job(id="job", spec=parse_spec(document))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"})
    results: list[TrialResult] = []
    metrics: list[TrialMetric] = []
    done = threading.Event()
    backend = LocalProcessBackend(
        tmp_path / "runs", lambda r: (results.append(r), done.set()), on_metric=metrics.append
    )
    tracemalloc.start()
    try:
        backend.launch(job, trial)
        assert done.wait(120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return results[0], metrics, peak


def test_a_trial_printing_64_mb_is_read_in_a_few_mb(tmp_path: Path) -> None:
    """Old code read the whole log at once, while the trial ran (every new byte since the
    last look) and at its end (the text, and its lines): Python memory peaked at several
    times the log (a 300 MB log: 1.2 GB resident), with every parallel trial's on top."""
    result, metrics, peak = run_loud_trial(tmp_path, fail=False)
    assert (result.state, result.metrics) == ("completed", {"loss": 0.25})
    assert [(m.step, m.metrics) for m in metrics] == [(1, {"loss": 0.25})]
    assert peak < 8 * MB, f"peak {peak / MB:.0f} MB"


def test_a_failed_loud_trial_names_its_last_line_in_a_few_mb(tmp_path: Path) -> None:
    result, _, peak = run_loud_trial(tmp_path, fail=True)
    assert (result.state, result.error) == ("failed", "exit code 1: loss=0.25")
    assert peak < 8 * MB, f"peak {peak / MB:.0f} MB"


def test_the_tail_reads_a_progress_bar_as_the_final_read_does(tmp_path: Path) -> None:
    """Lines end at a newline or a carriage return alike (``str.splitlines``, as the
    final read splits them), so a bar's redraws are steps as they come, and a line still
    being written waits for its end."""
    log = tmp_path / "train.log"
    definitions = [MetricDefinition(name="loss", regex=r"loss=([0-9.]+)")]
    tail = LogTail(log, definitions)
    log.write_bytes(b"epoch 1 loss=0.9\r\nbar loss=0.8\rbar loss=0.7\rbar loss=0.")
    assert tail.new_reports() == [("loss", 1, 0.9), ("loss", 2, 0.8), ("loss", 3, 0.7)]
    with log.open("ab") as handle:
        handle.write(b"6\n")
    assert tail.new_reports() == [("loss", 4, 0.6)]
    assert parse_metrics(log.read_text(), definitions) == {"loss": 0.6}


def test_the_tail_hands_on_each_metric_s_first_finite_values_a_curve_keeps(tmp_path: Path) -> None:
    """probe-23: a script printing its loss every batch (40,000 lines) had every line past the
    curve's ``MAX_CURVE_STEPS`` points sent as a step report the store then dropped: 40.9 s
    for the one trial, 16.2 s once they are not sent (the same curve). A value that is not
    finite is no report and takes no place; another metric has its own count."""
    log = tmp_path / "train.log"
    definitions = [
        MetricDefinition(name="loss", regex=r"loss=(\S+)"),
        MetricDefinition(name="acc", regex=r"acc=(\S+)"),
    ]
    lines = ["loss=nan acc=0.5", *(f"loss={1.0 / step}" for step in range(1, MAX_CURVE_STEPS + 3)), "acc=0.9"]
    log.write_text("\n".join(lines) + "\n")
    reports = LogTail(log, definitions).curve_reports()
    losses = [(step, value) for name, step, value in reports if name == "loss"]
    kept = [(step + 1, 1.0 / step) for step in range(1, MAX_CURVE_STEPS + 1)]  # step 1 printed nan
    assert losses == [*kept, (MAX_CURVE_STEPS + 3, 1.0 / (MAX_CURVE_STEPS + 2))]  # then the newest only
    assert [(step, value) for name, step, value in reports if name == "acc"] == [(1, 0.5), (2, 0.9)]


def test_a_trial_printing_its_loss_past_the_curve_s_cap_sends_the_steps_a_curve_keeps(tmp_path: Path) -> None:
    """Its final value is still its last line's."""
    script = f"for step in range(1, {MAX_CURVE_STEPS + 3}):\n    print(f'loss={{1.0 / step}}')\n"
    result, metrics, _ = run_script(tmp_path, script, "ok")
    steps = [m.step for m in metrics]
    assert steps[:MAX_CURVE_STEPS] == list(range(1, MAX_CURVE_STEPS + 1))
    assert steps[MAX_CURVE_STEPS:][-1:] == [MAX_CURVE_STEPS + 2]  # past them, a read's newest: the last line's
    assert (result.state, result.metrics) == ("completed", {"loss": 1.0 / (MAX_CURVE_STEPS + 2)})


def test_past_the_curve_s_cap_the_tail_still_hands_on_each_metric_s_newest_value(tmp_path: Path) -> None:
    """rev-p23: past ``MAX_CURVE_STEPS`` the tail sent nothing more, so a running trial's
    latest value stayed its 10,000th line's, and its last report's time (what a run killed
    outright charges it up to: ``runner._until_last_report``) that line's: a trial of 40,000
    batches charged for a quarter of them. Past the cap, each read hands on each metric's
    newest finite value (one report per metric a read, not one a line)."""
    log = tmp_path / "train.log"
    definitions = [MetricDefinition(name="loss", regex=r"loss=(\S+)")]
    tail = LogTail(log, definitions)
    log.write_text("".join(f"loss={1.0 / step}\n" for step in range(1, MAX_CURVE_STEPS + 1)))
    assert len(tail.curve_reports()) == MAX_CURVE_STEPS
    with log.open("a") as handle:
        handle.write("loss=0.5\nloss=0.25\nloss=nan\n")
    assert tail.curve_reports() == [("loss", MAX_CURVE_STEPS + 2, 0.25)]
    assert tail.curve_reports(ended=True) == []
