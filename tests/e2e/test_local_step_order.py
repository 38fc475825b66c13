"""The local loop's step reports follow the curve's rule (``models.replaces_point``): a step
reported twice keeps the newer report's value, whichever the in-process bus delivers last.

The local backend stamps each metric line it reads with its time (``TrialMetric.at``) and
publishes it on the bus to collect, as a script's event reaches collect on AWS; here the two
reports of one step are put on that bus in the wrong order, through the runtime's own collect
function and SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from hyperstep.backends.naming import METRIC_EVENT_DETAIL_TYPE, METRIC_EVENT_SOURCE
from hyperstep.local.bus import envelope
from hyperstep.local.runtime import LocalRuntime
from hyperstep.messages import TrialMetric
from hyperstep.models import Job, Trial, trial_id
from hyperstep.spec import parse_spec
from tests.conftest import spec_document


def test_the_local_loop_keeps_the_newer_report_of_a_step_delivered_first(tmp_path: Path) -> None:
    with LocalRuntime(tmp_path / "store.db", tmp_path / "runs", sleep=lambda _: None) as runtime:
        job = Job(id="local-order", spec=parse_spec(spec_document()))
        runtime.store.create_job(job)
        runtime.store.put_trials([Trial(job_id=job.id, id=trial_id(1), number=1, params={"x": 0.1})])
        runtime.store.start_trial(job.id, trial_id(1), "pid-1")
        for value, at in ((0.4, 2000.0), (0.9, 1000.0)):
            metric = TrialMetric(job_id=job.id, trial_id=trial_id(1), metrics={"loss": value}, step=3, at=at)
            detail = metric.model_dump(mode="json", exclude_none=True)
            runtime.bus.deliver(envelope(METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE, detail))
        trial = runtime.store.get_trial(job.id, trial_id(1))
        assert (trial.curve, trial.metrics) == ({3: 0.4}, {"loss": 0.4})
