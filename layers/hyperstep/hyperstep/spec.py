"""The tuning job spec: one document for the CLI, the API and the scheduled rule.

Validation happens here and only here: a spec that passes ``JobSpec.model_validate``
can run. ``load_spec`` reads YAML or JSON and turns every failure into a ``SpecError``
whose message is one line naming the field and the reason.

The ``trial`` block belongs to its backend: each backend's folder defines its block
(``hyperstep.backends.<name>.block``) on ``spec_base.TrialBlockBase``, and ``TrialBlock``
is the union of those the registry lists, discriminated on ``backend``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hyperstep.backends.registry import BACKENDS
from hyperstep.errors import SpecError
from hyperstep.http_input import MAX_BODY_BYTES, strict_json
from hyperstep.schedule_expressions import check_schedule_expression
from hyperstep.secrets import PLAIN, REFERENCE
from hyperstep.space import Parameter, SearchSpace, config_bytes, largest_config, unique_names
from hyperstep.spec_base import MAX_JSON_INT, STORED, SpecModel, TrialBlockBase, at_most, kind_of, read_back

STRATEGIES = ("random", "sobol", "grid", "bayesian", "evolutionary")


class Objective(SpecModel):
    metric: str = Field(min_length=1)
    goal: Literal["minimize", "maximize"] = "minimize"


class Constraint(SpecModel):
    """A limit on a metric that is not an objective (latency under 50 ms): a trial whose
    final value of ``metric`` is outside ``[min, max]``, or missing, is infeasible."""

    metric: str = Field(min_length=1)
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _has_a_limit(self) -> Constraint:
        if self.max is None and self.min is None:
            raise ValueError(f"constraint on {self.metric!r} needs max, min or both")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.metric!r}: min ({self.min:g}) exceeds max ({self.max:g})")
        return self

    def satisfied(self, value: float | None) -> bool:
        """Whether ``value`` (None: never reported) is within the limits."""
        if value is None:
            return False
        return (self.max is None or value <= self.max) and (self.min is None or value >= self.min)


MAX_OBJECTIVES = 3
MAX_CONSTRAINTS = 10
MAX_SEED = MAX_JSON_INT
"""The largest ``strategy.seed`` (``spec_base.MAX_JSON_INT``). It holds numpy's legacy, Optuna's
and scikit-learn's 32-bit seeds. Without it, a seed past 4,300 digits was stored by
``Study`` and the job could not be read back (pydantic: JSON number out of range)."""


class StrategyConfig(SpecModel):
    name: Literal["random", "sobol", "grid", "bayesian", "evolutionary"] = "bayesian"
    seed: Annotated[int | None, at_most(MAX_SEED)] = Field(default=None, ge=0)
    """numpy seeds are non-negative integers, at most ``MAX_SEED`` (a job stored with a larger
    one keeps it). Without one, a job draws its seed once, when it is created, and keeps it
    (``Job.seed``): its rounds continue one sequence."""
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _build_the_strategy(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Build the strategy now: a bad option fails here as ``strategy.options.<name>``,
        not at the job's first Suggest; the options are kept as it read them (``3.0`` given
        for an integer is stored as 3)."""
        if read_back(info) or "name" not in info.data:
            return options
        from hyperstep.strategies import make_strategy  # strategies import the models, which import this module

        built = make_strategy(info.data["name"], options)
        return built.options.model_dump(exclude_unset=True)  # as the strategy reads them: 3.0 is 3


class Budget(SpecModel):
    max_trials: int | None = Field(default=None, ge=1, le=10_000)
    """How many trials may run in all; None (ask/tell studies only) means no limit.
    At most 10,000: Suggest reads every trial each round and the API returns them in one
    response (Lambda's 6 MB), which both stay bounded there."""
    max_parallel: int = Field(default=1, ge=1, le=100)
    max_runtime_seconds: float | None = Field(default=None, gt=0)
    max_failed_trials: Annotated[int | None, at_most(MAX_JSON_INT)] = Field(default=None, ge=0)
    max_failed_before_success: Annotated[int | None, at_most(MAX_JSON_INT)] = Field(default=5, ge=1)
    """Stop starting trials once this many failed (at least ``max_parallel``: a whole batch)
    while none completed, so a job whose every trial fails the same way (a typo, a missing
    package) does not use its whole budget; as SageMaker AMT fails a tuning job when "No
    training job succeeded after 5 attempts". Running trials finish. A job with any completed
    (or pruned) trial never stops for it. None: never."""
    target: float | None = None
    """Stop as soon as a trial reaches this objective value (or better)."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Dollars the job's trials may cost in all (``hyperstep.pricing``): no trial starts that
    what is left cannot cover at the running average cost of a trial."""
    no_improvement_trials: int | None = Field(default=None, ge=1, le=10_000)
    """Stop when the best value has not improved over the last N completed trials (AMT's
    ``BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving``); running trials finish."""
    stop_on_convergence: bool = False
    """Stop when the model expects no meaningful improvement left (AMT's
    ``ConvergenceDetected``): the Bayesian strategy's largest expected improvement over its
    candidates stayed below ``hyperstep.completion.CONVERGED_EI`` for the last few proposals
    (``hyperstep.completion``); running trials finish. Bayesian strategy only."""


