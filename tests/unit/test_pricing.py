"""Dollar budget: what trials cost (``hyperstep.pricing``), and how many more may start."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperstep.backends.batch.events import batch_usage
from hyperstep.backends.sagemaker.events import sagemaker_usage
from hyperstep.cli import main
from hyperstep.errors import SpecError
from hyperstep.events import parse_event
from hyperstep.messages import FinishRequest, SuggestRequest, TrialResult, Usage
from hyperstep.models import Charge, Job, StopReason, Trial, TrialState
from hyperstep.pricing import budget, ec2_rate, prices
from hyperstep.service import TuningService
from hyperstep.spec import BudgetUpdate, parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.trial_view import Snapshot
from hyperstep.views import progress_line
from tests.conftest import spec_document
from tests.unit.test_service import Clock, FakeBackend, FakeOrchestrator

EVENTS = Path(__file__).resolve().parents[2] / "events"
ROLE = "arn:aws:iam::123456789012:role/HyperstepSageMakerRole"


def sagemaker_block(**overrides: Any) -> dict[str, Any]:
    block = {
        "backend": "sagemaker",
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1",
        "instance_type": "ml.m5.xlarge",
        "role_arn": ROLE,
        "output_path": "s3://bucket/out",
        "metric_definitions": [{"name": "loss", "regex": r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"}],
        "timeout_seconds": 7200,
    }
    return {**block, **overrides}


def batch_block(**overrides: Any) -> dict[str, Any]:
    block = {
        "backend": "batch",
        "job_queue": "q",
        "job_definition": "train:1",
        "command": ["python", "train.py"],
        "metric_definitions": [{"name": "loss", "regex": r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"}],
    }
    return {**block, **overrides}


def block_of(trial: dict[str, Any], **budget_fields: Any):
    spec = parse_spec(spec_document(trial=trial, budget={"max_trials": 10, "max_parallel": 4, **budget_fields}))
    assert spec.trial is not None
    return spec.trial


# ---- prices ------------------------------------------------------------------------


def test_the_price_table_is_dated_and_names_its_sources() -> None:
    assert datetime.strptime(prices.PRICES_DATE, "%Y-%m-%d")
    assert set(prices.SOURCES) == {"sagemaker", "fargate", "ec2"}
    assert all(url.startswith("https://aws.amazon.com/") for url in prices.SOURCES.values())
    assert prices.FALLBACK_REGION in prices.SAGEMAKER_TRAINING
    assert prices.FALLBACK_REGION in prices.FARGATE and prices.FALLBACK_REGION in prices.EC2


def test_sagemaker_on_demand_is_billable_seconds_times_instances_times_the_list_rate() -> None:
    block = block_of(sagemaker_block(instance_count=2))
    rate = block.rate(Usage(seconds=1800, instance_type="ml.m5.xlarge", instance_count=2), "us-west-2")
    assert rate is not None
    assert rate.cost(1800) == pytest.approx(2 * 0.23 / 2)
    assert "ml.m5.xlarge" in rate.basis and "us-west-2 list price" in rate.basis


def test_managed_spot_is_priced_from_billable_time_which_already_has_the_savings_off() -> None:
    """AWS: savings = 1 - BillableTimeInSeconds / TrainingTimeInSeconds; so billable x on-demand."""
    described = {
        "TrainingTimeInSeconds": 3600,
        "BillableTimeInSeconds": 720,
        "EnableManagedSpotTraining": True,
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
    }
    usage = sagemaker_usage(described)
    assert usage == Usage(seconds=720, instance_type="ml.g4dn.xlarge", instance_count=1, platform="sagemaker")
    block = block_of(sagemaker_block(use_spot=True, max_wait_seconds=7200))
    rate = block.rate(usage, "us-east-1")
    assert rate is not None and rate.cost(usage.seconds) == pytest.approx(0.736 * 720 / 3600)


def test_a_training_job_without_billable_time_is_priced_from_its_training_start_to_end() -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    end = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
    assert sagemaker_usage({"TrainingStartTime": start, "TrainingEndTime": end}).seconds == 1800
    assert sagemaker_usage({"TrainingStartTime": "1764198095000", "TrainingEndTime": "1764199290000"}).seconds == 1195
    assert sagemaker_usage({"TrainingJobStatus": "InProgress"}) is None


def test_a_region_outside_the_table_is_priced_at_the_fallback_and_says_so() -> None:
    rate = block_of(sagemaker_block()).rate(None, "ap-south-1")
    assert rate is not None and rate.usd_per_hour == prices.SAGEMAKER_TRAINING["us-east-1"]["ml.m5.xlarge"]
    assert "us-east-1 list price" in rate.basis and "ap-south-1 not in the table" in rate.basis


def test_cost_per_hour_overrides_the_table_per_instance() -> None:
    rate = block_of(sagemaker_block(instance_count=3, cost_per_hour=0.1)).rate(None, "us-east-1")
    assert rate is not None and rate.usd_per_hour == pytest.approx(0.3) and "cost_per_hour" in rate.basis


def test_batch_fargate_is_vcpus_and_memory_per_second_rounded_up() -> None:
    event = json.loads((EVENTS / "batch-job-state-change-succeeded.json").read_text())
    event["detail"]["platformCapabilities"] = ["FARGATE"]
    result = parse_event(event)
    assert isinstance(result, TrialResult) and result.usage is not None
    usage = result.usage
    assert (usage.seconds, usage.vcpus, usage.memory_mib) == (1131, 2.0, 4096.0)  # 1130.314 s, rounded up
    assert (usage.platform, usage.region) == ("fargate", "us-east-1")
    rate = block_of(batch_block()).rate(usage, usage.region)
    assert rate is not None
    hourly = 2 * 0.04048 + 4 * 0.004445
    assert rate.cost(usage.seconds) == pytest.approx(hourly * 1131 / 3600)


def test_batch_fargate_on_arm64_is_priced_at_the_linux_arm_rates() -> None:
    """The job's ``container.runtimePlatform.cpuArchitecture`` (Batch's ContainerDetail; X86_64
    when absent) picks Fargate's Linux/ARM rates; before, an ARM64 job was priced at x86's."""
    event = json.loads((EVENTS / "batch-job-state-change-succeeded.json").read_text())
    event["detail"]["platformCapabilities"] = ["FARGATE"]
    event["detail"]["container"]["runtimePlatform"] = {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    usage = parse_event(event).usage
    assert usage is not None and usage.cpu_architecture == "ARM64"
    rate = block_of(batch_block()).rate(usage, usage.region)
    assert rate is not None and "ARM64" in rate.basis
    assert rate.usd_per_hour == pytest.approx(2 * 0.03238 + 4 * 0.00356)
    del event["detail"]["container"]["runtimePlatform"]
    x86 = block_of(batch_block()).rate(parse_event(event).usage, "us-east-1")
    assert x86 is not None and x86.usd_per_hour == pytest.approx(2 * 0.04048 + 4 * 0.004445)


def test_each_fargate_attempt_is_a_task_billed_at_least_a_minute_and_a_job_that_never_ran_costs_nothing() -> None:
    """Fargate bills each task (a Batch attempt) per second rounded up, one minute at least.
    Before, the minimum was applied once to the sum of the attempts (three 10 s attempts
    charged 60 s, not 180 s) and to a job that never ran a task (charged 60 s, not 0)."""
    fargate = {"platformCapabilities": ["FARGATE"], "container": {"vcpus": 1, "memory": 2048}}
    attempts = [{"startedAt": t, "stoppedAt": t + 10_000} for t in (1_000, 20_000, 40_000)]
    assert batch_usage({**fargate, "attempts": attempts}).seconds == 180
    assert batch_usage({**fargate, "attempts": [{"startedAt": 1_000, "stoppedAt": 62_500}]}).seconds == 62
    cancelled = batch_usage({**fargate, "status": "FAILED", "statusReason": "Cancelled while RUNNABLE"})
    rate = block_of(batch_block()).rate(cancelled, "us-east-1")
    assert rate is not None and rate.cost(cancelled.seconds) == 0
    ec2 = batch_usage({"container": {"vcpus": 1, "memory": 2048}, "attempts": attempts})
    assert ec2.seconds == 30  # EC2: the job's own run time (its instance is billed apart)


def test_batch_on_ec2_is_its_instance_type_when_named_else_its_vcpus_at_the_estimate() -> None:
    event = json.loads((EVENTS / "batch-job-state-change-succeeded.json").read_text())
    usage = parse_event(event).usage
    assert usage is not None and usage.platform == "ec2"
    estimated = block_of(batch_block()).rate(usage, "us-east-1")
    assert estimated is not None and estimated.usd_per_hour == pytest.approx(2 * 0.048)
    assert "estimate" in estimated.basis
    named = block_of(batch_block(instance_type="c5.xlarge")).rate(usage, "us-east-1")
    assert named is not None and named.usd_per_hour == pytest.approx(0.17)


def test_a_batch_ec2_instance_type_the_table_lacks_is_named_not_budgeted_as_m5_vcpus() -> None:
    """``trial.instance_type: p4d.24xlarge`` was priced as its vCPUs at m5's rate per vCPU
    without a word, many times below its price: a dollar budget let the job overspend. It is
    refused for a dollar budget unless ``cost_per_hour`` gives the price; without one the
    estimate says that the type is not in the table."""
    with pytest.raises(
        SpecError,
        match=r"^budget\.max_cost_usd: trial\.instance_type p4d\.24xlarge is not in hyperstep's price table "
        r"\(2026-11-30\): set trial\.cost_per_hour \(dollars per hour\)$",
    ):
        block_of(batch_block(instance_type="p4d.24xlarge"), max_cost_usd=100)
    block_of(batch_block(instance_type="p4d.24xlarge", cost_per_hour=32.77), max_cost_usd=100)
    block_of(batch_block(instance_type="c5.xlarge"), max_cost_usd=100)
    usage = Usage(seconds=3600, vcpus=96, memory_mib=1_179_648, platform="ec2")
    estimate = block_of(batch_block(instance_type="p4d.24xlarge")).rate(usage, "us-east-1")
    assert estimate is not None and "p4d.24xlarge is not in the price table" in estimate.basis


def test_batch_usage_adds_up_every_attempt_and_is_zero_for_a_job_that_never_ran() -> None:
    detail = {
        "attempts": [{"startedAt": 1000, "stoppedAt": 61000}, {"startedAt": 70000, "stoppedAt": 100000}],
        "container": {"vcpus": 1, "memory": 2048},
    }
    usage = batch_usage(detail)
    assert (usage.seconds, usage.vcpus, usage.memory_mib) == (90.0, 1.0, 2048.0)
    assert batch_usage({"status": "FAILED", "statusReason": "CannotPullContainerError"}).seconds == 0


def test_the_sagemaker_event_carries_a_usage_only_with_billable_time() -> None:
    event = json.loads((EVENTS / "sagemaker-training-job-state-change-completed.json").read_text())
    assert parse_event(event).usage is None  # AWS documents no BillableTimeInSeconds there: collect asks Describe
    billed = copy.deepcopy(event)
    billed["detail"]["BillableTimeInSeconds"] = 1195
    usage = parse_event(billed).usage
    assert usage == Usage(
        seconds=1195, instance_type="ml.m5.xlarge", instance_count=1, platform="sagemaker", region="us-east-1"
    )


# ---- spec ---------------------------------------------------------------------------


def test_a_dollar_budget_needs_a_price_for_the_trials() -> None:
    local = spec_document()["trial"]
    with pytest.raises(SpecError, match=r"max_cost_usd: needs each trial's price: set trial\.cost_per_hour"):
        block_of(local, max_cost_usd=5)
    block_of({**local, "cost_per_hour": 0.5}, max_cost_usd=5)
    # an instance type the table lacks is named (it read as a block with no price at all)
    unlisted = r"trial\.instance_type ml\.x9\.unknown is not in hyperstep's price table .*: set trial\.cost_per_hour"
    with pytest.raises(SpecError, match=unlisted + r" \(dollars per hour per instance\)"):
        block_of(sagemaker_block(instance_type="ml.x9.unknown"), max_cost_usd=5)
    block_of(sagemaker_block(instance_type="ml.x9.unknown", cost_per_hour=2.0), max_cost_usd=5)
    block_of(sagemaker_block(), max_cost_usd=5)
    block_of(batch_block(), max_cost_usd=5)  # priced from what each Batch job reports


def test_a_dollar_budget_must_cover_one_trial_at_its_most() -> None:
    with pytest.raises(SpecError, match=r"budget.max_cost_usd: \$0.05 does not cover one trial at its most \(\$0.1:"):
        block_of(local_trial(), max_cost_usd=0.05)


class RegionalBackend(FakeBackend):
    def __init__(self, region: str | None) -> None:
        super().__init__()
        self.region = region


def test_a_dollar_budget_in_a_region_without_list_prices_is_refused_at_submit_and_on_a_budget_change() -> None:
    """Before, such a job was accepted and budgeted at us-east-1's rates, which the region's
    may exceed, so ``max_cost_usd`` could be overspent; now the submit names the region and the fix."""
    service = TuningService(SQLiteStore(), {"sagemaker": RegionalBackend("ap-south-1")}, FakeOrchestrator())
    capped = parse_spec(spec_document(trial=sagemaker_block(), budget={"max_trials": 4, "max_cost_usd": 50}))
    message = (
        r"^budget.max_cost_usd: no list prices for region ap-south-1 "
        r"\(the table has us-east-1, .*: set trial.cost_per_hour"
    )
    with pytest.raises(SpecError, match=message):
        service.submit(capped, job_id="capped")
    assert service.store.list_jobs() == []
    own = parse_spec(
        spec_document(trial=sagemaker_block(cost_per_hour=0.3), budget={"max_trials": 4, "max_cost_usd": 50})
    )
    service.create_job(own, job_id="own")  # the block's own rate: no table needed
    uncapped = service.create_job(parse_spec(spec_document(trial=sagemaker_block())), job_id="uncapped")
    with pytest.raises(SpecError, match="no list prices for region ap-south-1"):
        service.update_budget(uncapped.id, BudgetUpdate(max_cost_usd=50))
    assert service.store.get_job("uncapped").spec.budget.max_cost_usd is None
    listed = TuningService(SQLiteStore(), {"sagemaker": RegionalBackend("us-west-2")}, FakeOrchestrator())
    listed.create_job(capped, job_id="listed")


def test_without_a_dollar_budget_a_region_without_list_prices_is_priced_at_the_fallback_naming_it() -> None:
    estimate = ec2_rate(None, 2, "ap-south-1")
    assert estimate is not None and estimate.usd_per_hour == pytest.approx(2 * 0.048)
    assert "ap-south-1 not in the table" in estimate.basis


# ---- budget ---------------------------------------------------------------------------


@pytest.fixture
def parts() -> tuple[TuningService, FakeBackend, Clock]:
    backend, clock = FakeBackend(), Clock()
    return TuningService(SQLiteStore(clock=clock), {"local": backend}, FakeOrchestrator()), backend, clock


def local_trial(**overrides: Any) -> dict[str, Any]:
    return {**spec_document()["trial"], "cost_per_hour": 3.6, "timeout_seconds": 100, **overrides}


def submit(service: TuningService, max_cost_usd: float, max_parallel: int = 4, **trial: Any) -> Job:
    document = spec_document(
        trial=local_trial(**trial),
        budget={"max_trials": 50, "max_parallel": max_parallel, "max_cost_usd": max_cost_usd},
    )
    return service.submit(parse_spec(document), job_id="job")


def end(service: TuningService, trial_id: str, seconds: float, loss: float = 0.5) -> None:
    usage = Usage(seconds=seconds, platform="local")
    result = TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": loss}, usage=usage)
    assert service.collect(result)


def launch_all(service: TuningService, plan_ids: list[str]) -> None:
    from hyperstep.messages import LaunchRequest

    for trial_id in plan_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))


def test_first_trials_are_estimated_at_their_most_then_at_the_running_average(parts) -> None:
    service, _, _ = parts
    submit(service, max_cost_usd=0.25)  # $3.6/h: at most 100 s, $0.10 a trial
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert len(plan.trial_ids) == 2  # $0.25 covers two trials at their most, not max_parallel's four
    launch_all(service, plan.trial_ids)
    end(service, plan.trial_ids[0], seconds=10)  # cost $0.01
    trial = service.store.get_trial("job", plan.trial_ids[0])
    assert trial.cost_usd == pytest.approx(0.01) and trial.billable_seconds == 10
    assert "cost_per_hour" in (trial.cost_basis or "")
    assert service.store.get_job("job").cost_usd == pytest.approx(0.01)
    # left: 0.25 - 0.01 spent - 1 running x 0.01 (the average) = 0.23: 23 more, max_parallel allows 3
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0003", "t0004", "t0005"]


def test_no_trial_starts_that_the_rest_cannot_cover_and_the_job_says_why_it_stopped(parts) -> None:
    service, _, _ = parts
    submit(service, max_cost_usd=0.15, max_parallel=4)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0001"]  # $0.15 covers one trial at its most ($0.10), not two
    launch_all(service, plan.trial_ids)
    end(service, "t0001", seconds=90)  # $0.09: $0.06 left, less than the average
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == [] and plan.done
    assert plan.reason == "max_cost_usd 0.15 reached: $0.09 spent; a trial costs about $0.09"
    summary = service.finish(FinishRequest(job_id="job"))
    assert (summary["stop_reason"], summary["stop_detail"]) == (StopReason.MAX_COST.value, plan.reason)


def test_affordable_counts_running_trials_at_the_estimate() -> None:
    document = spec_document(trial=local_trial(), budget={"max_trials": 50, "max_parallel": 8, "max_cost_usd": 1.0})
    job = Job(id="j", spec=parse_spec(document))
    assert budget.affordable(job, Snapshot(), None) == 10  # $0.10 at most each
    assert budget.affordable(job.model_copy(update={"spec": parse_spec(spec_document())}), Snapshot(), None) is None


def test_a_trial_without_usage_is_charged_from_the_backend_record_else_its_wall_time(parts) -> None:
    service, backend, clock = parts
    submit(service, max_cost_usd=10)
    plan = service.suggest(SuggestRequest(job_id="job"))
    launch_all(service, plan.trial_ids[:2])
    clock.now += 50
    backend.usage = lambda job, trial: Usage(seconds=20) if trial.id == "t0001" else None  # type: ignore[method-assign]
    for trial_id in ("t0001", "t0002"):
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 1.0}))
    assert service.store.get_trial("job", "t0001").billable_seconds == 20
    assert service.store.get_trial("job", "t0002").billable_seconds == pytest.approx(50)
    assert service.store.get_job("job").cost_usd == pytest.approx(3.6 * 70 / 3600)


def test_a_charge_is_never_negative() -> None:
    with pytest.raises(ValueError):
        Charge(cost_usd=-1.0)


def test_the_progress_line_and_validate_show_the_dollar_budget(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = spec_document(trial=local_trial(), budget={"max_trials": 4, "max_parallel": 2, "max_cost_usd": 2})
    job = Job(id="j", spec=parse_spec(document))
    ended = Trial(job_id="j", id="t0001", number=1, params={}, state=TrialState.COMPLETED, value=1.0, cost_usd=0.25)
    assert " · $0.25 of $2 · best " in progress_line(job, [ended])
    assert "$" not in progress_line(Job(id="j", spec=parse_spec(spec_document())), [])
    (workdir / "spec.yaml").write_text(yaml.safe_dump(document))
    assert main(["validate", str(workdir / "spec.yaml")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("4 trials, 2 in parallel, at most $2")
