"""Import a SageMaker Automatic Model Tuning job: a ``CreateHyperParameterTuningJob``
request (as ``aws sagemaker create-hyper-parameter-tuning-job --cli-input-json`` takes it),
or the ``DescribeHyperParameterTuningJob`` answer of a job that ran (its results named in
one note), becomes a hyperstep spec.

What maps: the strategy (Bayesian, Random, Grid; Hyperband searches at random), the
objective, every parameter range, static hyperparameters (constants: a categorical with
one choice, so they reach the script as ``--name value`` as in AMT), metric definitions,
resource limits, the random seed, the completion criteria (``TargetObjectiveMetricValue``:
``budget.target``; ``BestObjectiveNotImproving``: ``budget.no_improvement_trials``;
``ConvergenceDetected``: ``budget.stop_on_convergence``, Bayesian only), warm start parents
that have run in hyperstep (``--parent NAME=JOB``: ``warm_start.jobs``), and
the training job definition as the SageMaker trial block, or with ``command`` as a local
trial that runs that command instead of the image.

Nothing is dropped silently: every field of the request that the spec cannot express is
named in one line of ``Imported.notes`` (the reader records what it took; whatever is left
over is named by its path). A request that cannot become a valid spec raises ``SpecError``
with one line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperstep.amt.reader import Request, dotted
from hyperstep.amt.trial import (
    SCRIPT_MODE,
    SET_BY_HYPERSTEP,
    common_fields,
    local_trial,
    sagemaker_trial,
    script_mode,
)
from hyperstep.errors import SpecError
from hyperstep.spec import parse_spec

STRATEGIES = {"Bayesian": "bayesian", "Random": "random", "Grid": "grid", "Hyperband": "random"}
GOALS = {"Maximize": "maximize", "Minimize": "minimize"}
SCALES = {"Linear": "linear", "Logarithmic": "log", "ReverseLogarithmic": "reverse_log"}
MAX_PARALLEL = 100
MAX_TRIALS = 10_000
OUTCOME = (
    "HyperParameterTuningJobArn",
    "HyperParameterTuningJobStatus",
    "CreationTime",
    "HyperParameterTuningEndTime",
    "LastModifiedTime",
    "TrainingJobStatusCounters",
    "ObjectiveStatusCounters",
    "BestTrainingJob",
    "OverallBestTrainingJob",
    "FailureReason",
    "TuningJobCompletionDetails",
    "ConsumedResources",
)
"""The fields of a ``DescribeHyperParameterTuningJob`` answer that its request has not: what
the tuning job did, not how to run it (``aws sagemaker describe-hyper-parameter-tuning-job``
prints the request's fields too, so its answer imports as the request would)."""


@dataclass
class Imported:
    spec: dict[str, Any]
    """The spec document (it validates as a ``JobSpec``), ready to write as YAML."""
    notes: list[str] = field(default_factory=list)
    """One line per part of the request that the spec does not carry over."""


def import_request(
    document: Any,
    *,
    command: list[str] | None = None,
    max_trials: int | None = None,
    parents: Mapping[str, str] | None = None,
) -> Imported:
    """Turn a ``CreateHyperParameterTuningJob`` request into a spec document and notes.

    ``parents`` maps the names of the request's parent tuning jobs (``WarmStartConfig``) to
    the hyperstep jobs that ran them: those become ``warm_start.jobs``.

    ``command`` replaces the training image with a local process (a local trial block);
    ``max_trials`` sets the trial budget (needed when the request has no
    ``MaxNumberOfTrainingJobs``, as a Grid request may not).
    """
    if not isinstance(document, dict):
        raise SpecError(f"request: expected a JSON object, got {type(document).__name__}")
    if "HyperParameterTuningJobConfig" not in document:
        raise SpecError("HyperParameterTuningJobConfig: missing (is this a CreateHyperParameterTuningJob request?)")
    request = Request(document)
    definition = _definition(request)
    config = ("HyperParameterTuningJobConfig",)
    parameters = _parameters(request, config, definition, local=command is not None)
    strategy = _strategy(request, config)
    spec: dict[str, Any] = {
        "name": request.text("HyperParameterTuningJobName", required=True),
        "objective": _objective(request, config, definition),
        "parameters": parameters,
        "strategy": strategy,
        "budget": _budget(request, config, parameters, max_trials, strategy["name"]),
    }
    trial = common_fields(request, definition, spec["objective"]["metric"])
    spec["trial"] = (
        local_trial(request, definition, trial, command) if command else sagemaker_trial(request, definition, trial)
    )
    _unsupported(request, config, definition)
    _outcome(request)
    warm_start = _warm_start(request, parents or {})
    if warm_start:
        spec["warm_start"] = {"jobs": warm_start}
    where = "a local run does not use it" if command else "hyperstep's sagemaker trial block has no such setting"
    notes = request.notes + request.leftovers(where)
    try:
        parse_spec(spec)
    except SpecError as exc:  # e.g. a request without an instance type: name the spec's field
        reason = str(exc)
        if index := re.match(r"parameters\.(\d+)", reason):  # and the request's parameter it came from
            named = f"{index.group(0)} ({spec['parameters'][int(index.group(1))]['name']})"
            reason = named + reason[index.end() :]
        raise SpecError(f"the imported spec is not valid: {reason}") from None
    return Imported(spec=spec, notes=notes)


def _definition(request: Request) -> tuple[Any, ...]:
    """The path of the training job definition to import (the first of several)."""
    if "TrainingJobDefinition" in request.document:
        return ("TrainingJobDefinition",)
    many = request.items("TrainingJobDefinitions")
    if not many:
        raise SpecError("TrainingJobDefinition: missing (neither TrainingJobDefinition nor TrainingJobDefinitions)")
    for i in range(1, len(many)):
        request.note(
            ("TrainingJobDefinitions", i), "hyperstep tunes one training definition: only the first is imported"
        )
    return ("TrainingJobDefinitions", 0)


def _objective(request: Request, config: tuple, definition: tuple) -> dict[str, str]:
    source = (*config, "HyperParameterTuningJobObjective")
    if not request.mapping(*source):
        source = (*definition, "TuningObjective")
    kind = request.text(*source, "Type", required=True)
    if kind not in GOALS:
        raise SpecError(f"{dotted(source)}.Type: expected Maximize or Minimize, got {kind!r}")
    return {"metric": request.text(*source, "MetricName", required=True) or "", "goal": GOALS[kind]}


def _parameters(request: Request, config: tuple, definition: tuple, local: bool) -> list[dict[str, Any]]:
    source = (*config, "ParameterRanges")
    if not request.mapping(*source):
        source = (*definition, "HyperParameterRanges")
    out: list[dict[str, Any]] = []
    for kind in ("ContinuousParameterRanges", "IntegerParameterRanges"):
        for i, _ in enumerate(request.items(*source, kind)):
            out.append(_numeric(request, (*source, kind, i), integer=kind.startswith("Integer")))
    for i, _ in enumerate(request.items(*source, "CategoricalParameterRanges")):
        path = (*source, "CategoricalParameterRanges", i)
        values = request.get(*path, "Values")
        if not isinstance(values, list) or not values:
            raise SpecError(f"{dotted(path)}.Values: expected a non-empty list of strings")
        out.append({"name": request.text(*path, "Name", required=True), "type": "categorical", "choices": values})
    for i, auto in enumerate(request.items(*source, "AutoParameters")):
        name = auto.get("Name") if isinstance(auto, dict) else auto
        request.note((*source, "AutoParameters", i), f"Autotune's parameter {name!r} needs a range in hyperstep")
    statics = request.mapping(*definition, "StaticHyperParameters")
    for name, value in statics.items():
        path = (*definition, "StaticHyperParameters", name)
        if name in SET_BY_HYPERSTEP or (name in SCRIPT_MODE and (local or script_mode(statics))):
            continue  # the trial block takes them (a program alone is the image's own: passed on)
        if name.startswith("_"):  # AMT's own, e.g. _tuning_objective_metric
            request.note(path, "set by AMT for its own training jobs; hyperstep passes no such value")
            continue
        request.get(*path)
        out.append({"name": name, "type": "categorical", "choices": [value]})
    if not out:
        raise SpecError(f"{dotted(source)}: no parameter ranges to tune")
    return out


def _numeric(request: Request, path: tuple, integer: bool) -> dict[str, Any]:
    name = request.text(*path, "Name", required=True)
    low, high = (_number(request, (*path, bound), integer) for bound in ("MinValue", "MaxValue"))
    scaling = request.text(*path, "ScalingType") or "Linear"
    kind = "int" if integer else "float"
    parameter = {"name": name, "type": kind, "low": low, "high": high, "scale": SCALES.get(scaling, "linear")}
    if scaling == "Auto":
        request.notes.append(
            f"{dotted(path)}.ScalingType: Auto ({name}): AMT picks a scale itself; hyperstep searches linearly"
        )
    elif scaling not in SCALES:
        raise SpecError(f"{dotted(path)}.ScalingType: unknown scaling type {scaling!r}")
    if low == high:  # AMT accepts a one-value range; hyperstep says it as a constant
        return {"name": name, "type": "categorical", "choices": [low]}
    if scaling == "ReverseLogarithmic" and (integer or not 0 <= low < high < 1):
        raise SpecError(
            f"{dotted(path)}.ScalingType: ReverseLogarithmic needs a continuous range inside [0, 1), "
            f"got {kind} {low}..{high}"
        )
    return parameter


def _number(request: Request, path: tuple, integer: bool) -> float | int:
    text = request.text(*path, required=True)
    try:
        value = float(text or "")
    except ValueError:
        raise SpecError(f"{dotted(path)}: not a number: {text!r}") from None
    if not math.isfinite(value) or (integer and not value.is_integer()):
        raise SpecError(f"{dotted(path)}: not {'an integer' if integer else 'a finite number'}: {text!r}")
    return int(value) if integer else value


def _strategy(request: Request, config: tuple) -> dict[str, Any]:
    name = request.text(*config, "Strategy", required=True)
    if name not in STRATEGIES:
        raise SpecError(f"{dotted(config)}.Strategy: expected one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "Hyperband":
        request.notes.append(
            f"{dotted(config)}.Strategy: Hyperband: configurations are drawn at random and every trial runs "
            "to its end; add early_stopping: {name: hyperband, min_resource, max_resource} to stop trials early"
        )
    strategy: dict[str, Any] = {"name": STRATEGIES[name]}
    seed = request.integer(*config, "RandomSeed")
    if seed is not None:
        strategy["seed"] = seed
    return strategy


def _budget(
    request: Request, config: tuple, parameters: list[dict], max_trials: int | None, strategy: str
) -> dict[str, Any]:
    limits = (*config, "ResourceLimits")
    trials = request.integer(*limits, "MaxNumberOfTrainingJobs")
    if max_trials is not None:
        trials = max_trials
    elif trials is None and all(p["type"] == "categorical" for p in parameters):
        trials = min(MAX_TRIALS, math.prod(len(p["choices"]) for p in parameters))  # a Grid job: the whole grid
    if trials is None:
        raise SpecError(f"{dotted(limits)}.MaxNumberOfTrainingJobs: missing; give a trial budget with --max-trials")
    budget: dict[str, Any] = {"max_trials": trials}
    parallel = request.integer(*limits, "MaxParallelTrainingJobs")
    if parallel is not None:
        if parallel > MAX_PARALLEL:
            request.notes.append(
                f"{dotted(limits)}.MaxParallelTrainingJobs: {parallel}: hyperstep runs at most {MAX_PARALLEL} at once"
            )
        budget["max_parallel"] = min(parallel, MAX_PARALLEL)
    runtime = request.integer(*limits, "MaxRuntimeInSeconds")
    if runtime is not None:
        budget["max_runtime_seconds"] = runtime
    criteria = (*config, "TuningJobCompletionCriteria")
    target = request.get(*criteria, "TargetObjectiveMetricValue")
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int | float):
            raise SpecError(f"{dotted(criteria)}.TargetObjectiveMetricValue: expected a number, got {target!r}")
        budget["target"] = float(target)
    plateau = request.integer(*criteria, "BestObjectiveNotImproving", "MaxNumberOfTrainingJobsNotImproving")
    if plateau is not None:
        budget["no_improvement_trials"] = plateau
        request.notes.append(
            f"{dotted(criteria)}.BestObjectiveNotImproving: as budget.no_improvement_trials {plateau}, which"
            " counts any improvement of the best, where AMT counts only one of 1% or more: the job may run longer"
        )
    convergence = (*criteria, "ConvergenceDetected", "CompleteOnConvergence")
    if request.choice(*convergence, choices=("Disabled", "Enabled")) == "Enabled":
        if strategy == "bayesian":
            budget["stop_on_convergence"] = True
            request.notes.append(
                f"{dotted(criteria)}.ConvergenceDetected: as budget.stop_on_convergence, hyperstep's own test"
                " (the model's expected improvement), not AMT's (an improvement of 1% or less): it may stop"
                " earlier or later"
            )
        else:
            request.note(
                (*criteria, "ConvergenceDetected"),
                f"hyperstep judges convergence by the Bayesian model only, not {strategy}",
            )
    return budget


def _warm_start(request: Request, parents: Mapping[str, str]) -> list[str]:
    """The hyperstep jobs that stand for the request's parent tuning jobs (``parents``: AMT
    name -> hyperstep job id, ``import-amt --parent``). Either ``WarmStartType`` maps: a
    hyperstep job learns from whatever its parents share with its space. A parent with no
    hyperstep job is named: AMT's own history stays in SageMaker."""
    jobs, names = [], []
    path = ("WarmStartConfig", "ParentHyperParameterTuningJobs")
    for i, parent in enumerate(request.items(*path)):
        name = request.text(*path, i, "HyperParameterTuningJobName") if isinstance(parent, dict) else None
        names.append(name)
        if name in parents:
            jobs.append(parents[name])
        else:
            hint = f"; name the hyperstep job that ran it with --parent {name}=JOB" if name else ""
            request.note((*path, i), f"parent tuning job {name!r}: AMT's history stays in SageMaker{hint}")
    for name in parents:
        if name not in names:
            has = ", ".join(str(n) for n in names if n) or "none"
            raise SpecError(f"--parent: no parent tuning job {name!r} in the request (it has: {has})")
    request.choice("WarmStartConfig", "WarmStartType", choices=("IdenticalDataAndAlgorithm", "TransferLearning"))
    return list(dict.fromkeys(jobs))


def _outcome(request: Request) -> None:
    """Name in one line a ``DescribeHyperParameterTuningJob`` answer's results (``OUTCOME``)."""
    found = [name for name in OUTCOME if name in request.document]
    for name in found:
        request.get(name)
    if found:
        request.notes.append(
            f"{', '.join(found)}: not carried over: what the tuning job did (a DescribeHyperParameterTuningJob"
            " answer), not how to run it"
        )


def _unsupported(request: Request, config: tuple, definition: tuple) -> None:
    """Name, with the reason, what hyperstep knowingly does not do (the rest the leftovers name)."""
    if request.choice(*config, "TrainingJobEarlyStoppingType", choices=("Off", "Auto")) == "Auto":
        request.note(
            (*config, "TrainingJobEarlyStoppingType"),
            "Auto (AMT's own rule); add early_stopping: {name: median, max_resource: N} to stop trials early"
            " (N: the last step a trial reports, as its epochs)",
        )
    hyperband = (*config, "StrategyConfig", "HyperbandStrategyConfig")
    if settings := request.mapping(*hyperband):
        low, high = settings.get("MinResource", "MIN"), settings.get("MaxResource", "MAX")
        request.note(hyperband, f"add early_stopping: {{name: hyperband, min_resource: {low}, max_resource: {high}}}")
    if request.get("Autotune", "Mode") == "Enabled":
        request.note(("Autotune",), "hyperstep does not choose tuning settings itself")
    for flag in ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining"):
        if request.mapping(*definition).get(flag) is False:
            request.get(*definition, flag)  # the default: nothing to carry