def published_without_null(schema: dict[str, Any]) -> None:
    """A field's JSON schema without its ``null`` option: for a field that is None only when
    left out, whose explicit null is refused (the API's schema listed null, so a body the API
    refuses matched it)."""
    kept = [option for option in schema.pop("anyOf") if option.get("type") != "null"]
    schema.update(kept[0])


class BudgetUpdate(SpecModel):
    """The budget fields a running job's owner may change (``PATCH /jobs/{id}``,
    ``hyperstep update``): the one list of them. A field left out (None) keeps its value;
    each change is checked by ``Budget``'s own rules. Lowering a limit stops no running
    trial, except ``max_runtime_seconds`` lowered below the job's age: that deadline has
    passed, and its running trials are stopped as at any deadline. The loop applies a
    change at its next round."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    """Published with ``_changes_something``'s rule: an empty update is refused."""

    max_parallel: int | None = Field(
        default=None, ge=1, le=100, description="trials at once", json_schema_extra=published_without_null
    )
    max_trials: int | None = Field(
        default=None, ge=1, le=10_000, description="trials in all", json_schema_extra=published_without_null
    )
    max_runtime_seconds: float | None = Field(
        default=None, gt=0, description="seconds from the job's creation", json_schema_extra=published_without_null
    )
    max_cost_usd: float | None = Field(
        default=None,
        gt=0,
        description="dollars the job's trials may cost in all",
        json_schema_extra=published_without_null,
    )

    @field_validator("max_parallel", "max_trials", "max_runtime_seconds", "max_cost_usd", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        """An explicit null (JSON merge patch's "remove") is refused: a limit can be changed,
        not removed, and taken as "keep" it was a request silently not done."""
        if value is None:
            raise ValueError("null removes no limit (a running job's limits change, not go): give a number")
        return value

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


MAX_ENQUEUED = 100
"""Points one spec may enqueue: a user's defaults or a paper's settings are a few; a hundred
is a design, better given as a strategy (sobol, grid). The spec, one DynamoDB item, holds them."""


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
    min_resource: int = Field(default=1, ge=1, le=10_000)
    """Steps before the first decision (median: the first step judged; asha: the first rung)."""
    max_resource: int = Field(default=1, ge=1, le=10_000)
    """A trial that reaches this step is complete (a curve keeps at most 10,000 steps)."""
    reduction_factor: int = Field(default=3, ge=2, le=100)
    """asha and hyperband (eta): a trial goes on past a rung only in the top 1/eta there."""
    model_based: bool = True
    """The strategy learns from every trial's value at the highest rung it reached (pruned
    and running trials too, ranked per rung onto the top rung's scale: BOHB's idea, see
    ``hyperstep.schedulers.fidelity``); false: from completed trials only."""
    curve_model: bool = True
    """asha and hyperband: a trial out of the top at a rung still goes on when the final
    value its curve predicts (a power-law fit once it has three steps, optimistic end of
    its interval) ranks in the top there (``hyperstep.schedulers.curves``): a slow starter
    with the best slope is not stopped; and a trial stops at a rung, however it ranks,
    when that optimistic end is worse than the best final value reached so far. With
    ``model_based``, a trial that did not complete counts at the final its curve predicts.
    False: plain ASHA."""
    resource_model: Literal["ranks", "gp"] = "ranks"
    """With ``model_based``, how a trial that did not complete is made comparable with final
    values: ``ranks``, ranked per rung onto the top rung's scale (and, with ``curve_model``,
    at the final its curve predicts: ``schedulers.fidelity``); ``gp``, one Gaussian process
    over (configuration, steps) fitted on every trial's value at every rung it reached, read
    at the highest rung with enough trials (MOBSTER: ``schedulers.joint``)."""
    brackets: Literal["hyperband", "uniform", "adaptive"] = "hyperband"
    """hyperband: each bracket's share of trials as Hyperband's (most to the bracket that
    judges first at ``min_resource``); uniform: the same share for each bracket, so more
    trials are first judged later (slow starters that end best need it); adaptive:
    Hyperband's shares weighted by how well each bracket's first rung ranks the finished
    trials as their final values do (Hyper-Tune), from what was known when a trial started."""

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any, info: ValidationInfo) -> Any:
        """A block with fields but no ``name`` is refused: it would be ``none`` (nothing stops
        early) while its resources say otherwise, and the API and ``Study`` have no warning
        to give. ``{}`` is ``none``, as the issue's "absent or {name: none}" is; a stored one
        stays readable."""
        if isinstance(data, dict) and data and "name" not in data and not read_back(info):
            reason = "missing: a block with fields needs a name (median, asha or hyperband; none switches it off)"
            raise cls._refused("name", reason, data)
        return data

    @model_validator(mode="after")
    def _min_within_max(self) -> EarlyStopping:
        if self.name == "none":  # switched off: the rest is ignored (and max_resource may be the default, 1)
            return self
        if "max_resource" not in self.model_fields_set:
            reason = f"missing: {self.name} needs it, the step at which a trial is complete"
            raise self._refused("max_resource", reason, None)
        if self.min_resource > self.max_resource:
            reason = f"{self.min_resource} must not exceed max_resource ({self.max_resource})"
            raise self._refused("min_resource", reason, self.min_resource)
        return self

    @classmethod
    def _refused(cls, field: str, reason: str, given: Any) -> ValidationError:
        """The error of a check across the block's fields, at the field it faults
        (``early_stopping.min_resource``, as the API, ``validate`` and ``Study`` name it)."""
        error = {"type": "value_error", "loc": (field,), "input": given, "ctx": {"error": reason}}
        return ValidationError.from_exception_data(cls.__name__, [error])  # type: ignore[list-item]


