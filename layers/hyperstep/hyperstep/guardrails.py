"""Guardrails: what a shared deployment lets a job ask for, set at deploy time, checked at submit.

A hyperstep stack runs every caller's trials under its own training role, so the deployment,
not the caller, decides which images run, which S3 locations are read and written, on which
instances and networks, and how big a job may get. The API checks a spec against them before
storing anything (``POST /jobs``, also for a recurring spec), and the start function checks a
scheduled spec again at every tick (the guardrails may have tightened since it was stored).
A spec outside them is refused with a ``GuardrailError`` (a ``SpecError``: 422 at the API,
one line at the CLI) naming the field and the values allowed.

The values come from the function's environment, as ``template.yaml`` sets them from the
stack's parameters (``Guardrails.from_env`` is given that mapping; nothing here reads
``os.environ``). Lists are comma-separated; ``*`` leaves a guardrail open (any value), an
empty list allows nothing. A variable that is not set leaves its guardrail open: the template
sets every one with a safe default, so a deployment is open only where its parameters say so.

The job-level guardrails (budget) are checked here; each backend's ``trial`` block checks its
own fields (``TrialBlockBase.check_guardrails``), so a new backend brings its checks in its folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from hyperstep.errors import SpecError
from hyperstep.secrets import SecretRef


class _Budget(Protocol):
    max_parallel: int
    max_trials: int | None


class GuardedSpec(Protocol):
    """What ``Guardrails.check`` reads of a ``JobSpec`` (a protocol: the spec's trial blocks
    import this module, so it cannot import the spec)."""

    budget: _Budget
    trial: Any


OPEN = "*"
"""A guardrail's value that allows anything (an explicit choice)."""

VARIABLES: Mapping[str, str] = {
    "image_prefixes": "HYPERSTEP_ALLOWED_IMAGE_PREFIXES",
    "s3_prefixes": "HYPERSTEP_ALLOWED_S3_PREFIXES",
    "instance_types": "HYPERSTEP_ALLOWED_INSTANCE_TYPES",
    "role_arns": "HYPERSTEP_ALLOWED_ROLE_ARNS",
    "subnets": "HYPERSTEP_ALLOWED_SUBNETS",
    "security_groups": "HYPERSTEP_ALLOWED_SECURITY_GROUPS",
    "batch_job_queues": "HYPERSTEP_ALLOWED_BATCH_JOB_QUEUES",
    "batch_job_definitions": "HYPERSTEP_ALLOWED_BATCH_JOB_DEFINITIONS",
    "max_instance_count": "HYPERSTEP_MAX_INSTANCE_COUNT",
    "max_volume_size_gb": "HYPERSTEP_MAX_VOLUME_SIZE_GB",
    "max_vcpus": "HYPERSTEP_MAX_BATCH_VCPUS",
    "max_memory_mib": "HYPERSTEP_MAX_BATCH_MEMORY_MIB",
    "max_gpus": "HYPERSTEP_MAX_BATCH_GPUS",
    "max_parallel": "HYPERSTEP_MAX_PARALLEL_PER_JOB",
    "max_trials": "HYPERSTEP_MAX_TRIALS_PER_JOB",
    "secrets_prefix": "HYPERSTEP_SECRETS_PREFIX",
    "secrets_arn": "HYPERSTEP_SECRETS_ARN",
}
"""Each guardrail's environment variable (the template's parameters feed them)."""


class GuardrailError(SpecError):
    """A spec asks for something this deployment does not allow; ``field: reason``."""


