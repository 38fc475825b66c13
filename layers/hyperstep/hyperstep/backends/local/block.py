"""The spec's ``trial`` block that runs each trial as a local process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from hyperstep.secrets import EnvValue
from hyperstep.spec_base import SECRET, TrialBlockBase, read_back, text


class LocalTrial(TrialBlockBase):
    """Run the command as a local process, SageMaker script-mode style."""

    backend: Literal["local"]
    command: list[text("command arguments")] = Field(min_length=1)
    env: dict[str, EnvValue] = Field(default_factory=dict, repr=False, json_schema_extra=SECRET)
    """A value may be a reference (``{resolve: "ssm:/path"}``), resolved from a local variable
    (``hyperstep.secrets.local_variable``). Secret: left out of the repr, redacted wherever a
    spec is shown (``hyperstep.redaction``)."""
    workdir: str | None = None
    """Directory the command runs from; relative paths are taken from the spec file."""

    @field_validator("command")
    @classmethod
    def _non_empty(cls, command: list[str], info: ValidationInfo) -> list[str]:
        if not command[0].strip():
            raise ValueError("the command's program must not be empty")
        if any(NUL in argument for argument in command) and not read_back(info):
            raise ValueError("an argument cannot hold a NUL character")
        return command

    @field_validator("env")
    @classmethod
    def _settable(cls, env: dict[str, EnvValue], info: ValidationInfo) -> dict[str, EnvValue]:
        """Only what a process environment can hold: else every trial would fail to start."""
        if read_back(info):
            return env
        for name, value in env.items():
            if not name or "=" in name or NUL in name:
                raise ValueError(f"{name!r} is not a variable name (no '=', not empty)")
            if isinstance(value, str) and NUL in value:
                raise ValueError(f"{name}: a value cannot hold a NUL character")
        return env

    @field_validator("workdir")
    @classmethod
    def _a_path(cls, workdir: str | None, info: ValidationInfo) -> str | None:
        if workdir is not None and NUL in workdir and not read_back(info):
            raise ValueError("a path cannot hold a NUL character")
        return workdir


NUL = "\x00"
"""No program argument, environment variable or path can hold it (``execve`` ends strings there)."""