TrialBlock = Annotated[
    Union[tuple(backend.block for backend in BACKENDS.values())],
    Field(discriminator="backend"),
]
"""The ``trial`` block: one of the registry's backends' blocks, chosen by its ``backend``."""


JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-]{0,39}$"
"""A job's name: part of its id and of each trial's SageMaker training job name."""

MAX_SPEC_BYTES = 200_000
"""A job (its spec included) is one DynamoDB item, and an item holds at most 400 KB."""
MAX_CONFIG_BYTES = 150_000
"""The largest configuration a trial may get, as JSON (``space.largest_config``). A trial,
its configuration and its reports, is one DynamoDB item of at most 400 KB (409,600 bytes,
DynamoDB's "Items" constraint, names and values counted in UTF-8): its reports can take
207,253 bytes (``MAX_TRIAL_METRICS`` names of ``MAX_METRIC_NAME`` four-byte characters,
``benchmarks.aws_item_limits``), which leaves about 52 KB for the rest of the trial (ids,
times, error, cost basis, log cursor). A spec of 200,000 bytes could give a trial a choice
of 199 KB, and its reports then passed the item's limit mid-job."""


class JobSpec(SpecModel):
    """Everything hyperstep needs to run one tuning job."""

    name: str = Field(pattern=JOB_NAME_PATTERN)
    objective: Objective | None = Field(default=None, exclude_if=lambda v: v is None)
    """The one metric to optimize; ``objectives`` instead for two or three. (Unset fields
    of this block stay out of dumps: a spec without them reads as it was written.)"""
    objectives: list[Objective] | None = Field(default=None, exclude_if=lambda v: v is None)
    """Two or three metrics to optimize at once: the job finds their Pareto front."""
    constraints: list[Constraint] = Field(default_factory=list, max_length=MAX_CONSTRAINTS, exclude_if=lambda v: not v)
    """Limits on metrics; a trial outside one (or missing its metric) is infeasible."""
    parameters: list[Parameter] = Field(min_length=1)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    budget: Budget = Field(default_factory=Budget)
    early_stopping: EarlyStopping | None = None
    """Stop losing trials early (median, ASHA, Hyperband); None runs every trial to its end."""
    warm_start: WarmStart | None = None
    """Learn from earlier jobs' trials (``hyperstep.warm_start``); checked to exist (and, on
    the API, to be the caller's) when the job is submitted."""
    enqueue: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_ENQUEUED,
        exclude_if=lambda v: not v,
        description="points to evaluate first: trial i + 1 runs point i (its names fixed, the rest from the strategy)",
    )
    """Points to evaluate first (Optuna's ``enqueue_trial``, Syne Tune's ``points_to_evaluate``):
    trial number ``i + 1`` runs point ``i``, its names fixed and the rest from the strategy's
    proposal for that trial (``SearchSpace.partial_configuration``)."""
    trial: TrialBlock | None = None
    """How one trial trains; None for a study driven by ask/tell from outside."""
    schedule: str | None = Field(default=None, max_length=256)
    """Recurring tuning on AWS: an EventBridge Scheduler ``cron(...)`` or ``rate(...)``
    expression; each tick starts a fresh job from this spec."""

    @field_validator("name", mode="before")
    @classmethod
    def _name_in_words(cls, name: Any) -> Any:
        """The pattern's rule in words (it is kept for the OpenAPI schema's readers)."""
        if isinstance(name, str) and not re.fullmatch(JOB_NAME_PATTERN, name):
            raise ValueError(
                "letters, digits and hyphens, starting with a letter or digit, at most 40 characters"
                f" (it starts the job's id, which names its training jobs), got {name[:60]!r}"
            )
        return name

    @field_validator("schedule")
    @classmethod
    def _schedule_expression(cls, expression: str | None) -> str | None:
        return None if expression is None else check_schedule_expression(expression)

    @field_validator("parameters")
    @classmethod
    def _unique_names(cls, parameters: list[Parameter], info: ValidationInfo) -> list[Parameter]:
        return unique_names(parameters, info)

    @field_validator("parameters")
    @classmethod
    def _a_trial_fits_one_item(cls, parameters: list[Parameter], info: ValidationInfo) -> list[Parameter]:
        """Refused as the spec comes in only: a stored job stays readable."""
        largest = largest_config(parameters)
        size = config_bytes(largest)
        if size > MAX_CONFIG_BYTES and not read_back(info):
            name = max(largest, key=lambda p: config_bytes(largest[p]))
            raise ValueError(
                f"a trial's configuration can take {size:,} bytes as JSON (the longest choice of {name!r}: "
                f"{config_bytes(largest[name]):,}); at most {MAX_CONFIG_BYTES:,}: a trial and its reports are"
                " one DynamoDB item, which holds 400 KB"
            )
        return parameters

    @field_validator("enqueue")
    @classmethod
    def _points_of_the_space(cls, points: list[dict[str, Any]], info: ValidationInfo) -> list[dict[str, Any]]:
        """Each point's names and values, as ``add_trial`` checks a trial's (``enqueue.<i>.<name>``)."""
        if "parameters" not in info.data or read_back(info):  # a stored job stays readable
            return points
        space = SearchSpace(parameters=info.data["parameters"])
        checked = []
        for i, point in enumerate(points):
            try:
                checked.append(space.partial_configuration(point))
            except ValueError as exc:
                raise ValueError(f"enqueue.{i}.{str(exc).removeprefix('params.')}") from None
        return checked

    @model_validator(mode="after")
    def _enqueued_within_the_budget(self, info: ValidationInfo) -> JobSpec:
        most = self.budget.max_trials
        if most is not None and len(self.enqueue) > most and not read_back(info):
            raise ValueError(f"enqueue: {len(self.enqueue)} points, more than budget.max_trials ({most})")
        return self

    @field_validator("objectives")
    @classmethod
    def _two_or_three(cls, objectives: list[Objective] | None) -> list[Objective] | None:
        if objectives is None:
            return None
        if not 2 <= len(objectives) <= MAX_OBJECTIVES:
            raise ValueError(
                f"give 2 or {MAX_OBJECTIVES} objectives, got {len(objectives)} (for one, use objective instead)"
            )
        _no_duplicate_metrics([o.metric for o in objectives], "objective")
        return objectives

    @field_validator("constraints")
    @classmethod
    def _one_constraint_per_metric(cls, constraints: list[Constraint]) -> list[Constraint]:
        _no_duplicate_metrics([c.metric for c in constraints], "constraint")
        return constraints

    @model_validator(mode="after")
    def _objective_or_objectives(self) -> JobSpec:
        if self.objective is not None and self.objectives is not None:
            raise ValueError("objectives: give objective (one) or objectives (two or three), not both")
        if self.objective is None and self.objectives is None:
            raise ValueError("objective: Field required (or objectives, for two or three)")
        if self.objectives is not None:
            if self.early_stopping is not None and self.early_stopping.name != "none":
                raise ValueError("early_stopping: works with one objective, not with objectives")
            for rule in ("target", "no_improvement_trials", "stop_on_convergence"):
                if getattr(self.budget, rule) not in (None, False):
                    raise ValueError(f"budget.{rule}: works with one objective, not with objectives")
        return self

    @model_validator(mode="after")
    def _fits_one_item(self) -> JobSpec:
        size = len(self.model_dump_json(exclude_none=True).encode())
        if size > MAX_SPEC_BYTES:
            raise ValueError(f"the spec is {size:,} bytes as JSON; at most {MAX_SPEC_BYTES:,}")
        return self

    @field_validator("strategy")
    @classmethod
    def _strategy_fits_the_space(cls, strategy: StrategyConfig, info: ValidationInfo) -> StrategyConfig:
        """The strategy's options on this space (a grid too large to list): refused now, as
        ``strategy.options``, not at the job's first Suggest. A field validator, so that a
        stored spec (and a spec given as a ``JobSpec``) is not checked again."""
        if read_back(info) or "parameters" not in info.data:
            return strategy
        from hyperstep.strategies import make_strategy  # strategies import the models, which import this module

        try:
            make_strategy(strategy.name, strategy.options).check_space(SearchSpace(parameters=info.data["parameters"]))
        except ValueError as exc:
            raise ValueError(f"strategy.options.{exc}") from None
        return strategy

    @field_validator("trial")
    @classmethod
    def _priced_for_the_budget(cls, block: TrialBlockBase | None, info: ValidationInfo) -> TrialBlockBase | None:
        """With ``budget.max_cost_usd``, each trial must have a price and the budget must
        cover one trial at its most. Checked as the spec comes in only: a price table of a
        later release must not make a stored job unreadable."""
        budget = info.data.get("budget")
        if block is None or read_back(info) or budget is None or budget.max_cost_usd is None:
            return block
        block.check_priced()
        covers_one_trial(budget.max_cost_usd, block)
        return block

    @model_validator(mode="after")
    def _objective_is_measured(self, info: ValidationInfo) -> JobSpec:
        if self.trial is None:
            return self
        if self.budget.max_trials is None:
            raise ValueError("budget.max_trials: required to run trials")
        for label, metric in self._metric_fields():
            try:
                self.trial.check_objective(metric)
            except ValueError as exc:  # the block names objective.metric; say which entry
                raise ValueError(str(exc).replace("objective.metric", label, 1)) from None
        if read_back(info):  # a limit checked later must not make a stored job unreadable
            return self
        try:
            self.trial.check_hyperparameters(self.parameters)
        except ValueError as exc:
            raise ValueError(f"parameters: {exc}") from None
        return self

    def _metric_fields(self) -> list[tuple[str, str]]:
        """(field path, metric) of every objective and constraint."""
        if self.objectives is None:
            fields = [("objective.metric", self.primary.metric)]
        else:
            fields = [(f"objectives.{i}.metric", o.metric) for i, o in enumerate(self.objectives)]
        return fields + [(f"constraints.{i}.metric", c.metric) for i, c in enumerate(self.constraints)]

    @model_validator(mode="after")
    def _convergence_needs_a_model(self) -> JobSpec:
        if self.budget.stop_on_convergence and self.strategy.name != "bayesian":
            raise ValueError(
                f"budget.stop_on_convergence: needs the bayesian strategy (its model judges convergence),"
                f" not {self.strategy.name}"
            )
        return self

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.model_validate({"parameters": self.parameters}, context=STORED)  # checked as they came in

    @property
    def goals(self) -> list[Objective]:
        """Every objective, in order: ``objectives``, or the one ``objective``."""
        return list(self.objectives) if self.objectives is not None else [self.objective]  # type: ignore[list-item]

    @property
    def primary(self) -> Objective:
        """The first (with one objective: the) objective; curves and early stopping follow it."""
        return self.goals[0]

    @property
    def multi_objective(self) -> bool:
        return self.objectives is not None

    @property
    def measured_metrics(self) -> list[str]:
        """The metrics every trial must report: the objectives', then the constraints' (once each)."""
        names = [o.metric for o in self.goals] + [c.metric for c in self.constraints]
        return list(dict.fromkeys(names))

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        """Whether a trial with these final metrics meets every constraint."""
        return all(c.satisfied(metrics.get(c.metric)) for c in self.constraints)


