"""Names, tags and environment variables that tie a cloud job back to its trial, shared
by the backends (each backend's own limits live in its folder).

Every SageMaker training job and Batch job hyperstep starts is named
``hs-<job id>-<trial id>-<attempt>`` (for example ``hs-mnist-3f2a9c1b7d4e-t0007-1``) and
tagged ``hyperstep:job-id`` / ``hyperstep:trial-id`` (and, on AWS, ``hyperstep:stack``: the
deployment's grants hold only for its own jobs), so a state-change event maps back to
its trial from the tags or, when an event lacks them, from the name alone
(``trial_ids``). The fixed ``hs-`` prefix lets an EventBridge rule match only hyperstep's jobs.

A job id that does not fit (the backend's ``max_length``; SageMaker allows 63 characters,
letters, digits and hyphens) gets the hashed form
``hs--<readable part>-<hash>-<trial id>-<attempt>``: still unique and still matched by the
prefix, but not parseable, so such events map through their tags.

The ``hyperstep:`` tag prefix and ``HYPERSTEP_`` variables are hyperstep's own: a spec's
blocks refuse them (``check_user_tags``), and IAM policies may condition on the tags.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import StringConstraints

from hyperstep.backends.tag_text import TAG_PATTERN, TAG_RULE
from hyperstep.spec_base import NAMED_KEYS_ONLY, any_case, matching, names_refused, text

NAME_PREFIX = "hs-"
TAG_JOB_ID = "hyperstep:job-id"
TAG_TRIAL_ID = "hyperstep:trial-id"
TAG_STACK = "hyperstep:stack"
"""The deployment that launched the job (its stack id's UUID): the functions' IAM grants on
training jobs and Batch jobs hold only for their own stack's (``template.yaml``)."""
ENV_JOB_ID = "HYPERSTEP_JOB_ID"
ENV_TRIAL_ID = "HYPERSTEP_TRIAL_ID"
ENV_HYPERPARAMETERS = "HYPERSTEP_HYPERPARAMETERS"
ENV_EVENT_BUS = "HYPERSTEP_EVENT_BUS"
ENV_REPORT_KEY = "HYPERSTEP_REPORT_KEY"
RESERVED_ENV_PREFIX = "HYPERSTEP_"
RESERVED_TAG_PREFIX = "hyperstep:"

METRIC_EVENT_SOURCE = "hyperstep.trial"
METRIC_EVENT_DETAIL_TYPE = "Trial Metric Reported"
"""What ``hyperstep.reporting.report`` publishes from inside a trial, whatever its backend."""

_ID_PART = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")
_PARSE = re.compile(r"^hs-(?P<job>[A-Za-z0-9](?:-*[A-Za-z0-9])*)-(?P<trial>t\d{4,})-(?P<attempt>[1-9]\d*)$")
_HASH_LEN = 10


def trial_job_name(job_id: str, trial_id: str, attempt: int, max_length: int) -> str:
    """The cloud job name for one attempt of a trial, at most ``max_length`` characters
    (letters, digits and hyphens: valid for SageMaker and Batch alike)."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    suffix = f"-{trial_id}-{attempt}"
    readable = f"{NAME_PREFIX}{job_id}{suffix}"
    if _ID_PART.match(job_id) and len(readable) <= max_length:
        return readable
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:_HASH_LEN]
    room = max_length - len(NAME_PREFIX) - 1 - len(digest) - 1 - len(suffix)
    part = re.sub(r"[^A-Za-z0-9]+", "-", job_id).strip("-")[: max(room, 0)].rstrip("-")
    middle = f"{part}-{digest}" if part else digest
    return f"{NAME_PREFIX}-{middle}{suffix}"


def parse_trial_job_name(name: str) -> tuple[str, str, int] | None:
    """``(job_id, trial_id, attempt)`` from a readable name; None for any other name."""
    match = _PARSE.match(name)
    if match is None:
        return None
    return match["job"], match["trial"], int(match["attempt"])


def trial_ids(tags: Mapping[str, str], env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(job_id, trial_id)`` of a cloud job from its tags, else its container environment,
    else its name; None for a job hyperstep did not start."""
    for source, job_key, trial_key in ((tags, TAG_JOB_ID, TAG_TRIAL_ID), (env, ENV_JOB_ID, ENV_TRIAL_ID)):
        if source.get(job_key) and source.get(trial_key):
            return source[job_key], source[trial_key]
    parsed = parse_trial_job_name(name)
    return None if parsed is None else parsed[:2]


def hyperparameter_strings(params: Mapping[str, Any]) -> dict[str, str]:
    """Hyperparameters as SageMaker wants them: strings as they are, anything else as JSON.

    ``0.001`` becomes ``"0.001"``, ``True`` becomes ``"true"``; the same strings become
    ``--name value`` arguments for Batch, as SageMaker script mode passes them.
    """
    out: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"hyperparameter {name!r} is not a finite number: {value}")
        out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def script_arguments(params: Mapping[str, Any]) -> list[str]:
    """``["--lr", "0.001", "--layers", "3"]``: script-mode command-line arguments."""
    args: list[str] = []
    for name, value in hyperparameter_strings(params).items():
        args += [f"--{name}", value]
    return args


