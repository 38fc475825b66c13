"""The spec's ``trial`` block that runs each trial as a local process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hyperstep.secrets import EnvValue
from hyperstep.spec_base import SECRET, TrialBlockBase


class LocalTrial(TrialBlockBase):
    """Run the command as a local process, SageMaker script-mode style."""

    backend: Literal["local"]
    command: list[str] = Field(min_length=1)
    env: dict[str, EnvValue] = Field(default_factory=dict, repr=False, json_schema_extra=SECRET)
    """A value may be a reference (``{resolve: "ssm:/path"}``), resolved from a local variable
    (``hyperstep.secrets.local_variable``). Secret: left out of the repr, redacted wherever a
    spec is shown (``hyperstep.redaction``)."""
    workdir: str | None = None
    """Directory the command runs from; relative paths are taken from the spec file."""

    @field_validator("command")
    @classmethod
    def _non_empty(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the command's program must not be empty")
        return command
