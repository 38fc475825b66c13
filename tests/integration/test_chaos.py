"""The fault-injection run, small: 60 trials (30 SageMaker, 30 Batch), the full run's fault
rates, a fixed seed (``tests/integration/chaos.py``; the 1,000-trial run is ``make chaos``).

One run serves both tests: the faults must really have happened (events duplicated, late
and lost, trials failing, launches throttled, Task responses lost), and the four figures
must be 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.chaos import ChaosConfig, ChaosResult, run_chaos

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SMALL = ChaosConfig(trials=60, parallel=10, seed=36, grace_seconds=10.0, stall_seconds=30.0)


@pytest.fixture(scope="module")
def result() -> Iterator[ChaosResult]:
    yield run_chaos(SMALL)


def explain(result: ChaosResult, shown: int = 6) -> str:
    lines = [f"{result.figures} in {result.wall_seconds:.0f} s"]
    for finding in result.findings[:shown]:
        lines.append(f"{finding.figure}: {finding.backend} {finding.trial}: expected {finding.expected}, ")
        lines.append(f"  recorded {finding.recorded}")
        lines += [f"    {event}" for event in finding.events]
    return "\n".join(lines)


def test_the_faults_were_injected(result: ChaosResult) -> None:
    events, counts = result.counts["events"], result.counts
    assert min(events["duplicated"], events["reordered"], events["lost"]) > 0, events
    assert counts["failing_scripts"] > 0 and counts["throttled_launches"] > 0, counts
    assert sum(counts["task_responses_lost"].values()) > 0, counts
    assert counts["trials"] == {"sagemaker": 30, "batch": 30}


def test_nothing_is_lost_counted_twice_overrun_or_stuck(result: ChaosResult) -> None:
    assert result.figures == dict.fromkeys(result.figures, 0), explain(result)
