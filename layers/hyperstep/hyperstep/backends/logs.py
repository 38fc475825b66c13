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
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hyperstep.errors import UnreadMetricError
from hyperstep.messages import LogCursor
from hyperstep.metric_regex import decimal_comma, find_all
from hyperstep.spec_base import MetricDefinition

MAX_LOG_PAGES = 20
"""At most 20 pages (up to 20 MB, 200,000 lines) from the end of a log are read."""
MAX_FOLLOW_PAGES = 5
"""``follow_log`` reads at most 5 pages (up to 5 MB, 50,000 lines) a call; the next call goes on."""
NOT_FINITE = re.compile(r"(?<![A-Za-z])[-+]?(?:nan|inf(?:inity)?)(?![A-Za-z])", re.IGNORECASE | re.ASCII)
"""A value printed as NaN or an infinity (``nan``, ``-inf``, ``Infinity``), not within a word (INFO):
ASCII letters only, as ``float`` reads them (Unicode case folding took a dotless ``\u0131nf``)."""
_LETTERS = frozenset(string.ascii_lowercase)
SHOWN_TEXT = 100
"""How much of a value that is no number a trial's error shows (``unread_reason``)."""
StepReport = tuple[str, int, float]
"""(metric, step, value): one line's match, its step the metric's count of matching lines."""


def step_matches(
    lines: Sequence[str], definitions: Sequence[MetricDefinition], counts: dict[str, int]
) -> list[StepReport]:
    """Every match of the metric regexes in ``lines``, in order, each numbered by its
    metric's count of matching lines so far (``counts``, updated here): how the local
    backend numbers a running trial's steps, and how a SageMaker log's are numbered."""
    patterns = [(d.name, re.compile(d.regex)) for d in definitions]
    reports = []
    for line in lines:
        for name, pattern in patterns:
            for match in find_all(pattern, line):
                try:  # a value printed with a decimal comma (0,49) is none, not 0
                    value = float(decimal_comma(line, match) or match.group(1))
                except (TypeError, ValueError):
                    continue
                counts[name] = counts.get(name, 0) + 1
                reports.append((name, counts[name], value))
    return reports


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def find_stream(client: Any, group: str, prefix: str) -> str | None:
    """The first log stream of ``group`` whose name starts with ``prefix`` (one
    ``DescribeLogStreams``), None while there is none or the group does not exist."""
    try:
        found = client.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix, limit=1)
    except Exception as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise
    streams = found.get("logStreams") or []
    return streams[0]["logStreamName"] if streams else None


def follow_log(
    client: Any,
    group: str,
    cursor: LogCursor,
    definitions: Sequence[MetricDefinition],
    max_pages: int = MAX_FOLLOW_PAGES,
) -> tuple[list[StepReport], LogCursor]:
    """The step reports in ``cursor.stream`` past ``cursor`` and the cursor after them.

    Reads forward (``startFromHead``, then ``nextForwardToken``) until the token comes back
    unchanged (the stream's end for now) or ``max_pages`` pages: the cost of one call is
    bounded, and the next call starts where this one stopped."""
    assert cursor.stream is not None, "follow_log needs the stream (find_stream)"
    counts, token, reports = dict(cursor.counts), cursor.token, []
    for _ in range(max_pages):
        request: dict[str, Any] = {"logGroupName": group, "logStreamName": cursor.stream, "startFromHead": True}
        if token is not None:
            request["nextToken"] = token
        try:
            page = client.get_log_events(**request)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                break
            raise
        reports += step_matches([e.get("message", "") for e in page.get("events", [])], definitions, counts)
        following = page.get("nextForwardToken")
        if following is None or following == token:
            break
        token = following
    return reports, cursor.model_copy(update={"token": token, "counts": counts})


def parse_metrics(text: str, definitions: Sequence[MetricDefinition]) -> dict[str, float]:
    """The last value each metric regex matched, line by line as SageMaker reads logs."""
    return read_metrics(text.splitlines(), definitions)[0]


def read_metrics(
    lines: Iterable[str], definitions: Sequence[MetricDefinition]
) -> tuple[dict[str, float], dict[str, str]]:
    """``parse_metrics`` of ``lines``, read once, and for each metric whose last match was
    no number the text it captured (``loss=abc`` gives ``{"loss": "abc"}``): why such a metric
    counts as missing. The last match decides, as SageMaker's "last match" of a regex: an
    earlier number (``loss=0.3`` before ``loss=abc``) is not the final value. A value the
    group read up to a decimal comma (``loss=0,49`` read as 0: ``metric_regex.decimal_comma``)
    is no number either: its line gives none, and the text is the value as printed
    (``{"loss": "0,49"}``). So is a value printed as NaN or an infinity where a regex that
    reads numbers only would have read one (``loss=nan``: ``{"loss": "nan"}``, ``not_finite``),
    and it decides as a match does: a run that diverged after ``loss=0.3`` ends not finite
    (its trial fails), not at the 0.3 it had before, as Optuna fails a NaN objective."""
    metrics: dict[str, float] = {}
    captured: dict[str, str] = {}
    patterns = [(d.name, re.compile(d.regex)) for d in definitions]
    for line in lines:
        maybe = maybe_not_finite(line)
        for name, pattern in patterns:
            matched = False
            for match in find_all(pattern, line):
                matched = True
                text = decimal_comma(line, match) or match.group(1)
                try:
                    metrics[name] = float(text)
                    captured.pop(name, None)
                except (TypeError, ValueError):  # not a number, or an optional group that matched nothing
                    if text is not None:
                        captured[name] = text
                        metrics.pop(name, None)
            printed = not_finite(line, pattern) if maybe and not matched else None
            if printed is not None:  # printed where the regex reads its value: the newest value
                captured[name] = printed
                metrics.pop(name, None)
    return metrics, captured


