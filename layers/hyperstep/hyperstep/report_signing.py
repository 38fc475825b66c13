"""Signed metric reports: only a trial's own container can report its metrics.

A training script's ``hyperstep.report`` reaches collect as a "Trial Metric Reported" event
that anyone allowed ``events:PutEvents`` on the bus can also send, including every other
trial's container (one SageMaker training role, one Batch job role, for every user's
trials). So each trial gets a key of its own when it is created (``new_report_key``: 32
random bytes), kept in its store item (DynamoDB encrypts the table at rest with KMS) and
passed to its container alone, in ``HYPERSTEP_REPORT_KEY``; the script's reports carry an
HMAC-SHA256 of what they say (``signature``), and collect records a report of a trial that
runs on AWS only when the signature is the one its key gives (``check_signature``).

What is signed: the job and trial ids, the metrics, the step, whether it is final and the
script's time ``at``, in a canonical form of their values (``signed_message``), so the
JSON EventBridge hands collect (which may write a number differently) checks the same. A
report cannot be moved to another trial (another key, and its ids are signed) nor changed.
No nonce is needed: a report sent again is what EventBridge's at-least-once delivery does
anyway, and collect records a duplicate idempotently (a final report stays the final one;
the reports keep, per metric, the one of highest rank: final, step, ``at``). The curve
orders a step's reports by the same signed ``at``: each point keeps the ``at`` of the report
that wrote it and takes a report's value only when it is as new (``models.replaces_point``),
so replaying the older report of a step the script reported twice (after a checkpoint
restart), like EventBridge delivering the two out of order, leaves the newer value, which
early stopping judges. A value with no ``at`` (read from SageMaker's log, ``follow_log``)
counts as older than any signed report's. A trial created before reports were signed has no
key, and its reports are taken unsigned, as they were before (``check_signature``).

The key is as secret as the container's environment: SageMaker shows a training job's
``Environment`` to whoever may ``sagemaker:DescribeTrainingJob`` it, Batch a job's to
whoever may ``batch:DescribeJobs`` (and in its "Batch Job State Change" events on the
default bus): the trials' roles must not be allowed those (README, "Sharing a deployment").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from hyperstep.errors import HyperstepError

KEY_BYTES = 32


class ReportRefused(HyperstepError):
    """A metric report that is not recorded: its signature is missing or wrong, or it would
    make its trial keep more metrics than it may (``Trial.with_reports``)."""


def new_report_key() -> str:
    """A fresh trial's key (hex)."""
    return secrets.token_hex(KEY_BYTES)


def signed_message(
    job_id: str, trial_id: str, metrics: Mapping[str, float], step: int | None, final: bool, at: float | None
) -> bytes:
    """What a report's signature covers: its fields' values in one canonical JSON form
    (numbers as floats, so ``1`` and ``1.0`` sign alike, and ``-0.0`` as ``0.0``, which JSON
    written again as ``0`` reads back as; keys sorted)."""
    body = {
        "job_id": job_id,
        "trial_id": trial_id,
        "metrics": {name: float(value) + 0.0 for name, value in metrics.items()},  # + 0.0: -0.0 is 0.0
        "step": step,
        "final": final,
        "at": None if at is None else float(at) + 0.0,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def signature(key: str, message: bytes) -> str:
    """The HMAC-SHA256 of ``message`` under the trial's ``key`` (hex)."""
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def check_signature(key: str | None, message: bytes, given: str | None) -> None:
    """Raise ``ReportRefused`` unless ``given`` is the signature of ``message`` under ``key``
    (compared in constant time). The reason names no value of the report. A trial with no
    key was created before reports were signed (every trial made since gets one): its
    reports are taken as they were then, so that a deploy loses no result of a trial
    running across it (its image cannot sign); the window closes as those trials end."""
    if key is None:
        return
    if given is None:
        raise ReportRefused("the report is not signed")
    if not hmac.compare_digest(signature(key, message).encode(), given.encode()):
        raise ReportRefused("the report's signature does not match the trial's key")
