"""A local trial whose script prints a value that is not finite (``loss=nan``, a diverged
run) ends at once, failed by its result: it was left running until the reaper timed it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperstep.messages import TrialMetric
from tests.unit.test_local_backend import one_trial


@pytest.mark.parametrize("printed", ["nan", "inf", "-inf"])
def test_a_step_that_is_not_finite_does_not_end_the_watcher(tmp_path: Path, printed: str) -> None:
    (tmp_path / "diverge.py").write_text(f"print('loss=0.5', flush=True)\nprint('loss={printed}')\n")
    regex = [{"name": "loss", "regex": r"loss=([-+]?(?:nan|inf|[0-9.]+))"}]
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "diverge.py"], metric_definitions=regex)
    reports: list[TrialMetric] = []
    backend.on_metric = reports.append
    backend.launch(job, trial)
    assert done.wait(20), "the trial's end was never published"
    (result,) = results
    assert result.state == "completed" and str(result.metrics["loss"]) == printed  # collect fails it: not finite
    assert [(r.step, r.metrics) for r in reports] == [(1, {"loss": 0.5})]
