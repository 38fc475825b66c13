"""Secrets kept secret: a trial's environment values never leave through the API or events.

A spec's ``trial.environment`` (SageMaker, Batch) or ``trial.env`` (local) may hold
credentials, tokens or connection strings the training container needs. The job keeps
them (its trials are launched with them), but whatever shows a spec to a person (API
answers, logs, traces, events) shows ``redacted_spec`` instead: the variable names, each
value replaced by ``REDACTED``.
"""

from __future__ import annotations

from typing import Any

from hyperstep.spec import JobSpec

REDACTED = "***"
SECRET_BLOCKS = ("environment", "env")
"""Fields of a trial block whose values are secret (SageMaker/Batch, local)."""


def redacted_spec(spec: JobSpec) -> dict[str, Any]:
    """The spec as JSON data (``None`` fields left out) with every environment value redacted."""
    document = spec.model_dump(mode="json", exclude_none=True)
    trial = document.get("trial")
    if isinstance(trial, dict):
        for name in SECRET_BLOCKS:
            if isinstance(trial.get(name), dict):
                trial[name] = dict.fromkeys(trial[name], REDACTED)
    return document
