"""What orchestrating one trial costs on AWS, measured on a whole job under the moto harness.

    .venv/bin/python -m benchmarks.orchestration_cost [--trials 40] [--parallel 4] [--mode staggered]

A SageMaker job runs through ``tuning.asl.json`` in moto's Step Functions engine with the
real handlers (``tests/integration/moto_harness.py``); the test's training platform ends
the trials with AWS-shaped events. ``staggered`` ends one trial per wake (trials that
finish at different times: the most rounds of the loop, the honest worst case);
``batched`` ends every launched trial at once. The meters (``cost_meters.py``) count state
transitions, Lambda invocations and billed duration per function (memory from
``template.yaml``), DynamoDB request units and custom events; prices turn them into
dollars per 1,000 trials. Training itself (SageMaker instances) is not orchestration
and is left out, as are per-deployment costs (the reaper's schedule, logs, X-Ray).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.cost_meters import DynamoDBMeter, EventsMeter, LambdaMeter, transitions
from benchmarks.reporting import machine, table
from hyperstep.spec import parse_spec
from tests.integration.moto_harness import REPO, MotoStack, moto_stack
from tests.integration.moto_platform import TrainingPlatform
from tests.integration.test_moto_tuning_job import PARAMETERS, SAGEMAKER_BLOCK, val_loss

RESULT = Path(__file__).resolve().parent / "results" / "orchestration_cost.md"
TARGET = 0.25  # dollars per 1,000 trials
HISTORY_LIMIT = 25_000  # events in one Standard execution's history
PRICES = {  # us-east-1 list prices
    "transition": 0.025 / 1000,  # Step Functions Standard, per state transition
    "lambda_request": 0.20 / 1e6,  # per request (x86 and arm64 alike)
    "lambda_gb_second": 0.0000133334,  # arm64, first 7.5 billion GB-s a month
    "write_unit": 0.625 / 1e6,  # DynamoDB on-demand write request unit
    "read_unit": 0.125 / 1e6,  # DynamoDB on-demand read request unit
    "custom_event": 1.00 / 1e6,  # EventBridge PutEvents entry (AWS service events are free)
}
SOURCES = [
    "Step Functions: https://aws.amazon.com/step-functions/pricing/ ($0.0250 per 1,000 state transitions in "
    "US East (N. Virginia); each retry is an additional transition); inline Map iterations run in the "
    "parent execution, their states entered like any other (https://docs.aws.amazon.com/step-functions/latest/dg/"
    "concepts-asl-use-map-state-inline.html)",
    "Lambda: https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests; Arm $0.0000133334 per GB-s for the "
    "first 7.5 billion GB-s, as also listed at https://cloudchipr.com/blog/aws-lambda-pricing); duration rounded "
    "up to 1 ms",
    "DynamoDB: https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/dynamodb.html (units: 1 KB "
    "per write unit, 4 KB per strongly consistent read unit, transactional writes 2 units); on-demand prices "
    "after the November 2024 reduction ($0.625 per million WRU, $0.125 per million RRU) as listed at "
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    "EventBridge: https://aws.amazon.com/eventbridge/pricing/ (custom events $1.00 per million; events AWS "
    "services send to the default bus are free)",
]


class _CfnLoader(yaml.SafeLoader):
    """Reads a CloudFormation template, keeping ``!Ref``-style tags as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def memory_sizes(template: Path = REPO / "template.yaml") -> dict[str, int]:
    """MemorySize of each handler (``SuggestFunction`` → ``suggest``) from the SAM template."""
    document = yaml.load(template.read_text(), Loader=_CfnLoader)
    default = document.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    sizes = {}
    for name, resource in document["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function" and name.endswith("Function"):
            sizes[name.removesuffix("Function").lower()] = resource.get("Properties", {}).get("MemorySize", default)
    return sizes


@dataclass
class Measurement:
    trials: int
    seconds: float
    transitions: dict[str, int]
    history_events: int
    lambdas: LambdaMeter
    dynamodb: DynamoDBMeter
    events: EventsMeter
    memory: dict[str, int]


def _parked(stack: MotoStack, execution_arn: str, waits: int) -> bool:
    """Whether the execution has parked its token more than ``waits`` times, or ended."""
    if stack.status(execution_arn)["status"] != "RUNNING":
        return True
    return sum(e["type"] == "TaskSubmitted" for e in stack.history(execution_arn)) > waits


def _staggered(stack: MotoStack, platform: TrainingPlatform, execution_arn: str, seconds: float) -> None:
    """End one trial per wake of the execution, as trials finishing at different times do."""
    deadline, queue, waits = time.monotonic() + seconds, [], 0
    while stack.status(execution_arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish in time"
        queue += platform.new_jobs()
        if queue and _parked(stack, execution_arn, waits):
            waits += 1
            for event in queue.pop(0).events:
                assert platform.deliver(event) == {"recorded": True}
        time.sleep(0.02)


def job_document(name: str, trials: int, parallel: int) -> dict[str, Any]:
    """The metered job: random search over the moto tests' SageMaker trial."""
    return {
        "name": name,
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "random", "seed": 3},
        "budget": {"max_trials": trials, "max_parallel": parallel},
        "trial": SAGEMAKER_BLOCK,
    }


def run(trials: int, parallel: int, mode: str) -> Measurement:
    """One SageMaker job of ``trials`` trials under the moto harness, metered."""
    lambdas, dynamodb, events, memory = LambdaMeter(), DynamoDBMeter(), EventsMeter(), memory_sizes()
    document = job_document("cost", trials, parallel)
    with moto_stack(on_invoke=lambdas, memory=memory) as stack:
        dynamodb.install(stack.session)
        events.install(stack.session)
        started = time.perf_counter()
        job = stack.service.submit(parse_spec(document))
        assert job.execution_id is not None
        platform = TrainingPlatform(stack, job.id, "sagemaker", val_loss, "val_loss")
        if mode == "staggered":
            _staggered(stack, platform, job.execution_id, seconds=30 + 5 * trials)
        else:
            platform.run(job.execution_id, seconds=30 + 5 * trials)
        description = stack.wait_until_done(job.execution_id)
        assert description["status"] == "SUCCEEDED", description
        elapsed = time.perf_counter() - started
        final = stack.service.store.get_job(job.id)
        assert final.completed == trials, final
        history = stack.history(job.execution_id)
    return Measurement(trials, elapsed, dict(transitions(history)), len(history), lambdas, dynamodb, events, memory)


def cost_rows(m: Measurement) -> tuple[list[list[Any]], float]:
    """Rows (item, count per trial, $ per 1,000 trials) and the total $ per 1,000 trials."""
    per_k = 1000 / m.trials
    rows: list[list[Any]] = []

    def add(item: str, count: float, dollars: float) -> None:
        rows.append([item, f"{count / m.trials:.2f}", f"{dollars * per_k:.4f}"])

    for state, n in sorted(m.transitions.items(), key=lambda kv: -kv[1]):
        add(f"transition: {state}", n, n * PRICES["transition"])
    for function, usage in sorted(m.lambdas.usage.items()):
        gb_s = usage.billed_ms / 1000 * m.memory.get(function, 512) / 1024
        add(f"Lambda requests: {function}", usage.invocations, usage.invocations * PRICES["lambda_request"])
        add(
            f"Lambda GB-s: {function} ({m.memory.get(function, 512)} MB, "
            f"{usage.seconds / max(usage.invocations, 1) * 1000:.0f} ms avg)",
            gb_s,
            gb_s * PRICES["lambda_gb_second"],
        )
    wru, rru = sum(m.dynamodb.usage.write_units.values()), sum(m.dynamodb.usage.read_units.values())
    add("DynamoDB write request units", wru, wru * PRICES["write_unit"])
    add("DynamoDB read request units", rru, rru * PRICES["read_unit"])
    custom = sum(m.events.entries.values())
    add("EventBridge custom events (PutEvents entries)", custom, custom * PRICES["custom_event"])
    total = sum(float(row[2]) for row in rows)
    return rows, total


def dynamodb_rows(m: Measurement) -> list[list[Any]]:
    u, per = m.dynamodb.usage, 1 / m.trials
    return [
        [fn, op, f"{n * per:.2f}", f"{u.write_units[(fn, op)] * per:.2f}", f"{u.read_units[(fn, op)] * per:.2f}"]
        for (fn, op), n in sorted(u.calls.items())
    ]


NOTES = [
    "Step Functions transitions dominate: 2 per trial when trials end one at a time (each result wakes "
    "the loop: Suggest Trials, which launches and waits for its task token, and Job Done?), fewer when "
    "results arrive together (the loop then launches several trials per round). Before issue 13 it was ~6: "
    "Launch Trials, a Launch Trial per trial, Budget Left? and Wait For Results came on top.",
    "Lambda durations are measured in-process against moto on a shared 2-core machine (first calls include "
    "building boto3 clients; init phases of real cold starts are not counted).",
    "DynamoDB units come from moto's item sizes: a trial item is just over 1 KB, so ending a trial "
    "(one TransactWriteItems of trial and job) costs 6 write units. Suggest reads what changed since its "
    "last round (the trials that ended, from the ids Collect keeps on the job item), not the whole job: "
    "`benchmarks.scale --engine service` measured 12.0 read units per trial at 100 trials and at 1,000.",
    "Not counted (per deployment or per job, not per trial): the API call and start function per job, "
    "the reaper's schedule, CloudWatch Logs, X-Ray traces (Tracing: Active) and Powertools' EMF metrics. "
    "A Batch trial adds one collect invocation and one custom PutEvents entry (the Trial Metric Reported "
    "event): about $0.0012 more per 1,000 trials.",
    "History: a Standard execution fails once its history passes 25,000 events (the limit the inline Map "
    "page cites: https://docs.aws.amazon.com/step-functions/latest/dg/concepts-asl-use-map-state-inline.html); "
    "Suggest counts this execution's history (14 events a round) and past 10,000 hands the job "
    "to a new execution (service.HANDOFF_EVENTS), so a job of any length stays under the quota; each "
    "hand-over costs about 3 transitions (Begin, Job Done?, Handed Over).",
]


def report(runs: list[tuple[str, Measurement]], command: str) -> str:
    lines = ["# Orchestration cost per trial", "", f"Command: `{command}`", ""]
    info = machine()
    lines += [f"Measured {info['date_utc']} on {info['cpus']} CPUs (Python {info['python']}), moto harness.", ""]
    for mode, m in runs:
        rows, total = cost_rows(m)
        verdict = "meets" if total <= TARGET else "misses"
        moves, entries = sum(m.transitions.values()) / m.trials, m.history_events / m.trials
        lines += [
            f"## {mode}: {m.trials} trials, SageMaker backend ({m.seconds:.0f} s under moto)",
            "",
            f"**${total:.4f} per 1,000 trials** ({verdict} the ${TARGET:.2f} target); "
            f"{moves:.2f} state transitions and {entries:.1f} history events per trial (one execution holds "
            f"at most {HISTORY_LIMIT:,} events: about {int(HISTORY_LIMIT / entries):,} trials at this rate "
            "before the hand-over to a new execution).",
            "",
            table(["item", "per trial", "$ per 1,000 trials"], rows),
            "",
            "DynamoDB calls per trial by handler:",
            "",
            table(["function", "operation", "calls", "write units", "read units"], dynamodb_rows(m)),
            "",
        ]
    lines += ["## Reading", ""] + [f"- {note}" for note in NOTES] + [""]
    lines += ["## Prices (us-east-1)", ""] + [f"- {source}" for source in SOURCES] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--mode", choices=("staggered", "batched", "both"), default="both")
    args = parser.parse_args(argv)
    modes = ("staggered", "batched") if args.mode == "both" else (args.mode,)
    runs = [(mode, run(args.trials, args.parallel, mode)) for mode in modes]
    given = sys.argv[1:] if argv is None else argv
    text = report(runs, " ".join([".venv/bin/python -m benchmarks.orchestration_cost", *given]))
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
