"""A training script that reports NaN or an infinity (a diverged run) goes on; its trial fails.

``hyperstep.report({"loss": float("nan")})`` raised ``ReportError``, so the script crashed with a
traceback where Optuna takes a NaN objective and fails the trial (``Trial ... failed with value
nan``). And a local run that printed ``loss=0.5`` at a step, then its final ``loss=nan``,
completed at 0.5: the NaN was "no match" of a regex of numbers, so the earlier number stood.
Now the report is printed (``loss=nan``), left out of the event on AWS (JSON has no NaN), and
the last value printed where the regex reads one decides: the trial fails, "objective metric
'loss' is not a finite number (nan)", as ``Study.tell`` and collect say."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from hyperstep.reporting import report
from tests.unit.test_local_backend import one_trial
from tests.unit.test_reporting import CLOUD_ENV, FakeEvents

README_REGEX = r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        pytest.param(10**400, "inf", id="int-past-float"),
        pytest.param(-(10**400), "-inf", id="negative-int-past-float"),
    ],
)
def test_a_value_that_is_not_finite_is_printed_and_left_out_of_the_event(value: float, printed: str) -> None:
    client, out = FakeEvents(), io.StringIO()
    report({"loss": value, "acc": 0.5}, step=3, environ=CLOUD_ENV, client=client, stream=out)
    assert out.getvalue().splitlines() == [f"loss={printed}", "acc=0.5"]
    (entries,) = client.calls
    assert json.loads(entries[0]["Detail"])["metrics"] == {"acc": 0.5}


def test_a_report_of_nothing_finite_sends_no_event() -> None:
    client, out = FakeEvents(), io.StringIO()
    report({"loss": math.nan}, environ=CLOUD_ENV, client=client, stream=out)
    assert (out.getvalue(), client.calls) == ("loss=nan\n", [])


def test_a_local_trial_whose_final_report_is_nan_fails_after_finite_steps(tmp_path: Path) -> None:
    script = (
        "import hyperstep\n"
        "hyperstep.report({'loss': 0.5}, step=1)\n"
        "hyperstep.report({'loss': float('nan')}, step=2)\n"
        "hyperstep.report({'loss': float('nan')})\n"
        "print('the script went on')\n"
    )
    (tmp_path / "train.py").write_text(script)
    regex = [{"name": "loss", "regex": README_REGEX}]
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "train.py"], metric_definitions=regex)
    backend.launch(job, trial)
    assert done.wait(20), "the trial's end was never published"
    (result,) = results
    assert (result.state, result.error) == ("failed", "objective metric 'loss' is not a finite number (nan)")
    assert "the script went on" in (tmp_path / "runs" / "job" / "t0001" / "train.log").read_text()
