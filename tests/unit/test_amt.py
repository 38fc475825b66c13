"""``hyperstep import-amt``: SageMaker AMT requests (shaped as in AWS's documentation and
checked against botocore's service model) become specs; whatever does not carry over is named."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperstep.amt import import_request
from hyperstep.backends.sagemaker.adapter import build_request
from hyperstep.cli import main
from hyperstep.errors import SpecError
from hyperstep.models import Job, Trial
from hyperstep.spec import load_spec, parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.integration.aws_model import violations

DATA = Path(__file__).parent.parent / "data" / "amt"
DOC_EXAMPLE = DATA / "xgboost-doc-example.json"
"""The developer guide's "Configure and Launch a Hyperparameter Tuning Job" example (XGBoost),
its placeholders (bucket, role, image) filled in."""
EVERY_FIELD = DATA / "script-mode-every-field.json"
"""A script-mode request using every part hyperstep maps, plus some it cannot: metric
definitions from the guide's "Define Metrics" page, warm start from "Run a Warm Start
Hyperparameter Tuning Job"."""
CONFIG = "HyperParameterTuningJobConfig"
KMS_KEY = "alias/sagemaker-output"
DEFINITION = "TrainingJobDefinition"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def amt_valid(request: dict[str, Any]) -> dict[str, Any]:
    """The request, after checking that AWS's service model accepts it."""
    assert violations("sagemaker", "CreateHyperParameterTuningJob", request) == []
    return request


@pytest.mark.parametrize("path", [DOC_EXAMPLE, EVERY_FIELD], ids=["doc example", "every field"])
def test_the_sample_requests_are_valid_for_aws(path: Path) -> None:
    amt_valid(load(path))


def test_the_documentation_example_imports_as_a_sagemaker_job() -> None:
    imported = import_request(amt_valid(load(DOC_EXAMPLE)))
    spec = parse_spec(imported.spec)
    assert spec.name == "MyTuningJob"
    assert spec.objective.metric == "validation:auc" and spec.objective.goal == "maximize"
    assert (spec.strategy.name, spec.strategy.seed) == ("bayesian", 123)
    assert (spec.budget.max_trials, spec.budget.max_parallel) == (20, 3)
    ranges = {p.name: p for p in spec.parameters}
    assert (ranges["eta"].type, ranges["eta"].low, ranges["eta"].high) == ("float", 0.0, 1.0)
    assert (ranges["max_depth"].type, ranges["max_depth"].low, ranges["max_depth"].high) == ("int", 1, 10)
    statics = {n: p.choices for n, p in ranges.items() if p.type == "categorical"}
    assert statics == {
        "eval_metric": ["auc"],
        "num_round": ["100"],
        "objective": ["binary:logistic"],
        "rate_drop": ["0.3"],
        "tweedie_variance_power": ["1.4"],
    }
    trial = spec.trial
    assert trial is not None and trial.backend == "sagemaker"
    assert trial.training_image.endswith("sagemaker-xgboost:1.0-1-cpu-py3")
    assert (trial.instance_type, trial.instance_count, trial.volume_size_gb) == ("ml.c4.2xlarge", 2, 10)
    assert trial.timeout_seconds == 43200 and trial.output_path == "s3://amzn-s3-demo-bucket/xgboost/output"
    assert set(trial.input_channels) == {"train", "validation"}
    assert trial.input_channels["validation"].content_type == "csv"
    # XGBoost's own metric has no MetricDefinitions entry: the one hyperstep adds is named
    assert len(imported.notes) == 1 and "validation:auc" in imported.notes[0]
    assert "MetricDefinitions" in imported.notes[0]


