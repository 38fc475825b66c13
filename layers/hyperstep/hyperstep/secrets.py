"""Secret references: an environment value that says where a secret lives, resolved at launch.

A trial's ``environment`` value is either a plain string or a reference::

    environment:
      DB_HOST: db.internal                                 # a plain value (shown as "***")
      DB_PASSWORD: {resolve: "ssm:/hyperstep/db-password"} # SSM Parameter Store, SecureString decrypted
      API_TOKEN: {resolve: "secretsmanager:hyperstep/api-token"}  # Secrets Manager, by name or ARN

A reference is not secret: it is stored and shown as it is (``GET /jobs/{id}`` answers the
reference). Its value is fetched by Launch, when the trial starts, and goes only into the
CreateTrainingJob / SubmitJob request that starts it: never into the store, a log line, an
answer or an event.

**The prefix.** A deployment names one prefix (the ``SecretsPrefix`` parameter, as
``HYPERSTEP_SECRETS_PREFIX``; e.g. ``hyperstep/``); Launch's role may read only parameters
and secrets under it. A reference outside it is refused at submit (a guardrail: 422 naming
the field) and, should one reach Launch anyway (a spec stored before the prefix changed),
refused there without any call (the trial fails saying why). The name checked is the SSM
parameter's without its leading ``/`` (``ssm:/hyperstep/x`` is ``hyperstep/x``, as its ARN
``parameter/hyperstep/x``), the secret's name (from an ARN, the part after ``:secret:``); a
secret's ARN must also be of the deployment's partition, region and account
(``HYPERSTEP_SECRETS_ARN``), the only ones Launch's role may read in.

**Where the value ends up.** SageMaker stores a training job's ``Environment`` and returns
it to anyone allowed ``sagemaker:DescribeTrainingJob`` (SageMaker has no secret reference for
training environments); Batch stores a job's ``containerOverrides.environment`` and returns
it to anyone allowed ``batch:DescribeJobs`` (SubmitJob's overrides cannot carry ``secrets``;
only a job definition's ``containerProperties.secrets`` with ``valueFrom`` make Batch fetch a
secret itself, unseen by the caller). So a reference keeps a secret out of hyperstep's
table, API, logs and events, and out of the spec its owner shares, not out of the
platform's own job record: for Batch, a secret that must stay out of DescribeJobs belongs in
the job definition's ``secrets``.

**Locally** (no AWS) a reference is resolved from an environment variable
(``local_variable``): ``ssm:/hyperstep/db-password`` from ``HYPERSTEP_SECRET_SSM_HYPERSTEP_DB_PASSWORD``.
``hyperstep validate`` and ``run`` refuse a local trial whose reference has no such variable.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from hyperstep.backends.naming import ENV_REPORT_KEY
from hyperstep.errors import LaunchError
from hyperstep.spec_base import text

SSM = "ssm"
SECRETS_MANAGER = "secretsmanager"
_SSM_NAME = r"(/[A-Za-z0-9_.\-]+){1,15}"
"""A hierarchical parameter name (at most 15 levels); no version or label selector."""
_SECRET_NAME = r"[A-Za-z0-9/_+=.@\-]{1,512}"
_SECRET_ARN = r"arn:aws[a-z\-]*:secretsmanager:[a-z0-9\-]+:[0-9]{12}:secret:" + _SECRET_NAME
REFERENCE_PATTERN = rf"^({SSM}:{_SSM_NAME}|{SECRETS_MANAGER}:({_SECRET_ARN}|{_SECRET_NAME}))$"
LOCAL_PREFIX = "HYPERSTEP_SECRET_"


class SecretRef(BaseModel):
    """``{resolve: "ssm:/path"}`` or ``{resolve: "secretsmanager:name-or-arn"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resolve: str = Field(pattern=REFERENCE_PATTERN, max_length=2048)

    @property
    def source(self) -> Literal["ssm", "secretsmanager"]:
        return SSM if self.resolve.startswith(f"{SSM}:") else SECRETS_MANAGER

    @property
    def target(self) -> str:
        """What the source's API is asked for: the parameter's name, the secret's name or ARN."""
        return self.resolve.partition(":")[2]

    @property
    def name(self) -> str:
        """The name the deployment's prefix is checked against (see the module)."""
        if self.source == SSM:
            return self.target.removeprefix("/")
        return self.target.partition(":secret:")[2] or self.target

    def within(self, prefix: str, arn_base: str | None = None) -> bool:
        """Whether the deployment's prefix covers it; an empty prefix covers nothing. A secret
        named by its ARN must also start with ``arn_base`` (when given: the deployment's
        ``arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:``), the only account and region
        Launch's role may read in: another's would pass the name check and fail at launch."""
        if arn_base is not None and self.target.startswith("arn:") and not self.target.startswith(arn_base):
            return False
        return bool(prefix) and self.name.startswith(prefix)


PLAIN, REFERENCE = "plain-value", "secret-reference"
"""The tags of an environment value's two kinds (left out of the field paths errors name)."""


def _kind(value: Any) -> str:
    return REFERENCE if isinstance(value, dict | SecretRef) else PLAIN


def env_value(plain: Any = str) -> Any:
    """The type of a trial environment value: ``plain`` (a string type) or a reference, told
    apart by the value's shape, so that a bad reference is refused for what is wrong with it
    (not as "should be a valid string") and anything else as no string."""
    plain = text("environment values", plain)
    return Annotated[Union[Annotated[plain, Tag(PLAIN)], Annotated[SecretRef, Tag(REFERENCE)]], Discriminator(_kind)]


EnvValue = env_value()
"""A trial environment value: plain or a reference."""


def references(env: Mapping[str, str | SecretRef]) -> dict[str, SecretRef]:
    """The variables of ``env`` whose values are references."""
    return {name: value for name, value in env.items() if isinstance(value, SecretRef)}


class SecretResolver(ABC):
    """Fetches a reference's value. ``resolve`` raises ``LaunchError`` (saying which
    reference, never a value) when it may not or cannot."""

    @abstractmethod
    def resolve(self, reference: SecretRef) -> str: ...


class NoSecrets(SecretResolver):
    """Where nothing resolves references: every reference is refused."""

    def resolve(self, reference: SecretRef) -> str:
        raise LaunchError(f"secret reference {reference.resolve!r}: no secret resolver is configured here")


def resolved_environment(env: Mapping[str, str | SecretRef], resolver: SecretResolver) -> dict[str, str]:
    """``env`` with every reference replaced by its value: what a trial's container gets.
    The result holds secret values: pass it to the launch request only."""
    return {name: resolver.resolve(value) if isinstance(value, SecretRef) else value for name, value in env.items()}


def local_variable(reference: SecretRef) -> str:
    """The environment variable a local run reads a reference from: ``HYPERSTEP_SECRET_``
    and the reference in capitals, each run of other characters as ``_``."""
    return LOCAL_PREFIX + re.sub(r"[^A-Z0-9]+", "_", reference.resolve.upper()).strip("_")


class VariableSecrets(SecretResolver):
    """Local runs: a reference's value from ``local_variable(reference)`` in ``variables``
    (the CLI passes its environment)."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables

    def resolve(self, reference: SecretRef) -> str:
        variable = local_variable(reference)
        if variable not in self.variables:
            raise LaunchError(f"secret reference {reference.resolve!r}: set {variable} to resolve it locally")
        return self.variables[variable]


def scrubbed(text: str, values: Mapping[str, str]) -> str:
    """``text`` (a platform's error message, which may echo a request's values) with every
    value of ``values`` longer than 3 characters replaced by ``***``."""
    for value in sorted(values.values(), key=len, reverse=True):
        if len(value) > 3:
            text = text.replace(value, "***")
    return text


def secret_variables(env: Mapping[str, str]) -> dict[str, str]:
    """What ``scrubbed`` hides of a launch request's environment: the user's variables and the
    trial's report key (``hyperstep.report_signing``), not hyperstep's other ``HYPERSTEP_*``
    variables (ids, hyperparameters: no secrets, and worth keeping in an error message)."""
    return {name: value for name, value in env.items() if not name.startswith("HYPERSTEP_") or name == ENV_REPORT_KEY}
