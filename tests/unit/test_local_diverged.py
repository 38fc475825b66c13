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


@pytest.mark.parametrize("printed", ["nan", "inf", "-inf", "NaN"])
def test_a_final_value_that_is_not_finite_is_named_so_not_as_unreported(tmp_path: Path, printed: str) -> None:
    """With a regex that reads numbers only (the README's), ``loss=nan`` matched nothing and
    the trial failed with "objective metric 'loss' was not reported"; it now says the value
    is not finite, as ``tell`` and collect do. A word holding "inf" (INFO) is no such value. A
    number before it (``loss=0.5``) no longer stands: the run diverged after it."""
    (tmp_path / "diverge.py").write_text(f"print('INFO loss=0.5 epoch 1')\nprint('INFO epoch 2 loss={printed}')\n")
    regex = [{"name": "loss", "regex": r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"}]
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "diverge.py"], metric_definitions=regex)
    backend.launch(job, trial)
    assert done.wait(20), "the trial's end was never published"
    (result,) = results
    assert (result.state, result.error) == ("failed", f"objective metric 'loss' is not a finite number ({printed})")
    (tmp_path / "diverge.py").write_text(f"print('INFO epoch 1 loss={printed}')\n")
    results.clear()
    done.clear()
    backend.launch(job, trial.model_copy(update={"id": "t0002", "number": 2}))
    assert done.wait(20), "the trial's end was never published"
    (result,) = results
    assert (result.state, result.error) == ("failed", f"objective metric 'loss' is not a finite number ({printed})")


def test_only_a_value_where_the_regex_reads_its_metric_is_named_not_finite() -> None:
    """``loss=0.3 grad=nan`` does not match ``loss=(...) grad=[0-9.]+``: the NaN stands where the
    regex reads no value, so loss is unreported (not "not finite"); ``loss=nan grad=0.1`` is."""
    from hyperstep.backends.logs import read_metrics
    from hyperstep.spec_base import MetricDefinition

    both = [MetricDefinition(name="loss", regex=r"loss=([0-9.]+) grad=[0-9.]+")]
    assert read_metrics(["loss=0.3 grad=nan"], both) == ({}, {})
    assert read_metrics(["loss=nan grad=0.1"], both) == ({}, {"loss": "nan"})