class Guardrails(BaseModel):
    """The deployment's limits; None leaves one open. Lists hold allowed values or prefixes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image_prefixes: tuple[str, ...] | None = None
    """Training images (``registry/repository[:tag]``) and algorithm resources start with one of these."""
    s3_prefixes: tuple[str, ...] | None = None
    """Every S3 location a trial reads or writes (channels, output, checkpoints, code) starts with one."""
    instance_types: tuple[str, ...] | None = None
    role_arns: tuple[str, ...] | None = None
    """The training roles a job may name (SageMaker ``role_arn``). Empty: SageMaker is not enabled."""
    subnets: tuple[str, ...] | None = None
    security_groups: tuple[str, ...] | None = None
    batch_job_queues: tuple[str, ...] | None = None
    """The Batch job queues (ARNs) a job may submit to, by ARN or name: the queue the
    deployment's IAM policy allows SubmitJob on. Empty: Batch is not enabled."""
    batch_job_definitions: tuple[str, ...] | None = None
    """The Batch job definitions (ARNs without a revision) a job may use, by ARN or name, with
    or without a revision: every revision of each, as the IAM policy allows. Empty: Batch is
    not enabled."""
    max_instance_count: int | None = None
    max_volume_size_gb: int | None = None
    max_vcpus: float | None = None
    max_memory_mib: int | None = None
    max_gpus: int | None = None
    max_parallel: int | None = None
    max_trials: int | None = None
    secrets_prefix: str | None = None
    """Secret references (``hyperstep.secrets``) must name a parameter or secret under this
    prefix (Launch's role may read only those); empty: no references at all."""
    secrets_arn: str | None = None
    """A secret named by its ARN must start with this, the deployment's own
    ``arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:`` (Launch's role may read no other)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Guardrails:
        """The guardrails a function's environment sets (see ``VARIABLES``); unset ones stay open."""
        values: dict[str, object] = {}
        for name, variable in VARIABLES.items():
            raw = env.get(variable)
            if raw is None or raw.strip() == OPEN:
                continue
            items = tuple(item.strip() for item in raw.split(",") if item.strip())
            values[name] = None if OPEN in items else items if name in _LISTS else raw.strip()
        return cls.model_validate(values)

    def check(self, spec: GuardedSpec) -> None:
        """Refuse (``GuardrailError``) the first thing in ``spec`` outside the guardrails."""
        self.at_most("budget.max_parallel", spec.budget.max_parallel, self.max_parallel)
        self.at_most("budget.max_trials", spec.budget.max_trials, self.max_trials)
        if spec.trial is not None:
            spec.trial.check_guardrails(self)

    # ---- the checks a trial block uses ------------------------------------------------

    def at_most(self, field: str, value: float | None, limit: float | None) -> None:
        """``value`` (when given) is at most ``limit`` (when set)."""
        if limit is not None and value is not None and value > limit:
            raise GuardrailError(f"{field}: {value:g} is over this deployment's limit of {limit:g}")

    def one_of(self, field: str, value: str | None, allowed: tuple[str, ...] | None) -> None:
        """``value`` (when given) is one of ``allowed`` (when set)."""
        if allowed is not None and value is not None and value not in allowed:
            raise GuardrailError(f"{field}: {value!r} is not allowed in this deployment (allowed: {_listed(allowed)})")

    def starts_with(self, field: str, value: str | None, prefixes: tuple[str, ...] | None) -> None:
        """``value`` (when given) starts with one of ``prefixes`` (when set)."""
        if prefixes is not None and value is not None and not value.startswith(prefixes):
            raise GuardrailError(
                f"{field}: {value!r} is not under an allowed prefix in this deployment (allowed: {_listed(prefixes)})"
            )

    def enabled(self, backend: str, *allowed: tuple[str, ...] | None) -> None:
        """The ``backend`` may run here: none of its resource lists (``allowed``) is empty."""
        if any(resources == () for resources in allowed):
            raise GuardrailError(f"trial.backend: {backend!r} is not enabled in this deployment")

    def resource(self, field: str, value: str, allowed: tuple[str, ...] | None, *, revisions: bool = False) -> None:
        """``value``, a resource's name or ARN (with a ``:revision`` when ``revisions``), is one
        of ``allowed`` (ARNs), named by its ARN or by the name that ends it."""
        if allowed is None:
            return
        bare = _REVISION.sub("", value) if revisions else value
        if not any(bare in (arn, arn.rpartition("/")[2]) for arn in allowed):
            raise GuardrailError(f"{field}: {value!r} is not allowed in this deployment (allowed: {_listed(allowed)})")

    def secret_references(self, field: str, env: Mapping[str, object]) -> None:
        """Every secret reference among ``env``'s values names a parameter or secret under the
        deployment's prefix (when set); the field named with the variable."""
        prefix = self.secrets_prefix
        for name, value in env.items():
            if prefix is not None and isinstance(value, SecretRef) and not value.within(prefix, self.secrets_arn):
                arns = f", ARNs under {self.secrets_arn + prefix!r}" if self.secrets_arn else ""
                allowed = f"names under {prefix!r}{arns}" if prefix else "none"
                reason = f"{value.resolve!r} is outside this deployment's secrets prefix (allowed: {allowed})"
                raise GuardrailError(f"{field}.{name}: {reason}")

    def each_one_of(self, field: str, values: Iterable[str], allowed: tuple[str, ...] | None) -> None:
        """Every one of ``values`` is one of ``allowed``; the field named with the item's index."""
        for index, value in enumerate(values):
            self.one_of(f"{field}.{index}", value, allowed)


NO_GUARDRAILS = Guardrails()
"""Every guardrail open: a laptop's runs, and the default of a caller given none."""

_LISTS = {name for name, field in Guardrails.model_fields.items() if "tuple" in str(field.annotation)}


_REVISION = re.compile(r":[1-9][0-9]*$")
"""A job definition's revision (``name:3``, ``arn:...:job-definition/name:3``)."""


def _listed(allowed: tuple[str, ...]) -> str:
    return ", ".join(allowed) if allowed else "none"
