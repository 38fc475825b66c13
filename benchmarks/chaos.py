"""The fault-injection run anyone can repeat: 1,000 trials under moto while AWS misbehaves.

    make chaos
    .venv/bin/python -m benchmarks.chaos [--trials 1000] [--parallel 25] [--seed 0]

One SageMaker job and one Batch job of ``trials / 2`` trials each run through the real state
machine and handlers in moto (``tests/integration/chaos.py``) while 30% of result and metric
events come twice, 20% come late (behind later events), 10% never come (the reaper recovers
them), 10% of trials fail, 5% of launches are throttled past the SDK's retries, and 5% of Task
invocations lose their response after the handler ran (Step Functions runs them again).

Prints the four figures that must be 0 (trials lost, counted twice, budget overrun, stuck
executions), the wall time and the counts; writes ``benchmarks/results/chaos.md`` (with each
finding's trial and event log) and ``chaos.json``; exits 1 if any figure is not 0. The
services' own log lines go to ``benchmarks/results/chaos.log`` (not kept in git).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import warnings
from collections import Counter

from benchmarks.reporting import RESULTS, commit, machine, table
from tests.integration.chaos import ChaosConfig, ChaosResult, run_chaos
from tests.integration.chaos_audit import Finding

SHOWN = 3
"""Findings per figure printed with their event logs (all of them go to the markdown file)."""


def headline(result: ChaosResult) -> list[str]:
    c = result.config
    per = result.counts["trials"]
    lines = [
        f"hyperstep fault-injection run: {c.trials} trials ({per['sagemaker']} SageMaker, {per['batch']} Batch), "
        f"max_parallel {c.parallel} each, seed {c.seed}",
    ]
    lines += [f"{name}: {value}" for name, value in result.figures.items()]
    lines.append(f"wall time: {result.wall_seconds:.0f} s")
    return lines


def count_lines(result: ChaosResult) -> list[str]:
    k = result.counts
    events, f = k["events"], result.config.faults
    return [
        f"events: {events.get('emitted', 0)} emitted, {events.get('duplicated', 0)} duplicated "
        f"({f.duplicate:.0%}), {events.get('reordered', 0)} late ({f.reorder:.0%}), {events.get('lost', 0)} lost "
        f"({f.lose:.0%}); {events.get('delivered', 0)} deliveries to collect",
        f"trials: {k['trial_states']}; scripts that fail: {k['failing_scripts']} ({f.fail:.0%})",
        f"launches throttled past the SDK's retries: {k['throttled_launches']} ({f.throttle:.0%}; "
        f"refused requests {k['throttled_requests']})",
        f"Task responses lost after the handler ran ({f.retried_task:.0%}): {k['task_responses_lost']} "
        f"of {k['task_invocations']}",
        f"reaper: {k['reaper']}; longest event lag {k['max_event_lag_seconds']} s "
        f"(grace {result.config.grace_seconds} s)",
        f"peak running training jobs: {k['peak_running']} (max_parallel {result.config.parallel}); "
        f"executions: {k['executions']}; ticks: {k['ticks']}",
    ]


def finding_text(finding: Finding) -> list[str]:
    lines = [
        f"- **{finding.figure}** ({finding.kind}), {finding.backend} {finding.trial}: expected {finding.expected}; "
        f"recorded {finding.recorded}"
    ]
    return lines + [f"    - {event}" for event in finding.events]


def kinds(result: ChaosResult) -> list[str]:
    """A table of the findings by figure, backend and kind."""
    counted = Counter((f.figure, f.backend, f.kind) for f in result.findings)
    rows = [[figure, backend, kind, str(n)] for (figure, backend, kind), n in sorted(counted.items())]
    return table(["figure", "backend", "kind", "findings"], rows).splitlines() if rows else ["None."]


def markdown(result: ChaosResult, command: str, measured: str) -> str:
    info = machine()
    lines = ["# Fault-injection run", "", f"Command: `{command}`", ""]
    lines += [
        f"Measured {info['date_utc']} at commit {measured} on {info['cpus']} CPUs (load average "
        f"{info['load_average_1m']}, Python {info['python']}), moto harness.",
        "",
    ]
    lines += ["```", *headline(result), "```", "", "## Counts", ""]
    lines += [f"- {line}" for line in count_lines(result)]
    lines += ["", "## Findings by kind", "", *kinds(result), "", "## Findings", ""]
    lines += [line for finding in result.findings for line in finding_text(finding)] or ["None."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grace", type=float, default=ChaosConfig.grace_seconds, help="the reaper's grace (s)")
    parser.add_argument("--out", default="chaos", help="results file name (without extension)")
    args = parser.parse_args(argv)
    config = ChaosConfig(trials=args.trials, parallel=args.parallel, seed=args.seed, grace_seconds=args.grace)
    RESULTS.mkdir(exist_ok=True)
    measured = commit()  # before the run: the code it runs
    log = (RESULTS / f"{args.out}.log").open("w")
    print(f"running {config.trials} trials; the services' logs go to {log.name}", file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.basicConfig(stream=log, level=logging.WARNING, force=True)
        result = run_chaos(config, progress=lambda text: print(text, file=sys.__stderr__, flush=True))
    log.close()
    given = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python -m benchmarks.chaos", *given])
    (RESULTS / f"{args.out}.md").write_text(markdown(result, command, measured))
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    print("\n".join(headline(result)))
    print("counts:\n" + "\n".join(f"  {line}" for line in count_lines(result)))
    print("findings by kind:\n" + "\n".join(kinds(result)))
    for figure in result.figures:
        for finding in [f for f in result.findings if f.figure == figure][:SHOWN]:
            print("\n".join(finding_text(finding)))
    print(f"results: {RESULTS / args.out}.md")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