def _no_duplicate_metrics(metrics: list[str], kind: str) -> None:
    repeated = sorted({m for m in metrics if metrics.count(m) > 1})
    if repeated:
        raise ValueError(f"each {kind} needs its own metric; repeated: {', '.join(repeated)}")


def covers_one_trial(limit: float, block: TrialBlockBase) -> None:
    """Refuse a dollar budget below what one trial may cost (its rate at list price x the
    longest it is billed, ``billed_limit_seconds``): before any trial is priced, that is what
    a trial is taken to cost, and such a job would never start one."""
    rate = block.rate(None, None)
    seconds = block.billed_limit_seconds()
    most = None if rate is None else rate.cost(seconds)
    if rate is not None and most is not None and most > limit:
        billed = f"trial.timeout_seconds {seconds}" if seconds == block.timeout_seconds else f"{seconds} s in all"
        raise ValueError(
            f"budget.max_cost_usd: ${limit:g} does not cover one trial at its most (${most:.4g}: "
            f"{rate.basis} for {billed}); raise it or lower the timeout"
        )


def describe_validation_error(exc: ValidationError) -> str:
    """One line: the first error's field path and reason (and how many more there are)."""
    errors = exc.errors(include_url=False)
    field, reason = field_and_reason(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    field, reason = named_field(field, reason)
    return f"{field or 'spec'}: {reason}{more}"


_NAMES_ITS_FIELD = re.compile(
    r"^((?:objectives?|constraints|parameters|strategy|budget|early_stopping|warm_start|enqueue|trial|schedule)"
    r"(?:\.[\w\-]+)*): "
)


def named_field(field: str, reason: str) -> tuple[str, str]:
    """(field, reason) of an error whose reason starts with the spec field it faults, as
    ``budget.max_cost_usd: needs ...``: a check of several fields (the spec's own, or one
    field's that reads another) names it there. Else as given."""
    match = _NAMES_ITS_FIELD.match(reason)
    return (field, reason) if match is None else (match.group(1), reason[match.end() :])


_TAGS = {"type": ("float", "int", "categorical"), "backend": tuple(BACKENDS)}


def field_and_reason(error: Mapping[str, Any]) -> tuple[str, str]:
    """The dotted field path (union tags left out) and the reason of one pydantic error;
    a missing ``type`` or ``backend`` is named as the field, with the values it takes; a
    mapping's key at fault (pydantic's ``[key]`` after it) as the field, its reason saying so."""
    loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    reason = error["msg"].removeprefix("Value error, ")
    if loc[-1:] == ["[key]"]:
        loc, reason = loc[:-1], f"the key itself: {reason}"
    # not "instance of Budget"; never the value (a secret?). model_attributes_type: the API's
    # (Powertools validates the parsed body), where Study and validate meet model_type
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        reason = f"should be a mapping (key: value pairs), not {kind_of(error.get('input'))}"
    if error["type"] == "union_tag_not_found":
        tag = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        if tag in _TAGS:
            *first, last = _TAGS[tag]
            loc.append(tag)
            reason = f"Field required ({', '.join(first)} or {last})"
    return ".".join(loc), reason


def _is_union_tag(part: Any) -> bool:
    return part in [tag for tags in _TAGS.values() for tag in tags] or part in (PLAIN, REFERENCE)


def parse_spec(document: Any, base_dir: Path | None = None) -> JobSpec:
    """Validate a parsed document (dict) as a spec; raise ``SpecError`` with one line.

    ``base_dir``: the folder of the spec's file, which relative paths in it are taken from
    (a trial block that imports code from one reads it from the validation context)."""
    if document is None:
        raise SpecError("spec: the document is empty")
    if not isinstance(document, dict):
        raise SpecError(f"spec: expected a mapping at the top level, got {type(document).__name__}")
    try:
        return JobSpec.model_validate(document, context=None if base_dir is None else {"base_dir": base_dir})
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc)) from None


