"""The spec's ``trial`` block that simulates each trial with a Python callable.

```yaml
trial:
  backend: simulated
  objective: "curves:crossing"     # module:function, imported from `path`
  path: .                          # default: the spec file's folder
```

A spec read from a file (``hyperstep.spec.load_spec``: ``hyperstep validate`` and
``hyperstep run``) imports the callable as it is validated, so a typo fails there, naming
the field, instead of failing every trial (``simulation.load_objective``). A spec given
as data imports nothing: the API validates every spec it is sent before refusing a
backend that does not run on AWS, and must not import modules a request names (nor
widen ``sys.path``); a spec read back from a store is not checked again either. Such a
spec's trials fail at launch, saying why, if the callable cannot be imported then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from hyperstep.backends.simulated.simulation import load_objective
from hyperstep.spec_base import TrialBlockBase, read_back

BASE_DIR = "base_dir"
"""Validation context key: the folder a relative ``path`` is taken from (the spec file's)."""


class SimulatedTrial(TrialBlockBase):
    """Simulate the trial: ``objective(params, seed)`` gives its duration and learning curve."""

    backend: Literal["simulated"]
    objective: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=500
    )
    """``package.module:function``, or ``package.module:Class.method`` for a classmethod or
    staticmethod; what it returns: ``simulation.Simulation``."""
    path: str | None = None
    """The folder the objective's module is loaded from (put first on ``sys.path``, and kept there);
    relative to the spec file's folder, which is also the default for a spec read from a
    file (relative to the working directory for one given as data). Stored absolute."""

    def check_objective(self, metric: str) -> None:
        """The callable's curve is the objective's: any metric name is measured."""

    @model_validator(mode="before")
    @classmethod
    def _absolute_path(cls, data: Any, info: ValidationInfo) -> Any:
        context = info.context if isinstance(info.context, dict) else {}
        if not isinstance(data, dict) or read_back(info):
            return data
        base = context.get(BASE_DIR)
        path = data.get("path", None if base is None else ".")
        if path is None:
            return data
        return {**data, "path": str((Path(base or ".") / str(path)).resolve())}

    @model_validator(mode="after")
    def _importable(self, info: ValidationInfo) -> SimulatedTrial:
        """Only for a spec read from a file on this machine (see the module docstring)."""
        context = info.context if isinstance(info.context, dict) else {}
        if context.get(BASE_DIR) is not None:
            try:
                load_objective(self.objective, self.path)
            except ValueError as exc:  # why it cannot be called, under the field's name (spec.named_field)
                raise ValueError(f"trial.objective: {exc}") from None
        return self
