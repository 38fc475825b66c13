"""``report``: how a training script tells hyperstep its metrics.

    import hyperstep
    for epoch in range(1, epochs + 1):  # steps from 1: printed lines are numbered so
        ...
        hyperstep.report({"val_loss": loss, "val_accuracy": acc}, step=epoch)  # intermediate
    hyperstep.report({"val_loss": best_loss, "val_accuracy": best_acc})       # final

**A report without ``step`` is final**: its values are the trial's result (its objective
value, whatever arrives when). A report with ``step`` is intermediate (progress, early
stopping) unless ``final=True`` says otherwise. Of several reports of one metric the
trial keeps the final one, else the highest step's; each carries the time it was made, so
reports of the same step keep the later one. A trial whose script never reports its
objective as final ends with the last value its log shows (the ``metric_definitions``
regexes over the printed lines, as SageMaker reads them) or fails saying so.

This module runs inside the user's training container or process, not in hyperstep's
own services; with the CLI, it is the one place in the library that reads ``os.environ``,
because there the environment is the only channel the backend had to pass anything in.

- Every call prints one ``name=value`` line per metric (flushed at once), which the local
  backend's and SageMaker's ``metric_definitions`` regexes match, e.g. ``loss=([0-9.eE+-]+)``.
- When ``HYPERSTEP_EVENT_BUS`` is set (the SageMaker and Batch backends set it, with
  ``HYPERSTEP_JOB_ID``, ``HYPERSTEP_TRIAL_ID`` and ``HYPERSTEP_REPORT_KEY``), it also
  publishes a "Trial Metric Reported" event with ``events:PutEvents``, signed with the
  trial's key (``hyperstep.report_signing``: collect takes no unsigned report of a trial on
  AWS); the container's role needs that permission on the bus. boto3 is imported only
  then, so a local run never needs it.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TextIO

from hyperstep.backends.naming import (
    ENV_EVENT_BUS,
    ENV_JOB_ID,
    ENV_REPORT_KEY,
    ENV_TRIAL_ID,
    METRIC_EVENT_DETAIL_TYPE,
    METRIC_EVENT_SOURCE,
)
from hyperstep.errors import HyperstepError
from hyperstep.messages import MAX_METRIC_NAME, MAX_STEP, MAX_TRIAL_METRICS
from hyperstep.report_signing import signature, signed_message

PUT_ATTEMPTS = 3
"""PutEvents reports failures per entry (``FailedEntryCount``) instead of raising; retry a few times."""

_client: Any = None


class ReportError(HyperstepError):
    """Metrics could not be reported (bad values, missing ids, or EventBridge refused them)."""


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics as floats: NaN and the infinities included (a diverged run reports what it
    has; its trial fails, not its script), an int past a float's range as an infinity."""
    if not metrics:
        raise ReportError("report() needs at least one metric")
    if len(metrics) > MAX_TRIAL_METRICS:
        raise ReportError(f"report() takes at most {MAX_TRIAL_METRICS} metrics, got {len(metrics)}")
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name or any(c in name for c in "= \n"):
            raise ReportError(f"metric name {name!r} must be a non-empty string without '=', spaces or newlines")
        if len(name) > MAX_METRIC_NAME:
            raise ReportError(f"metric name {name[:40]!r}... has {len(name)} characters: at most {MAX_METRIC_NAME}")
        # numbers.Real takes numpy's scalars (np.float32 is no float subclass); not bools.
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ReportError(f"metric {name!r} must be a number, got {value!r}")
        try:
            out[name] = float(value)
        except OverflowError:  # an int past a float's range
            out[name] = math.inf if value > 0 else -math.inf
    return out


def positional(value: float) -> str:
    """The exact value without an exponent (``1e-05`` prints ``0.00001``), so the plain
    ``([0-9.]+)`` regexes of SageMaker's examples read it back rather than ``1``. NaN and
    the infinities print as Python prints them (``nan``, ``inf``, ``-inf``)."""
    return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)