def not_valid(
    path: str | Path, kind: str, reason: str, line: int | None = None, column: int | None = None
) -> SpecError:
    """The one line a file that does not parse gets: ``path: not valid KIND at line N, column
    C: reason``, the line and column only when they are known."""
    where = "" if line is None else f" at line {line}" if column is None else f" at line {line}, column {column}"
    return SpecError(f"{path}: not valid {kind}{where}: {reason}")


def not_valid_json(path: str | Path, exc: json.JSONDecodeError, kind: str = "JSON") -> SpecError:
    """``not_valid`` for what ``strict_json`` refused, at its line when the position is known:
    its own refusals (a key given twice, NaN, a 5,000-digit number) are at position 0, a key
    given twice is found again where it is (``duplicate_key_at``)."""
    if exc.pos:
        return not_valid(path, kind, exc.msg, exc.lineno, exc.colno)
    found = duplicate_key_at(exc.doc) if exc.msg.startswith("duplicate") else None
    return not_valid(path, kind, *(found or (exc.msg,)))


def duplicate_key_at(text: str) -> tuple[str, int, int] | None:
    """The refusal of a key given twice in the JSON ``text`` and the line and column of its
    second, read as the YAML it also is by the loader that refuses such a key at its place (a
    tab, JSON's blank, as a space: YAML takes none before a token); None when YAML reads it
    otherwise. The key is YAML's, named with its place: of several, ``json`` refuses the
    innermost first (``{"a": 1, "a": {"b": 1, "b": 2}}``: ``b``), YAML the outermost."""
    import yaml

    try:
        yaml.load(text.replace("\t", " "), Loader=_loader())
    except DuplicateKeyError as exc:
        mark = exc.problem_mark  # type: ignore[attr-defined]  # a ConstructorError too
        return exc.problem, mark.line + 1, mark.column + 1  # type: ignore[attr-defined]
    except (yaml.YAMLError, ValueError, LookupError, AttributeError, RecursionError):
        return None
    return None