def maybe_not_finite(line: str) -> bool:
    """False only when ``line`` holds no ``NOT_FINITE`` value: an ASCII line where each "nan",
    "inf" or "infinity" (in any case) is inside a word (``INFO``, ``finance``). A tenth of the
    regex's cost on a log (benchmarks/read_metrics_cost.py); other lines get the regex."""
    if not line.isascii():  # str.lower may map a letter to an ASCII one (the Kelvin sign to k)
        return True
    lowered = line.lower()
    for word in ("nan", "inf"):
        at = lowered.find(word)
        while at >= 0:
            end = at + (8 if lowered.startswith("infinity", at) else 3)
            if lowered[at - 1 : at] not in _LETTERS and lowered[end : end + 1] not in _LETTERS:
                return True
            at = lowered.find(word, at + 1)
    return False


def not_finite(line: str, pattern: re.Pattern[str]) -> str | None:
    """The NaN or infinity ``line`` printed where ``pattern`` reads its value: with that
    value written as 0, the pattern's group starts where it stood. None for any other line."""
    for value in NOT_FINITE.finditer(line):
        numeric = line[: value.start()] + "0" + line[value.end() :]
        if any(match.start(1) == value.start() for match in find_all(pattern, numeric)):
            return value.group()
    return None


def unread_objective(
    objectives: Iterable[str], metrics: Mapping[str, float], captured: Mapping[str, str]
) -> str | None:
    """Why the first of ``objectives`` that ``metrics`` lack but whose regex matched text
    (``read_metrics``' captured) has no value; None when there is no such objective."""
    unread = next((metric for metric in objectives if metric not in metrics and metric in captured), None)
    return None if unread is None else unread_reason(unread, captured[unread])


def unread_reason(metric: str, text: str) -> str:
    """Why the objective ``metric``, printed as ``text`` (``read_metrics``' captured), has
    no value: NaN or an infinity is not finite (as ``tell`` and collect say), any other text
    is not a number. The text is shown up to ``SHOWN_TEXT`` characters: a regex of any text
    can take most of a 1 MiB line, and the reason becomes the trial's error, in its item."""
    if NOT_FINITE.fullmatch(text):
        return f"objective metric {metric!r} is not a finite number ({text})"
    shown = repr(text) if len(text) <= SHOWN_TEXT else f"{text[:SHOWN_TEXT]!r}... ({len(text):,} characters)"
    error = f"objective metric {metric!r}: its regex matched {shown}, which is not a number"
    if "," in text:  # read_metrics: a value printed with a decimal comma
        error += " (a decimal comma: print the value with a point)"
    return error


def final_metrics_in_log(
    client: Any,
    group: str,
    stream: str,
    definitions: Sequence[MetricDefinition],
    objectives: Iterable[str] = (),
    max_pages: int = MAX_LOG_PAGES,
) -> dict[str, float]:
    """The last match of each metric in one CloudWatch log stream; {} when the log group
    or stream does not exist (``ResourceNotFoundException``). Other errors propagate.

    A metric whose last value was printed as NaN or an infinity where its regex reads its
    value (``read_metrics``) is that value, so the trial fails as not finite, as a local one
    does, rather than as unreported or at an earlier number. One of ``objectives`` whose last match was
    other text (``loss=0,49``; ``loss=abc`` where the regex takes it, after a number or not) raises
    ``UnreadMetricError`` with a local trial's reason (``unread_objective``) and the
    metrics read."""
    wanted = {d.name for d in definitions}
    found: dict[str, float] = {}
    unread: dict[str, str] = {}
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
        metrics, captured = read_metrics(text.splitlines(), definitions)
        decided = found.keys() | unread.keys()  # pages come newest first: a later page's last match stands
        found |= {name: value for name, value in metrics.items() if name not in decided}
        unread |= {name: text for name, text in captured.items() if name not in decided}
        if wanted <= found.keys() | unread.keys() or page.get("nextBackwardToken") in (None, token):
            break
        token = page["nextBackwardToken"]
    found |= {name: float(text) for name, text in unread.items() if NOT_FINITE.fullmatch(text)}
    reason = unread_objective(objectives, found, unread)
    if reason is not None:
        raise UnreadMetricError(reason, found)
    return found
