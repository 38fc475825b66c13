"""Metrics from a training log, matched with the spec's ``metric_definitions`` regexes.

SageMaker fills ``FinalMetricDataList`` this way: each regex runs over the log line by
line and the last match of each metric is its final value. The local backend reads a
finished process's log so (``parse_metrics``); the Batch backend reads a job's CloudWatch
log stream so when the job ended without reporting its final objective
(``final_metrics_in_log``), which is how the reaper recovers a result whose event never
came.

``final_metrics_in_log`` reads the stream from its end backwards (``GetLogEvents`` with
``startFromHead=false`` and ``nextBackwardToken``), since the final values sit near the
end, and stops once every metric has matched, at the stream's start (the token comes back
unchanged), or after ``MAX_LOG_PAGES`` pages of up to 1 MB each. A page may be empty
while more events lie beyond it; only the unchanged token ends the stream. No boto3 import
(nor botocore: the local backend imports this module): the caller passes a ``logs`` client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from hyperstep.spec_base import MetricDefinition

MAX_LOG_PAGES = 20
"""At most 20 pages (up to 20 MB, 200,000 lines) from the end of a log are read."""


def parse_metrics(text: str, definitions: Sequence[MetricDefinition]) -> dict[str, float]:
    """The last value each metric regex matched, line by line as SageMaker reads logs."""
    metrics: dict[str, float] = {}
    patterns = [(d.name, re.compile(d.regex)) for d in definitions]
    for line in text.splitlines():
        for name, pattern in patterns:
            for match in pattern.finditer(line):
                try:
                    metrics[name] = float(match.group(1))
                except (TypeError, ValueError):  # not a number, or an optional group that matched nothing
                    continue
    return metrics


def unreadable_values(text: str, definitions: Sequence[MetricDefinition]) -> dict[str, str]:
    """For each metric whose regex matched but never on a number, the last text it
    captured (``loss=abc`` gives ``{"loss": "abc"}``): why such a metric counts as missing."""
    read = parse_metrics(text, definitions)
    captured: dict[str, str] = {}
    for definition in definitions:
        if definition.name in read:
            continue
        pattern = re.compile(definition.regex)
        for line in text.splitlines():
            for match in pattern.finditer(line):
                if match.group(1) is not None:
                    captured[definition.name] = match.group(1)
    return captured


def final_metrics_in_log(
    client: Any,
    group: str,
    stream: str,
    definitions: Sequence[MetricDefinition],
    max_pages: int = MAX_LOG_PAGES,
) -> dict[str, float]:
    """The last match of each metric in one CloudWatch log stream; {} when the log group
    or stream does not exist (``ResourceNotFoundException``). Other errors propagate."""
    wanted = {d.name for d in definitions}
    found: dict[str, float] = {}
    token: str | None = None
    for _ in range(max_pages):
        request: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": False}
        if token is not None:
            request["nextToken"] = token
        try:
            page = client.get_log_events(**request)
        except Exception as exc:  # botocore's ClientError, told apart by its code
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
                return {}
            raise
        text = "\n".join(event.get("message", "") for event in page.get("events", []))
        found = {**parse_metrics(text, definitions), **found}  # pages come newest first: kept matches are later
        if wanted <= found.keys() or page.get("nextBackwardToken") in (None, token):
            break
        token = page["nextBackwardToken"]
    return found
