"""List prices hyperstep prices trials with: on-demand, USD per hour, Linux, no tax.

Written on ``PRICES_DATE`` for the pages in ``SOURCES``, then checked against what could be
found of them without AWS access (2026-11-30, through stored copies of public pages): each
value's comment says what confirms it, and "unconfirmed" where nothing did. AWS's SageMaker
and Fargate pricing pages draw their rate tables with JavaScript, so their stored text holds
no instance rates; no value was changed by the check (none found contradicted), and the
three US regions sharing one price is itself unconfirmed (nothing found lists us-east-2's or
us-west-2's rates). Prices change and differ by region: a job with a dollar budget in a
region missing here is refused unless its block gives ``cost_per_hour`` (``check_listed``);
any other is priced at ``FALLBACK_REGION``'s list price (the trial's ``cost_basis`` says
so), and a trial block's ``cost_per_hour`` overrides the table for prices of your own
(another region, a savings plan, a private rate). Refresh with the AWS Price List API
(``aws pricing get-products --service-code AmazonSageMaker`` / ``AmazonECS`` / ``AmazonEC2``).
"""

from __future__ import annotations

PRICES_DATE = "2026-11-30"
SOURCES = {
    "sagemaker": "https://aws.amazon.com/sagemaker/pricing/",
    "fargate": "https://aws.amazon.com/fargate/pricing/",
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
}
FALLBACK_REGION = "us-east-1"
US_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
"""The three US regions are taken to list these instance types and Fargate at one price (unconfirmed)."""

_SAGEMAKER_TRAINING_US = {  # every rate unconfirmed: no stored AWS text lists SageMaker training rates
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.m5.12xlarge": 2.765,
    "ml.m4.xlarge": 0.24,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.c5.4xlarge": 0.816,
    "ml.c5.9xlarge": 1.836,
    "ml.g4dn.xlarge": 0.736,
    "ml.g4dn.2xlarge": 0.94,
    "ml.g4dn.4xlarge": 1.505,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.p3.2xlarge": 3.825,
    "ml.p3.8xlarge": 14.688,
}
"""SageMaker training, per instance-hour (managed spot is billed at the same rate for
fewer seconds: ``BillableTimeInSeconds`` already has the savings taken off)."""

_EC2_US = {  # rates without a comment: unconfirmed
    "m5.large": 0.096,  # unconfirmed
    "m5.xlarge": 0.192,  # us-east-1, third party only: https://npblue.com/cloud/aws/ec2-pricing-models/
    "m5.2xlarge": 0.384,
    "m5.4xlarge": 0.768,
    "c5.large": 0.085,
    "c5.xlarge": 0.17,
    "c5.2xlarge": 0.34,  # us-east-1 per AWS's example table (marked "example pricing and not current pricing"):
    # https://docs.amazonaws.cn/en_us/autoscaling/ec2/userguide/weights-spot-price-per-unit-hour-example.html
    "c5.4xlarge": 0.68,  # the same AWS example table
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "p3.2xlarge": 3.06,
}

SAGEMAKER_TRAINING: dict[str, dict[str, float]] = {region: _SAGEMAKER_TRAINING_US for region in US_REGIONS}
EC2: dict[str, dict[str, float]] = {region: _EC2_US for region in US_REGIONS}
FARGATE: dict[str, dict[str, float]] = {region: {"vcpu_hour": 0.04048, "gb_hour": 0.004445} for region in US_REGIONS}
# vcpu_hour, us-east-1: AWS's ECS pricing page's example, "$0.000011244 per vCPU second" (x 3600 = 0.0404784),
#   https://aws.amazon.com/ecs/pricing/ as transcribed on 2026-09-20 in
#   https://github.com/api-evangelist/amazon-ecs/blob/main/plans/amazon-ecs-plans-pricing.yml
# gb_hour, us-east-1: third parties quoting https://aws.amazon.com/fargate/pricing/ (https://www.vantage.sh/blog/fargate-pricing,
#   https://www.factualminds.com/blog/amazon-fargate-ecs-task-pricing-2026/, both $0.04048 and $0.004445)
# us-east-2 and us-west-2: unconfirmed
"""Fargate Linux/x86: per vCPU-hour and per GB-hour of memory, billed per second with a
one-minute minimum (``FARGATE_MINIMUM_SECONDS``)."""
FARGATE_ARM64: dict[str, dict[str, float]] = {
    region: {"vcpu_hour": 0.03238, "gb_hour": 0.00356} for region in US_REGIONS
}
# us-east-1: a third party quoting https://aws.amazon.com/fargate/pricing/ (https://www.vantage.sh/blog/fargate-pricing,
#   "Linux/ARM $0.03238 [per vCPU-hour] $0.00356 [per GB-hour]"); us-east-2 and us-west-2: unconfirmed
"""Fargate Linux/ARM (a job whose ``runtimePlatform.cpuArchitecture`` is ARM64), as ``FARGATE``."""
FARGATE_MINIMUM_SECONDS = 60.0
EC2_VCPU_HOUR: dict[str, float] = {region: 0.048 for region in US_REGIONS}
"""A Batch job on EC2 whose instance type is unknown: its vCPUs at m5's rate per vCPU
(m5.large, 2 vCPUs, $0.096/h); the instance it shares may cost more or less."""
