"""The ``TrialBackend`` contract, run against every backend in the registry.

Each test runs once per backend (``platform``: its adapter and the platform it runs on,
see ``backend_platforms``): local processes, SageMaker on moto, Batch on moto, the
simulated backend on a virtual clock. A backend
added to the registry without a platform here fails every test, so a new backend comes
with its run of the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hyperstep.backends.registry import BACKENDS
from hyperstep.events import parse_event
from hyperstep.models import Job, Trial
from tests.contract.backend_platforms import (
    BatchPlatform,
    LocalPlatform,
    Platform,
    SageMakerPlatform,
    SimulatedPlatform,
    aws,
)


@pytest.fixture(params=list(BACKENDS))
def platform(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """Each registered backend in turn, on its platform."""
    platforms: dict[str, Callable[[], Platform]] = {
        "local": lambda: LocalPlatform(tmp_path),
        "sagemaker": lambda: SageMakerPlatform(monkeypatch),
        "batch": BatchPlatform,
        "simulated": SimulatedPlatform,
    }
    assert request.param in platforms, f"backend {request.param!r} has no platform in backend_platforms"
    if request.param == "local":
        local = platforms["local"]()
        yield local
        local.backend.stop_all()  # type: ignore[attr-defined]
        return
    if request.param == "simulated":
        yield platforms["simulated"]()
        return
    with aws(monkeypatch):
        yield platforms[request.param]()


def first_trial(job: Job) -> Trial:
    return Trial(job_id=job.id, id="t0001", number=1, params={"lr": 0.01})


def launched(platform: Platform) -> tuple[Job, Trial]:
    """A job and its first trial, launched and running; the trial as the store keeps it then."""
    job = platform.job()
    trial = first_trial(job)
    ref = platform.backend.launch(job, trial)
    assert isinstance(ref, str) and ref
    platform.hold(job, trial)
    return job, trial.model_copy(update={"backend_ref": ref})


def test_a_running_trial_has_no_result_yet(platform: Platform) -> None:
    job, trial = launched(platform)
    assert platform.backend.describe(job, trial) is None
    platform.end(job, trial)


def test_an_ended_trial_is_described_by_its_result(platform: Platform) -> None:
    job, trial = launched(platform)
    platform.end(job, trial)
    result = platform.backend.describe(job, trial)
    assert result is not None
    assert (result.job_id, result.trial_id, result.state, result.error) == (job.id, trial.id, "completed", None)


def test_a_stopped_trial_ends_stopped(platform: Platform) -> None:
    job, trial = launched(platform)
    platform.backend.stop(job, trial)
    platform.end(job, trial)
    result = platform.backend.describe(job, trial)
    assert result is not None and (result.trial_id, result.state) == (trial.id, "stopped")


def test_a_second_launch_of_a_trial_starts_no_second_copy(platform: Platform) -> None:
    """As after a crash between launching and recording the reference: the trial is
    launched again with no reference of its own."""
    job = platform.job()
    trial = first_trial(job)
    first = platform.backend.launch(job, trial)
    assert platform.backend.launch(job, trial) == first
    platform.hold(job, trial)
    platform.end(job, trial)
    assert platform.copies(job, trial) == 1


@pytest.mark.parametrize("stopped", [False, True], ids=["completed", "stopped"])
def test_the_end_event_parses_back_to_the_trial_s_result(platform: Platform, stopped: bool) -> None:
    job, trial = launched(platform)
    if stopped:
        platform.backend.stop(job, trial)
    platform.end(job, trial)
    result = platform.backend.describe(job, trial)
    assert result is not None and result.state == ("stopped" if stopped else "completed")
    parsed = parse_event(platform.end_event(job, trial))
    assert parsed is not None and parsed.model_copy(update={"usage": None}) == result.model_copy(update={"usage": None})
    # what the trial used: the event's, when it says (SageMaker's documented event has no billable time)
    assert parsed.usage in (None, result.usage)