def read_text_file(path: Path) -> str:
    """The UTF-8 text of a file the user names (a spec, an AMT request), a BOM (Windows
    editors write one) skipped; ``SpecError`` past the API's ``MAX_BODY_BYTES``, read no
    further (``/dev/zero`` named by mistake was read until memory ran out)."""
    with path.open("rb") as file:
        data = file.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise SpecError(f"{path}: more than {MAX_BODY_BYTES:,} bytes: is this the right file?")
    return data.decode("utf-8-sig")


def read_document(path: str | Path) -> Any:
    """Read a YAML or JSON file into Python data; raise ``SpecError`` with one line."""
    path = Path(path)
    try:
        text = read_text_file(path)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}): is this the spec file?") from None
    import yaml  # on first use: a Lambda's cold start reads no YAML

    kind = "YAML/JSON"
    try:
        document = strict_json(text) if path.suffix == ".json" else yaml.load(text, Loader=_loader())
    except json.JSONDecodeError as exc:
        raise not_valid_json(path, exc, kind) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if not isinstance(exc, DuplicateKeyError):  # a key's name is the spec's, and said
            reason = unquoted(reason)
        raise not_valid(path, kind, reason, *(() if where is None else (where.line + 1, where.column + 1))) from None
    except RecursionError:
        raise not_valid(path, kind, "nested too deeply for Python to read") from None
    except ValueError as exc:  # what the parser's own constructors refuse: an int past 4,300 digits, a 13th month
        # int() and float() quote the text of an explicit !!int / !!float: not shown
        raise not_valid(path, kind, PYTHON_QUOTED.sub("(text not shown)", str(exc).split(";")[0])) from None
    except (LookupError, AttributeError):  # !!bool on other text (KeyError), !!timestamp (AttributeError), !!int ''
        raise not_valid(
            path, kind, "a value its explicit tag (!!bool, !!int, !!float, !!timestamp) cannot read"
        ) from None
    if count_values(document, MAX_VALUES) > MAX_VALUES:
        raise SpecError(f"{path}: more than {MAX_VALUES:,} values once its YAML aliases are expanded; a spec has fewer")
    return document