def test_every_mapped_field_arrives_in_the_spec() -> None:
    spec = parse_spec(import_request(amt_valid(load(EVERY_FIELD))).spec)
    ranges = {p.name: p for p in spec.parameters}
    assert ranges["learning_rate"].scale == "log" and ranges["batch_size"].scale == "log"
    assert ranges["batch_size"].type == "int" and ranges["dropout"].scale == "linear"
    assert ranges["momentum"].scale == "reverse_log"
    assert ranges["optimizer"].choices == ["sgd", "adam"] and ranges["epochs"].choices == ["20"]
    assert not any(name.startswith("sagemaker_") for name in ranges)
    budget = spec.budget
    assert (budget.max_trials, budget.max_parallel, budget.max_runtime_seconds, budget.target) == (30, 4, 86400, 0.05)
    trial = spec.trial
    assert trial is not None and trial.backend == "sagemaker"
    assert (trial.entry_point, trial.source_dir) == ("train.py", "s3://amzn-s3-demo-bucket/gan/source/sourcedir.tar.gz")
    assert [m.name for m in trial.metric_definitions] == ["loss", "ganloss", "discloss", "disc-combined"]
    assert trial.use_spot and (trial.timeout_seconds, trial.max_wait_seconds) == (3600, 7200)
    assert trial.checkpoint_s3_uri == "s3://amzn-s3-demo-bucket/gan/checkpoints"
    channel = trial.input_channels["train"]
    assert (channel.input_mode, channel.distribution) == ("FastFile", "ShardedByS3Key")
    assert trial.vpc is not None and trial.vpc.security_group_ids == ["sg-0123456789abcdef0"]
    assert trial.environment == {"LOG_LEVEL": "info"} and trial.tags == {"project": "gan"}
    assert trial.output_kms_key_id == KMS_KEY  # CreateTrainingJob's OutputDataConfig.KmsKeyId


@pytest.mark.parametrize(
    "named",
    [
        "ContinuousParameterRanges[3].ScalingType: Auto (weight_decay)",
        f"{CONFIG}.TrainingJobEarlyStoppingType: not carried over",
        "WarmStartConfig.ParentHyperParameterTuningJobs[0]: not carried over: parent tuning job 'MyParentTuningJob'",
        f"{DEFINITION}.InputDataConfig[0].ShuffleConfig: not carried over",
        f"{DEFINITION}.RetryStrategy: not carried over",
        f"{DEFINITION}.StaticHyperParameters.sagemaker_container_log_level: not carried over",
        f"{DEFINITION}.StaticHyperParameters.sagemaker_region: not carried over",
    ],
)
def test_what_does_not_carry_over_is_named_once(named: str) -> None:
    notes = import_request(load(EVERY_FIELD)).notes
    assert sum(named in line for line in notes) == 1, notes


def test_nothing_else_is_named() -> None:
    assert len(import_request(load(EVERY_FIELD)).notes) == 9  # the 7 above, the 2 criteria below


def test_completion_criteria_and_a_parent_that_ran_in_hyperstep_carry_over() -> None:
    imported = import_request(load(EVERY_FIELD), parents={"MyParentTuningJob": "gan-20261101000000-ab12"})
    spec = parse_spec(imported.spec)
    assert (spec.budget.no_improvement_trials, spec.budget.stop_on_convergence) == (10, True)
    assert spec.warm_start is not None and spec.warm_start.jobs == ["gan-20261101000000-ab12"]
    assert not any("WarmStartConfig" in line for line in imported.notes)
    criteria = [line for line in imported.notes if "Criteria" in line]
    assert criteria == [  # the same names, other rules: said (before, not a word)
        f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving: as budget.no_improvement_trials 10, which"
        " counts any improvement of the best, where AMT counts only one of 1% or more: the job may run longer",
        f"{CONFIG}.TuningJobCompletionCriteria.ConvergenceDetected: as budget.stop_on_convergence, hyperstep's own"
        " test (the model's expected improvement), not AMT's (an improvement of 1% or less): it may stop earlier"
        " or later",
    ]


def test_a_parent_the_request_does_not_name_is_refused() -> None:
    """``--parent MyParentTuningjob=JOB`` (a typo) was ignored without a word: the spec
    lost its warm start while the user believed it had one."""
    with pytest.raises(
        SpecError, match=r"^--parent: no parent tuning job 'Typo' in the request \(it has: MyParentTuningJob\)"
    ):
        import_request(load(EVERY_FIELD), parents={"MyParentTuningJob": "gan-1", "Typo": "gan-2"})
    with pytest.raises(SpecError, match=r"it has: none"):
        import_request(load(DOC_EXAMPLE), parents={"Typo": "gan-2"})


