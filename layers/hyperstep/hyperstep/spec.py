"""The tuning job spec: one document for the CLI, the API and the scheduled rule.

Validation happens here and only here: a spec that passes ``JobSpec.model_validate``
can run. ``load_spec`` reads YAML or JSON and turns every failure into a ``SpecError``
whose message is one line naming the field and the reason.

The ``trial`` block belongs to its backend: each backend's folder defines its block
(``hyperstep.backends.<name>.block``) on ``spec_base.TrialBlockBase``, and ``TrialBlock``
is the union of those the registry lists, discriminated on ``backend``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from hyperstep.backends.registry import BACKENDS
from hyperstep.errors import SpecError
from hyperstep.schedule_expressions import check_schedule_expression
from hyperstep.space import Parameter, SearchSpace, unique_names
from hyperstep.spec_base import SpecModel

STRATEGIES = ("random", "sobol", "grid", "bayesian", "evolutionary")


class Objective(SpecModel):
    metric: str = Field(min_length=1)
    goal: Literal["minimize", "maximize"] = "minimize"


STORED = {"stored": True}
"""Validation context for a spec read back from a store: it was checked when it came in,
and checks that depend on the code (which options a strategy takes) are not repeated, so
a job stored under older rules stays readable."""


class StrategyConfig(SpecModel):
    name: Literal["random", "sobol", "grid", "bayesian", "evolutionary"] = "bayesian"
    seed: int | None = Field(default=None, ge=0)
    """numpy seeds are non-negative integers. Without one, a job draws its seed once, when
    it is created, and keeps it (``Job.seed``): its rounds continue one sequence."""
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _build_the_strategy(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Build the strategy now: a bad option fails here as ``strategy.options.<name>``,
        not at the job's first Suggest."""
        if info.context == STORED or "name" not in info.data:
            return options
        from hyperstep.strategies import make_strategy  # strategies import the models, which import this module

        make_strategy(info.data["name"], options)
        return options


class Budget(SpecModel):
    max_trials: int | None = Field(default=None, ge=1, le=10_000)
    """How many trials may run in all; None (ask/tell studies only) means no limit.
    At most 10,000: Suggest reads every trial each round and the API returns them in one
    response (Lambda's 6 MB), which both stay bounded there."""
    max_parallel: int = Field(default=1, ge=1, le=100)
    max_runtime_seconds: float | None = Field(default=None, gt=0)
    max_failed_trials: int | None = Field(default=None, ge=0)
    target: float | None = None
    """Stop as soon as a trial reaches this objective value (or better)."""
    no_improvement_trials: int | None = Field(default=None, ge=1, le=10_000)
    """Stop when the best value has not improved over the last N completed trials (AMT's
    ``BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving``); running trials finish."""
    stop_on_convergence: bool = False
    """Stop when the model expects no meaningful improvement left (AMT's
    ``ConvergenceDetected``): the Bayesian strategy's largest expected improvement over its
    candidates stayed below ``hyperstep.completion.CONVERGED_EI`` for the last few proposals
    (``hyperstep.completion``); running trials finish. Bayesian strategy only."""


class BudgetUpdate(SpecModel):
    """The budget fields a running job's owner may change (``PATCH /jobs/{id}``,
    ``hyperstep update``): the one list of them. A field left out (None) keeps its value;
    each change is checked by ``Budget``'s own rules. Lowering a limit stops no running
    trial; the loop applies it at its next round."""

    max_parallel: int | None = Field(default=None, ge=1, le=100, description="trials at once")
    max_trials: int | None = Field(default=None, ge=1, le=10_000, description="trials in all")
    max_runtime_seconds: float | None = Field(default=None, gt=0, description="seconds from the job's creation")

    @model_validator(mode="after")
    def _changes_something(self) -> BudgetUpdate:
        if not self.model_fields_set - {name for name, value in self if value is None}:
            raise ValueError(f"give at least one of {', '.join(type(self).model_fields)}")
        return self

    def applied_to(self, budget: Budget) -> Budget:
        """``budget`` with these changes (``ValidationError`` when the result breaks a rule)."""
        return Budget.model_validate({**budget.model_dump(), **self.model_dump(exclude_none=True)})


MAX_PARENTS = 100
"""Parents one job may name (AMT allows five): every Suggest reads all their trials."""


class WarmStart(SpecModel):
    """Earlier jobs whose trials this one learns from (``hyperstep.warm_start``)."""

    jobs: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(min_length=1, max_length=MAX_PARENTS)

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[str]) -> list[str]:
        if len(set(jobs)) != len(jobs):
            raise ValueError("a job is named twice")
        return jobs