QUOTED = re.compile(
    r"\b(found|tag|handle|alias|character|anchor) ('(?!<[a-z ]+>')(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
)
"""What a YAML parser's problem quotes from the file, after the word PyYAML puts before it
(``found undefined alias 'x'``, ``but found 'x'``, ``the tag '!x'``), not the names of its
tokens (``'<scalar>'``) nor the characters it says it expected (``expected ',' or ']'``)."""

PYTHON_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
"""Text Python's own errors quote (``invalid literal for int() with base 10: 'x'``)."""


def unquoted(problem: str) -> str:
    """A YAML parser's ``problem`` without the text it quotes from the file: a secrets file
    passed by mistake is not printed (``found undefined alias 'Sup3rS3cret'``); the line and
    column say where it is. A tab is named: it gives nothing away, and YAML indents with spaces only."""
    if problem == TAB_PROBLEM:
        return "found a tab, which cannot start any token (YAML indents with spaces only)"
    return QUOTED.sub(r"\1 (text not shown)", problem)


TAB_PROBLEM = "found character '\\t' that cannot start any token"
"""PyYAML's problem with a tab where a token starts (an indent, a value after ``key:``)."""


class DuplicateKeyError(Exception):
    """Base of ``_loader``'s refusal of a key given twice (a ``ConstructorError`` too)."""


