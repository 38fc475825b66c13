"""A local trial's final values are read from the lines its tail reads as steps: a value past
a line's first ``MAX_LINE`` bytes counts in neither, and a last line with no line end counts
in both (once the process has ended, nothing will end it)."""

from __future__ import annotations

import threading
from pathlib import Path

from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.tail import MAX_LINE
from hyperstep.messages import TrialMetric, TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.conftest import spec_document

SCRIPT = f"""
import sys
sys.stdout.write("loss=0.9\\n")
sys.stdout.write("x" * {MAX_LINE} + " loss=0.1\\n")  # past the line's first MAX_LINE bytes: cut
sys.stdout.write("acc=0.7")  # the last line, with no line end
"""


def test_the_final_values_and_the_steps_read_the_same_lines(tmp_path: Path) -> None:
    """Before, the final read held each whole line: loss=0.1, printed past the first MiB of a
    line, was the trial's final loss though no step ever reported it; and acc=0.7, on a last
    line with no line end, was a final value never reported as a step."""
    (tmp_path / "long.py").write_text(SCRIPT)
    document = spec_document()
    document["trial"] = {
        **document["trial"],
        "command": ["python", "long.py"],
        "workdir": str(tmp_path),
        "metric_definitions": [
            {"name": "loss", "regex": r"loss=([0-9.]+)"},
            {"name": "acc", "regex": r"acc=([0-9.]+)"},
        ],
    }
    job = Job(id="job", spec=parse_spec(document))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"})
    results: list[TrialResult] = []
    steps: list[TrialMetric] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()), on_metric=steps.append)
    backend.launch(job, trial)
    assert done.wait(60)
    assert [(s.metrics, s.step) for s in steps] == [({"loss": 0.9}, 1), ({"acc": 0.7}, 1)]
    assert results[0].state == "completed" and results[0].metrics == {"loss": 0.9, "acc": 0.7}