def trial_tags(job_id: str, trial_id: str, user_tags: Mapping[str, str], stack: str | None = None) -> dict[str, str]:
    """The user's tags plus hyperstep's (which win on a clash): the job's and the trial's ids,
    and the deployment's ``stack`` when it has one."""
    own = {TAG_JOB_ID: job_id, TAG_TRIAL_ID: trial_id} | ({} if stack is None else {TAG_STACK: stack})
    return {**user_tags, **own}


_AWS_PREFIX = any_case("aws:")
"""AWS's tag prefix in any case, which neither a tag key nor a tag value may start with."""
_RESERVED_TAGS = f"^({_AWS_PREFIX}|{any_case(RESERVED_TAG_PREFIX)})"
"""What ``check_user_tags`` refuses a tag key to start with, as published."""
TagKey = text(
    "tag keys",
    Annotated[
        str,
        StringConstraints(min_length=1, max_length=128),
        matching(TAG_PATTERN, TAG_RULE),
        names_refused(_RESERVED_TAGS),
    ],
)
TAG_VALUE_PATTERN = f"^(?!{_AWS_PREFIX}){TAG_PATTERN[1:]}"
"""``TAG_PATTERN``, not starting with ``aws:`` in any case: "Don't use aws:, AWS:, or any upper
or lowercase combination of such as a prefix for either keys or values, as it is reserved for
AWS use" (Batch User Guide, Tag restrictions). A lookahead, which ECMA-262 reads as Python does."""
TagValue = text(
    "tag values",
    Annotated[
        str,
        StringConstraints(max_length=256),
        matching(TAG_VALUE_PATTERN, f"{TAG_RULE}, not starting with aws: (in any case: reserved for AWS)"),
    ],
)
"""Checked as a spec comes in, not when it is read back: a job stored when the pattern was
``\\w`` (which took combining marks) or a value could start with ``aws:`` stays readable."""
MAX_TAGS = 50
"""SageMaker and Batch both allow 50 tags per job; hyperstep adds up to three of its own."""
_OWN_TAGS = 3
PUBLISHED_TAGS = {**NAMED_KEYS_ONLY, "maxProperties": MAX_TAGS - _OWN_TAGS}
"""``json_schema_extra`` of a block's ``tags``: ``check_user_tags``' count (its reserved prefixes: ``TagKey``'s)."""


def check_user_tags(tags: dict[str, str]) -> dict[str, str]:
    """A spec block's ``tags``, refused when they leave no room for hyperstep's three or use
    a reserved prefix (``aws:`` is AWS's, ``hyperstep:`` ours), in any case.

    Batch's tag keys are case-sensitive ("Tag keys and values are case sensitive", Batch
    User Guide, Tag restrictions), so a job may carry ``HyperStep:stack`` beside our
    ``hyperstep:stack``; IAM matches the key name of ``aws:ResourceTag/hyperstep:stack``
    case-insensitively ("the condition matches a resource tag key named either TagKey1 or
    tagkey1, but not both"; of keys differing in case only: "the key name matches both tags,
    but only one value matches. This can result in unexpected condition failures", IAM User
    Guide, IAM JSON policy elements: Condition): the stack grants could fail on our own job."""
    if len(tags) > MAX_TAGS - _OWN_TAGS:
        raise ValueError(f"at most {MAX_TAGS - _OWN_TAGS} tags (hyperstep adds {_OWN_TAGS} of the {MAX_TAGS})")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r}: the aws: prefix is reserved for AWS")
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise ValueError(f"tag key {key!r}: the hyperstep: prefix (in any case) is reserved for hyperstep")
    return tags


def trial_environment(
    job_id: str,
    trial_id: str,
    params: Mapping[str, Any],
    user_env: Mapping[str, str],
    event_bus: str | None,
    report_key: str | None = None,
) -> dict[str, str]:
    """The user's variables plus the ones ``hyperstep.reporting.report`` reads inside the
    container (with a bus, the trial's ``report_key`` its reports are signed with)."""
    env = {
        **user_env,
        ENV_JOB_ID: job_id,
        ENV_TRIAL_ID: trial_id,
        ENV_HYPERPARAMETERS: json.dumps(dict(params), sort_keys=True),
    }
    if event_bus:
        env[ENV_EVENT_BUS] = event_bus
        if report_key:
            env[ENV_REPORT_KEY] = report_key
    return env