def test_convergence_under_a_strategy_without_a_model_is_named() -> None:
    request = load(EVERY_FIELD)
    request[CONFIG]["Strategy"] = "Random"
    imported = import_request(request)
    assert "stop_on_convergence" not in imported.spec["budget"]
    assert sum("ConvergenceDetected: not carried over" in line and "random" in line for line in imported.notes) == 1


def test_a_field_hyperstep_does_not_know_is_named_not_dropped() -> None:
    request = load(DOC_EXAMPLE)
    request[DEFINITION]["EnableInterContainerTrafficEncryption"] = True
    request[DEFINITION]["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600
    request["Autotune"] = {"Mode": "Enabled"}
    notes = import_request(amt_valid(request)).notes
    for path in (
        f"{DEFINITION}.EnableInterContainerTrafficEncryption",
        f"{DEFINITION}.ResourceConfig.KeepAlivePeriodInSeconds",
        "Autotune",
    ):
        assert sum(line.startswith(f"{path}: not carried over") for line in notes) == 1, notes


@pytest.mark.parametrize(
    ("scaling", "scale", "named"),
    [("Linear", "linear", False), ("Logarithmic", "log", False), ("Auto", "linear", True), (None, "linear", False)],
)
def test_scaling_types(scaling: str | None, scale: str, named: bool) -> None:
    request = load(DOC_EXAMPLE)
    eta = request[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0]
    eta["MinValue"] = "0.001"
    if scaling:
        eta["ScalingType"] = scaling
    imported = import_request(amt_valid(request))
    assert imported.spec["parameters"][0] == {"name": "eta", "type": "float", "low": 0.001, "high": 1.0, "scale": scale}
    assert any("(eta)" in line for line in imported.notes) is named


def test_reverse_logarithmic_maps_to_reverse_log() -> None:
    request = load(DOC_EXAMPLE)
    eta = request[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0]
    eta.update({"MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"})
    imported = import_request(amt_valid(request))
    assert imported.spec["parameters"][0] == {
        "name": "eta",
        "type": "float",
        "low": 0.9,
        "high": 0.999,
        "scale": "reverse_log",
    }
    assert not any("(eta)" in line for line in imported.notes)
    assert parse_spec(imported.spec).parameters[0].scale == "reverse_log"


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        ("ContinuousParameterRanges", "0.5", "1.0"),
        ("ContinuousParameterRanges", "-0.1", "0.5"),
        ("IntegerParameterRanges", "0", "1"),
    ],
)
def test_reverse_logarithmic_outside_zero_one_is_refused(kind: str, low: str, high: str) -> None:
    request = load(DOC_EXAMPLE)
    ranges = request[CONFIG]["ParameterRanges"]
    ranges[kind] = [{"Name": "m", "MinValue": low, "MaxValue": high, "ScalingType": "ReverseLogarithmic"}]
    with pytest.raises(SpecError, match=r"ReverseLogarithmic needs a continuous range inside \[0, 1\)"):
        import_request(amt_valid(request))


def test_random_and_grid_strategies() -> None:
    request = load(DOC_EXAMPLE)
    request[CONFIG]["Strategy"] = "Random"
    assert import_request(amt_valid(request)).spec["strategy"] == {"name": "random", "seed": 123}

    grid = load(DOC_EXAMPLE)
    grid[CONFIG] = {
        "Strategy": "Grid",
        "HyperParameterTuningJobObjective": {"MetricName": "validation:auc", "Type": "Maximize"},
        "ResourceLimits": {"MaxParallelTrainingJobs": 2},  # AMT's Grid runs the whole grid
        "ParameterRanges": {
            "CategoricalParameterRanges": [
                {"Name": "tree_method", "Values": ["auto", "exact", "approx", "hist"]},
                {"Name": "max_depth", "Values": ["3", "6", "9"]},
            ]
        },
    }
    imported = import_request(amt_valid(grid))
    assert imported.spec["strategy"] == {"name": "grid"}
    assert imported.spec["budget"] == {"max_trials": 12, "max_parallel": 2}