class EarlyStopping(SpecModel):
    """Whether running trials stop early (``hyperstep.schedulers``): absent or ``none``,
    every trial runs to its end. Resources are steps (epochs, boosting rounds...): the
    ``step`` of the trial's objective reports."""

    name: Literal["none", "median", "asha", "hyperband"] = "none"
    min_resource: int = Field(default=1, ge=1)
    """Steps before the first decision (median: the first step judged; asha: the first rung)."""
    max_resource: int = Field(default=1, ge=1, le=10_000)
    """A trial that reaches this step is complete (a curve keeps at most 10,000 steps)."""
    reduction_factor: int = Field(default=3, ge=2, le=100)
    """asha and hyperband (eta): a trial goes on past a rung only in the top 1/eta there."""
    model_based: bool = True
    """The strategy learns from every trial's value at the highest rung it reached (pruned
    and running trials too, ranked per rung onto the top rung's scale: BOHB's idea, see
    ``hyperstep.schedulers.fidelity``); false: from completed trials only."""

    @model_validator(mode="after")
    def _min_within_max(self) -> EarlyStopping:
        if self.min_resource > self.max_resource:
            raise ValueError(f"min_resource ({self.min_resource}) must not exceed max_resource ({self.max_resource})")
        if self.name != "none" and "max_resource" not in self.model_fields_set:
            raise ValueError(f"{self.name} needs max_resource: the step at which a trial is complete")
        return self


TrialBlock = Annotated[
    Union[tuple(backend.block for backend in BACKENDS.values())],
    Field(discriminator="backend"),
]
"""The ``trial`` block: one of the registry's backends' blocks, chosen by its ``backend``."""


MAX_SPEC_BYTES = 200_000
"""A job (its spec included) is one DynamoDB item, and an item holds at most 400 KB."""


class JobSpec(SpecModel):
    """Everything hyperstep needs to run one tuning job."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{0,39}$")
    objective: Objective
    parameters: list[Parameter] = Field(min_length=1)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    budget: Budget = Field(default_factory=Budget)
    early_stopping: EarlyStopping | None = None
    """Stop losing trials early (median, ASHA, Hyperband); None runs every trial to its end."""
    warm_start: WarmStart | None = None
    """Learn from earlier jobs' trials (``hyperstep.warm_start``); checked to exist (and, on
    the API, to be the caller's) when the job is submitted."""
    trial: TrialBlock | None = None
    """How one trial trains; None for a study driven by ask/tell from outside."""
    schedule: str | None = Field(default=None, max_length=256)
    """Recurring tuning on AWS: an EventBridge Scheduler ``cron(...)`` or ``rate(...)``
    expression; each tick starts a fresh job from this spec."""

    @field_validator("schedule")
    @classmethod
    def _schedule_expression(cls, expression: str | None) -> str | None:
        return None if expression is None else check_schedule_expression(expression)

    @field_validator("parameters")
    @classmethod
    def _unique_names(cls, parameters: list[Parameter]) -> list[Parameter]:
        return unique_names(parameters)

    @model_validator(mode="after")
    def _fits_one_item(self) -> JobSpec:
        size = len(self.model_dump_json(exclude_none=True).encode())
        if size > MAX_SPEC_BYTES:
            raise ValueError(f"the spec is {size:,} bytes as JSON; at most {MAX_SPEC_BYTES:,}")
        return self

    @model_validator(mode="after")
    def _objective_is_measured(self) -> JobSpec:
        if self.trial is None:
            return self
        if self.budget.max_trials is None:
            raise ValueError("budget.max_trials is required to run trials")
        self.trial.check_objective(self.objective.metric)
        self.trial.check_hyperparameters(self.parameters)
        return self

    @model_validator(mode="after")
    def _convergence_needs_a_model(self) -> JobSpec:
        if self.budget.stop_on_convergence and self.strategy.name != "bayesian":
            raise ValueError(
                f"budget.stop_on_convergence needs the bayesian strategy (its model judges convergence),"
                f" not {self.strategy.name}"
            )
        return self

    @property
    def space(self) -> SearchSpace:
        return SearchSpace(parameters=self.parameters)


def describe_validation_error(exc: ValidationError) -> str:
    """One line: the first error's field path and reason (and how many more there are)."""
    errors = exc.errors(include_url=False)
    field, reason = field_and_reason(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{field or 'spec'}: {reason}{more}"


_TAGS = {"type": ("float", "int", "categorical"), "backend": tuple(BACKENDS)}


def field_and_reason(error: Mapping[str, Any]) -> tuple[str, str]:
    """The dotted field path (union tags left out) and the reason of one pydantic error;
    a missing ``type`` or ``backend`` is named as the field, with the values it takes."""
    loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "union_tag_not_found":
        tag = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        if tag in _TAGS:
            *first, last = _TAGS[tag]
            loc.append(tag)
            reason = f"Field required ({', '.join(first)} or {last})"
    return ".".join(loc), reason


def _is_union_tag(part: Any) -> bool:
    return part in [tag for tags in _TAGS.values() for tag in tags]


def parse_spec(document: Any, base_dir: Path | None = None) -> JobSpec:
    """Validate a parsed document (dict) as a spec; raise ``SpecError`` with one line.

    ``base_dir``: the folder of the spec's file, which relative paths in it are taken from
    (a trial block that imports code from one reads it from the validation context)."""
    if not isinstance(document, dict):
        raise SpecError(f"spec: expected a mapping at the top level, got {type(document).__name__}")
    try:
        return JobSpec.model_validate(document, context=None if base_dir is None else {"base_dir": base_dir})
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc)) from None


def read_document(path: str | Path) -> Any:
    """Read a YAML or JSON file into Python data; raise ``SpecError`` with one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}): is this the spec file?") from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML/JSON{line}: {reason}") from None


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a spec file."""
    return parse_spec(read_document(path), base_dir=Path(path).resolve().parent)