@functools.cache
def _loader() -> type:
    """``yaml.SafeLoader`` refusing a key given twice in one mapping, which it would take as
    the last value (the API refuses the same in JSON: ``http_input.strict_json``). A key
    after a merge (``<<: *defaults``) overrides the merged one, as YAML means it to."""
    import yaml

    class DuplicateKey(yaml.constructor.ConstructorError, DuplicateKeyError):
        pass

    class StrictLoader(yaml.SafeLoader):
        """Also reads numbers as YAML 1.2 and JSON do where YAML 1.1 reads text: an exponent
        without a dot (``1e-4``, ``1e3``) and a fraction without a leading digit (``-.5``)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable) and key in seen:
                    text = str(key)[:50]
                    raise DuplicateKey(None, None, f"duplicate key {text!r}", key_node.start_mark)
                if isinstance(key, Hashable):
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    def number(construct: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def read(loader: Any, node: yaml.ScalarNode) -> Any:
            if (why := yaml11_only(node.value)) is not None:
                raise yaml.constructor.ConstructorError(None, None, why, node.start_mark)
            return construct(loader, node)

        return read

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))
    StrictLoader.add_constructor("tag:yaml.org,2002:int", number(yaml.SafeLoader.construct_yaml_int))
    StrictLoader.add_constructor("tag:yaml.org,2002:float", number(yaml.SafeLoader.construct_yaml_float))
    return StrictLoader


def yaml11_only(text: str) -> str | None:
    """Why a plain scalar PyYAML (YAML 1.1) reads as a number is refused, or None: a number
    with a colon is base 60 there (a choice ``12:30`` reached the script as 750) and one with
    a leading zero octal (``010`` as 8), where YAML 1.2 and JSON read text and 10; one
    written ``0b10`` binary (2), and one with underscores (a choice ``1_000`` as 1000),
    text to YAML 1.2. The text
    is not shown (the position is): a secrets file passed by mistake is not printed."""
    if ":" in text:
        return "a YAML 1.1 base-60 number (12:30 reads as 750): quote it for text"
    if OCTAL_11.fullmatch(text.replace("_", "")):
        return "a YAML 1.1 octal number (010 reads as 8): write it without the leading zero, or quote it for text"
    if BINARY_11.fullmatch(text.replace("_", "")):  # text to YAML 1.2, as to JSON
        return "a YAML 1.1 binary number (0b10 reads as 2): write it in decimal, or quote it for text"
    if "_" in text:
        return "a YAML 1.1 number with underscores (1_000 reads as 1000): write it without them, or quote it for text"
    return None


OCTAL_11 = re.compile(r"[-+]?0[0-7]+")
BINARY_11 = re.compile(r"[-+]?0b[01]+")


def dump_spec(document: Any) -> str:
    """``document`` as YAML that ``load_spec`` reads back as it is: a string that the spec's
    loader would take for a number (``"1e-3"``, which PyYAML writes plain) is quoted."""
    import yaml

    class SpecDumper(yaml.SafeDumper):
        pass

    SpecDumper.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))
    return yaml.dump(document, Dumper=SpecDumper, sort_keys=False, width=120)


_YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$")
"""The numbers YAML 1.1's float and int patterns leave as text (``1e-4``, ``-.5``), added after
them: what they match is read by them first, as before."""


MAX_VALUES = MAX_SPEC_BYTES // 2
"""Values (lists, mappings, scalars) a spec can hold: each takes two bytes or more of its JSON."""


def count_values(document: Any, limit: int) -> int:
    """How many values ``document`` holds with every YAML alias expanded, counted up to just
    past ``limit``: a few lines of aliases of aliases stand for billions of values ("billion
    laughs"), which validation would expand; the count stops long before."""
    count, stack = 0, [document]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a spec file."""
    return parse_spec(read_document(path), base_dir=Path(path).resolve().parent)