def test_hyperband_searches_at_random_and_says_so() -> None:
    request = load(DOC_EXAMPLE)
    request[CONFIG]["Strategy"] = "Hyperband"
    request[CONFIG]["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 27}}
    imported = import_request(amt_valid(request))
    assert imported.spec["strategy"]["name"] == "random"
    assert sum("Hyperband" in line for line in imported.notes) == 2


def test_the_early_stopping_notes_say_once_what_is_left_out_and_give_a_block_that_validates() -> None:
    """The notes read "not carried over: not carried over: ..." and the hint for Auto,
    ``{name: median, min_resource}``, is a block validate refuses (median needs max_resource)."""
    request = load(DOC_EXAMPLE)
    request[CONFIG]["Strategy"] = "Hyperband"
    request[CONFIG]["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 27}}
    request[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    imported = import_request(request)
    notes = [line for line in imported.notes if "EarlyStoppingType" in line or "HyperbandStrategyConfig" in line]
    assert len(notes) == 2 and all(line.count("not carried over") == 1 for line in notes), notes
    hyperband = next(line for line in notes if "HyperbandStrategyConfig" in line)
    assert "early_stopping: {name: hyperband, min_resource: 2, max_resource: 27}" in hyperband
    auto = next(line for line in notes if "EarlyStoppingType" in line)
    block = yaml.safe_load(auto[auto.index("early_stopping: ") + len("early_stopping: ") :].split(" to ")[0])
    block["max_resource"] = 27  # the hint names what the user fills in
    assert "max_resource" in auto
    parse_spec({**imported.spec, "early_stopping": block})


def test_only_the_first_of_several_training_definitions_is_imported_and_the_rest_named() -> None:
    request = load(DOC_EXAMPLE)
    first = request.pop(DEFINITION)
    first["DefinitionName"] = "xgboost"
    second = {**copy.deepcopy(first), "DefinitionName": "xgboost-large"}
    second["ResourceConfig"]["InstanceType"] = "ml.m5.4xlarge"
    request["TrainingJobDefinitions"] = [first, second]
    for definition in request["TrainingJobDefinitions"]:  # AMT wants the objective and ranges per definition
        definition["TuningObjective"] = request[CONFIG]["HyperParameterTuningJobObjective"]
        definition["HyperParameterRanges"] = request[CONFIG]["ParameterRanges"]
    del request[CONFIG]["HyperParameterTuningJobObjective"], request[CONFIG]["ParameterRanges"]
    imported = import_request(amt_valid(request))
    assert imported.spec["trial"]["instance_type"] == "ml.c4.2xlarge"
    assert imported.spec["objective"] == {"metric": "validation:auc", "goal": "maximize"}
    assert [p["name"] for p in imported.spec["parameters"][:4]] == ["eta", "alpha", "min_child_weight", "max_depth"]
    assert any(line.startswith("TrainingJobDefinitions[1]: not carried over") for line in imported.notes)
    assert any(line.startswith("TrainingJobDefinitions[0].DefinitionName: not carried over") for line in imported.notes)


def test_flexible_instances_take_the_first_instance_config_and_name_the_others() -> None:
    request = load(DOC_EXAMPLE)
    del request[DEFINITION]["ResourceConfig"]
    request[DEFINITION]["HyperParameterTuningResourceConfig"] = {
        "AllocationStrategy": "Prioritized",
        "InstanceConfigs": [
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        ],
    }
    imported = import_request(amt_valid(request))
    trial = imported.spec["trial"]
    assert (trial["instance_type"], trial["instance_count"], trial["volume_size_gb"]) == ("ml.m5.xlarge", 1, 30)
    flexible = f"{DEFINITION}.HyperParameterTuningResourceConfig"
    named = [line.split(":")[0] for line in imported.notes]
    assert f"{flexible}.AllocationStrategy" in named and f"{flexible}.InstanceConfigs[1]" in named


def test_a_range_the_spec_refuses_is_named_by_the_request_s_parameter() -> None:
    """ "parameters.0: a log scale needs low > 0" named a list the request does not have."""
    request = load(DOC_EXAMPLE)
    ranges = request[CONFIG]["ParameterRanges"]
    ranges["ContinuousParameterRanges"] = [
        {"Name": "eta", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}
    ]
    with pytest.raises(SpecError, match=r"^the imported spec is not valid: parameters\.0 \(eta\): a log scale needs"):
        import_request(request)


def test_a_request_whose_spec_cannot_run_says_which_field_is_missing() -> None:
    request = load(DOC_EXAMPLE)
    del request[DEFINITION]["ResourceConfig"]  # the API allows it; a training job needs an instance type
    with pytest.raises(SpecError, match=r"^the imported spec is not valid: trial.instance_type: Field required$"):
        import_request(request)


def test_a_local_import_runs_the_command_and_names_the_sagemaker_settings() -> None:
    imported = import_request(load(EVERY_FIELD), command=["python", "train.py"])
    trial = imported.spec["trial"]
    assert trial["backend"] == "local" and trial["command"] == ["python", "train.py"]
    assert trial["timeout_seconds"] == 3600 and trial["env"] == {"LOG_LEVEL": "info"}
    named = {line.split(":")[0] for line in imported.notes}
    for path in ("RoleArn", "ResourceConfig", "VpcConfig", "OutputDataConfig", "InputDataConfig", "CheckpointConfig"):
        assert f"{DEFINITION}.{path}" in named, named
    assert f"{DEFINITION}.StaticHyperParameters.sagemaker_program" in named
    assert "Tags" in named


def test_an_imported_trial_launches_as_a_training_job_aws_accepts() -> None:
    spec = parse_spec(import_request(load(EVERY_FIELD)).spec)
    job = Job(id="gan-tuning-2-0001", spec=spec)
    params = {p.name: p.choices[0] if p.type == "categorical" else p.low for p in spec.parameters}
    request = build_request(job, Trial(job_id=job.id, id="t0001", number=1, params=params), "hs-gan-t0001-1")
    assert violations("sagemaker", "CreateTrainingJob", request) == []
    assert request["HyperParameters"]["epochs"] == "20"
    assert request["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert request["EnableManagedSpotTraining"] is True and request["VpcConfig"]["Subnets"][1].endswith("3210")


def test_a_program_baked_into_the_image_is_passed_on_as_a_static_hyperparameter() -> None:
    """``sagemaker_program`` without ``sagemaker_submit_directory`` (a bring-your-own image whose
    code is in /opt/ml/code; the training toolkit reads the program from the hyperparameter):
    the import wrote ``entry_point`` alone and refused its own spec ("script mode needs both
    entry_point and source_dir"). AMT passes the value on; so does the imported spec."""
    request = load(EVERY_FIELD)
    del request[DEFINITION]["StaticHyperParameters"]["sagemaker_submit_directory"]
    spec = parse_spec(import_request(amt_valid(request)).spec)
    assert spec.trial.entry_point is None and spec.trial.source_dir is None
    job = Job(id="gan-tuning-2-0001", spec=spec)
    params = {p.name: p.choices[0] if p.type == "categorical" else p.low for p in spec.parameters}
    launch = build_request(job, Trial(job_id=job.id, id="t0001", number=1, params=params), "hs-gan-t0001-1")
    assert violations("sagemaker", "CreateTrainingJob", launch) == []
    given = request[DEFINITION]["StaticHyperParameters"]["sagemaker_program"]
    assert launch["HyperParameters"]["sagemaker_program"] == given
    local = import_request(request, command=["python", "train.py"]).spec  # a local run runs --command
    assert "sagemaker_program" not in {p["name"] for p in local["parameters"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue="abc"), "MinValue"),
        (lambda r: r[CONFIG]["ParameterRanges"]["IntegerParameterRanges"][0].update(MaxValue="2.5"), "MaxValue"),
        (lambda r: r[CONFIG].update(Strategy="Annealing"), "Strategy"),
        (lambda r: r[CONFIG]["ResourceLimits"].pop("MaxNumberOfTrainingJobs"), "--max-trials"),
        (lambda r: r.pop(DEFINITION), "TrainingJobDefinition"),
        (lambda r: r.pop(CONFIG), CONFIG),
        (lambda r: r[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0].update(Name="bad name"), "parameters"),
    ],
)
def test_a_bad_request_raises_one_line_naming_the_field(change: Any, field: str) -> None:
    request = load(DOC_EXAMPLE)
    change(request)
    with pytest.raises(SpecError) as caught:
        import_request(request)
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_cli_writes_a_spec_that_validates_and_names_the_rest_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spec.yaml"
    assert main(["import-amt", str(EVERY_FIELD), "-o", str(out), "--parent", "MyParentTuningJob=gan-1"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum(line.startswith("hyperstep: import-amt: ") for line in err) == 8  # the parent carries over
    assert yaml.safe_load(out.read_text())["warm_start"] == {"jobs": ["gan-1"]}
    assert yaml.safe_load(out.read_text())["name"] == "gan-tuning-2"
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.startswith("ok: gan-tuning-2")
    assert main(["import-amt", str(DOC_EXAMPLE)]) == 0  # without -o: the spec on stdout
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "MyTuningJob"


def test_a_string_that_reads_as_a_number_in_a_spec_stays_a_string(tmp_path: Path) -> None:
    """AMT passes a categorical or static value as its text: ``1e-3`` (which YAML 1.1, and so
    PyYAML's writer, takes for text) was written plain and read back as the number 0.001."""
    request = load(DOC_EXAMPLE)
    ranges = request[CONFIG]["ParameterRanges"]
    ranges["CategoricalParameterRanges"] = [{"Name": "lr", "Values": ["1e-3", "1E5", "-.5", "0.1"]}]
    request[DEFINITION]["StaticHyperParameters"] = {"decay": "1e-4"}
    (tmp_path / "request.json").write_text(json.dumps(request))
    out = tmp_path / "spec.yaml"
    assert main(["import-amt", str(tmp_path / "request.json"), "-o", str(out)]) == 0
    spec = load_spec(out)
    choices = {p.name: p.choices for p in spec.parameters if p.type == "categorical"}
    assert choices["lr"] == ["1e-3", "1E5", "-.5", "0.1"] and choices["decay"] == ["1e-4"]


@pytest.mark.parametrize(
    ("content", "extra", "reason"),
    [
        ("{not json", [], "not valid JSON"),
        ('{"a": ' + "9" * 5000 + "}", [], "not valid JSON: a number literal longer than 100 characters"),
        ('{"HyperParameterTuningJobName": "a", "HyperParameterTuningJobName": "b"}', [], "duplicate key"),
        ("[1, 2]", [], "expected a JSON object"),
        ("{}", [], "HyperParameterTuningJobConfig: missing"),
        (None, ["--backend", "local"], "--command"),
        (None, ["--command", "python train.py", "--backend", "sagemaker"], "--command"),
    ],
)
def test_cli_bad_request_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, extra: list[str], reason: str
) -> None:
    path = tmp_path / "request.json"
    path.write_text(content if content is not None else DOC_EXAMPLE.read_text())
    assert main(["import-amt", str(path), "-o", str(tmp_path / "spec.yaml"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperstep: error: ") and "\n" not in err and reason in err, err
    assert not (tmp_path / "spec.yaml").exists()


TRAIN = textwrap.dedent(
    """
    import argparse
    p = argparse.ArgumentParser()
    for name in ("eta", "alpha", "min_child_weight"):
        p.add_argument("--" + name, type=float)
    p.add_argument("--max_depth", type=int)
    p.add_argument("--num_round", type=int)
    p.add_argument("--objective")
    a, _ = p.parse_known_args()
    assert a.num_round == 100 and a.objective == "binary:logistic"  # the static hyperparameters arrive
    print(f"[{a.num_round - 1}]#011train-auc:0.99")
    print(f"validation:auc={1 - (a.eta - 0.3) ** 2 - 0.01 * a.alpha - 0.01 * abs(a.max_depth - 6):.6g}")
    """
)


@pytest.mark.slow
def test_the_documentation_example_imports_and_runs_locally(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    spec, store = tmp_path / "spec.yaml", tmp_path / "store.db"
    code = main(["import-amt", str(DOC_EXAMPLE), "--command", "python train.py", "--max-trials", "6", "-o", str(spec)])
    assert code == 0
    assert main(["--store", str(store), "run", str(spec), "--out", str(tmp_path / "runs")]) == 0
    [job] = SQLiteStore(str(store)).list_jobs()
    assert (job.spec.name, job.completed, job.failed) == ("MyTuningJob", 6, 0)
    assert job.best_value is not None and 0.0 < job.best_value <= 1.0


def test_a_describe_answer_imports_as_its_request_and_names_its_results_in_one_line() -> None:
    """``aws sagemaker describe-hyper-parameter-tuning-job`` prints what a user of an AMT job
    has at hand: the request's fields plus what the job did. Before, each result field was
    named as a setting "hyperstep's sagemaker trial block has no such setting", ten lines
    that said something untrue of the ARN, the status and the counters."""
    described = {
        **load(DOC_EXAMPLE),
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:111122223333:hyper-parameter-tuning-job/mytuningjob",
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": "2026-11-01T10:00:00+00:00",
        "TrainingJobStatusCounters": {"Completed": 20, "InProgress": 0},
        "ObjectiveStatusCounters": {"Succeeded": 20, "Pending": 0, "Failed": 0},
        "BestTrainingJob": {"TrainingJobName": "MyTuningJob-013-0a1b2c3d", "TunedHyperParameters": {"eta": "0.2"}},
        "ConsumedResources": {"RuntimeInSeconds": 7200},
    }
    imported = import_request(described)
    assert imported.spec == import_request(load(DOC_EXAMPLE)).spec
    extra = [note for note in imported.notes if note not in import_request(load(DOC_EXAMPLE)).notes]
    assert extra == [
        "HyperParameterTuningJobArn, HyperParameterTuningJobStatus, CreationTime, TrainingJobStatusCounters, "
        "ObjectiveStatusCounters, BestTrainingJob, ConsumedResources: not carried over: what the tuning job did "
        "(a DescribeHyperParameterTuningJob answer), not how to run it"
    ]


def test_the_results_named_are_every_field_a_describe_answer_adds_to_the_request() -> None:
    import botocore.session

    from hyperstep.amt import OUTCOME

    model = botocore.session.get_session().get_service_model("sagemaker")
    answer = model.operation_model("DescribeHyperParameterTuningJob").output_shape.members
    request = model.operation_model("CreateHyperParameterTuningJob").input_shape.members
    assert set(OUTCOME) == set(answer) - set(request)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            (CONFIG, "TuningJobCompletionCriteria", "ConvergenceDetected", "CompleteOnConvergence"),
            "Enable",
            "Disabled, Enabled",
        ),
        ((CONFIG, "TrainingJobEarlyStoppingType"), "On", "Off, Auto"),
        (("WarmStartConfig", "WarmStartType"), "Transfer", "IdenticalDataAndAlgorithm, TransferLearning"),
    ],
)
def test_a_setting_aws_does_not_define_is_refused_naming_it_not_taken_as_off(
    path: tuple[str, ...], value: str, expected: str
) -> None:
    """Before, a misspelt value was taken and ignored: a job meant to stop on convergence ran
    its whole budget, without a note."""
    request = load(DOC_EXAMPLE)
    request.setdefault("WarmStartConfig", {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}]})
    place = request
    for key in path[:-1]:
        place = place.setdefault(key, {})
    place[path[-1]] = value
    with pytest.raises(SpecError) as caught:
        import_request(request)
    assert str(caught.value) == f"{'.'.join(path)}: expected one of {expected}, got {value!r}"
