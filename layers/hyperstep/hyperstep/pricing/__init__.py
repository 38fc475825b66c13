"""What a trial costs: hourly rates from the dated list prices in ``prices``, and a trial's
cost from what it used (``messages.Usage``).

How each platform is priced (on-demand list prices, compute only: storage, data transfer,
logs and the orchestration's own Lambda and Step Functions charges are not counted):

- SageMaker training, on-demand and managed spot alike: ``BillableTimeInSeconds`` x
  ``InstanceCount`` x the instance type's on-demand rate. AWS documents the billable time
  as what it bills, and managed spot's savings as ``1 - BillableTimeInSeconds /
  TrainingTimeInSeconds``: the spot discount is already in the billable seconds.
- Batch on Fargate: the job's vCPUs x the vCPU-hour rate plus its memory (GB) x the
  GB-hour rate (Linux/ARM's for a job whose ``runtimePlatform.cpuArchitecture`` is ARM64,
  else Linux/x86's, AWS's default architecture), over its attempts' run time, each attempt (a Fargate task) per second
  rounded up with Fargate's one-minute minimum (``batch_usage`` counts them so).
- Batch on EC2: the instance type's rate when the trial block names it (``cost_per_hour``
  for any other), else the job's vCPUs at m5's rate per vCPU-hour (an estimate: Batch
  packs jobs onto instances it chooses).
- Local (and simulated) trials: the block's ``cost_per_hour`` x the trial's wall time.

A block's ``cost_per_hour`` overrides the table everywhere (per instance for SageMaker,
per job for Batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from hyperstep.pricing import prices

T = TypeVar("T")


@dataclass(frozen=True)
class Rate:
    """Dollars per hour and what they rest on (shown with each trial's cost)."""

    usd_per_hour: float
    basis: str

    def cost(self, seconds: float) -> float:
        return self.usd_per_hour * seconds / 3600.0


def _regional(table: dict[str, T], region: str | None) -> tuple[T, str]:
    """The region's prices and the label to show: another region's list price is named."""
    if region in table:
        return table[region], f"{region} list price {prices.PRICES_DATE}"
    label = f"{prices.FALLBACK_REGION} list price {prices.PRICES_DATE}"
    return table[prices.FALLBACK_REGION], label + (f", {region} not in the table" if region else "")


def check_listed(region: str | None) -> None:
    """Refuse (ValueError) a dollar budget priced from the table in a region it lacks: that
    region's list prices are unknown, and budgeting at ``FALLBACK_REGION``'s (lower than many
    regions') could let the job spend more than ``max_cost_usd``. A block's ``cost_per_hour``
    needs no table. Without a dollar budget such a region is priced at the fallback's, named
    in each trial's ``cost_basis``."""
    if region is not None and region not in prices.US_REGIONS:
        raise ValueError(
            f"budget.max_cost_usd: no list prices for region {region} (the table has "
            f"{', '.join(prices.US_REGIONS)}): set trial.cost_per_hour to price its trials"
        )


def unlisted_type(instance_type: str, per: str) -> ValueError:
    """The refusal of a dollar budget on an instance type the table lacks (priced at nothing, or
    below its price, it could let the job overspend): the block must give ``cost_per_hour``."""
    return ValueError(
        f"budget.max_cost_usd: trial.instance_type {instance_type} is not in hyperstep's price table"
        f" ({prices.PRICES_DATE}): set trial.cost_per_hour (dollars per hour{per})"
    )


def own_rate(cost_per_hour: float, unit: str) -> Rate:
    return Rate(cost_per_hour, f"${cost_per_hour:g}/h per {unit} (cost_per_hour)")


def sagemaker_rate(instance_type: str, count: int, region: str | None) -> Rate | None:
    """A training job's rate: ``count`` instances of ``instance_type``; None for a type not in the table."""
    table, label = _regional(prices.SAGEMAKER_TRAINING, region)
    hourly = table.get(instance_type)
    if hourly is None:
        return None
    return Rate(hourly * count, f"{count} x {instance_type} at ${hourly:g}/h ({label})")


def fargate_rate(vcpus: float, memory_mib: float, region: str | None, arm64: bool = False) -> Rate:
    """Linux/x86 rates, or Linux/ARM's for a task on ARM64 (Graviton)."""
    rates, label = _regional(prices.FARGATE_ARM64 if arm64 else prices.FARGATE, region)
    gb = memory_mib / 1024.0
    hourly = vcpus * rates["vcpu_hour"] + gb * rates["gb_hour"]
    kind = "Fargate ARM64" if arm64 else "Fargate"
    per = f"${rates['vcpu_hour']:g}/vCPU-h + ${rates['gb_hour']:g}/GB-h"
    basis = f"{kind} {vcpus:g} vCPU, {gb:g} GB at {per} ({label})"
    return Rate(hourly, basis)


def ec2_listed(instance_type: str) -> bool:
    """Whether the table has ``instance_type``'s EC2 rate (the same in each region it lists)."""
    return instance_type in prices.EC2[prices.FALLBACK_REGION]


def ec2_rate(instance_type: str | None, vcpus: float | None, region: str | None) -> Rate | None:
    """An EC2 instance type's rate when known, else ``vcpus`` at the per-vCPU estimate (which
    names an instance type the table lacks: its own rate may be many times the estimate)."""
    if instance_type is not None:
        table, label = _regional(prices.EC2, region)
        if instance_type in table:
            return Rate(table[instance_type], f"EC2 {instance_type} at ${table[instance_type]:g}/h ({label})")
    if vcpus is None:
        return None
    per_vcpu, label = _regional(prices.EC2_VCPU_HOUR, region)
    unlisted = "" if instance_type is None else f"{instance_type} is not in the price table; "
    basis = f"EC2 {vcpus:g} vCPU at ${per_vcpu:g}/vCPU-h (estimate: {unlisted}m5's rate per vCPU, {label})"
    return Rate(vcpus * per_vcpu, basis)