def _events_client() -> Any:
    global _client
    if _client is None:
        import boto3  # only inside a cloud container

        _client = boto3.client("events")
    return _client


def metric_entry(bus: str, detail: dict[str, Any]) -> dict[str, Any]:
    """One ``PutEvents`` entry carrying a metric report. ``Detail`` is UTF-8 JSON, not ASCII
    escapes: an entry must stay under 256 KB, counted as the UTF-8 bytes of its ``Source``,
    ``DetailType`` and ``Detail`` ("Calculating PutEvents event entry size", EventBridge User
    Guide), and a character past U+FFFF escaped takes 12 bytes (a surrogate pair) where UTF-8
    takes 4: the largest report (``MAX_TRIAL_METRICS`` names of ``MAX_METRIC_NAME`` such
    characters) came to about 300 KB, refused in the cloud though it printed locally."""
    return {
        "Source": METRIC_EVENT_SOURCE,
        "DetailType": METRIC_EVENT_DETAIL_TYPE,
        "Detail": json.dumps(detail, allow_nan=False, ensure_ascii=False),
        "EventBusName": bus,
    }


def _publish(client: Any, entry: dict[str, Any]) -> None:
    last = "no attempt made"
    for _ in range(PUT_ATTEMPTS):
        response = client.put_events(Entries=[entry])
        if response.get("FailedEntryCount", 0) == 0:
            return
        failed = response["Entries"][0]
        last = f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
    raise ReportError(f"EventBridge did not accept the metric report: {last}")


def report(
    metrics: Mapping[str, float],
    step: int | None = None,
    final: bool | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    client: Any = None,
    stream: TextIO | None = None,
) -> None:
    """Report metrics of the running trial: print them, and publish them on AWS.

    ``step`` orders intermediate reports (epoch, iteration); ``final`` marks the values the
    trial ends with and defaults to ``step is None``: a report without a step is final.
    A value that is NaN or infinite (a diverged run) is printed as such (``loss=nan``) and
    left out of the event (JSON has no NaN), not refused: the trial, not the script, fails,
    as Optuna fails a trial whose objective is NaN. Where it is the objective's last value
    printed, the log says so (``backends.logs.read_metrics``): the trial fails, "objective
    metric 'loss' is not a finite number (nan)". A value that is no number (a string, a
    bool) raises ``ReportError``. ``environ``, ``client`` and ``stream`` exist for tests.
    """
    values = _numbers(metrics)
    if step is not None:  # numpy's integers too (np.int64 is no int subclass); not bools
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step <= MAX_STEP:
            raise ReportError(f"step must be an integer from 0 to {MAX_STEP}, got {step!r}")
        step = int(step)  # collect would drop a larger step's event; the script would never know
    out = stream or sys.stdout
    for name, value in values.items():
        print(f"{name}={positional(value)}", file=out, flush=True)
    env = os.environ if environ is None else environ
    bus = env.get(ENV_EVENT_BUS)
    if not bus:
        return
    job_id, trial_id = env.get(ENV_JOB_ID), env.get(ENV_TRIAL_ID)
    if not job_id or not trial_id:
        raise ReportError(f"{ENV_EVENT_BUS} is set but {ENV_JOB_ID} or {ENV_TRIAL_ID} is not")
    values = {name: value for name, value in values.items() if math.isfinite(value)}  # JSON has no NaN
    if not values:
        return
    final = step is None if final is None else bool(final)
    detail: dict[str, Any] = {
        "job_id": job_id,
        "trial_id": trial_id,
        "metrics": values,
        "final": final,
        "at": time.time(),
    }
    if step is not None:
        detail["step"] = step
    key = env.get(ENV_REPORT_KEY)
    if key:
        detail["signature"] = signature(key, signed_message(job_id, trial_id, values, step, final, detail["at"]))
    _publish(client or _events_client(), metric_entry(bus, detail))
