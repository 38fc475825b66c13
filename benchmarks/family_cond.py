"""family3-wine written as README documents a model choice (cond-26): each model's own parameter carries
``when: {model: [<model>]}``, so a trial sets only its model's. The fifth held-out set (``heldout5``) flagged
hyperstep behind Optuna TPE on the flattened form; this measures the conditional form in the same harness
(``heldout4``: 48 x 4, seeds 250-254, the same scoring and flag rule). Optuna TPE samples it define-by-run
(``optimizers.define_by_run``). ``report`` also scores the conditional runs beside the flattened runs of
``results/o25_heldout5.json`` on one objective (the same loss function). Plan: benchmarks/README.md, 2l.

    nice -n 19 .venv/bin/python -m benchmarks.family_cond run --out /tmp/c26/a.jsonl --seeds 250 251
    .venv/bin/python -m benchmarks.family_cond report /tmp/c26/*.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import heldout4, reporting, scoring
from benchmarks.broad_problems import Problem, _space
from benchmarks.heldout5_problems import family
from benchmarks.small_budget import load, run_report_parser

FLATTENED = Path(__file__).resolve().parent / "results" / "o25_heldout5.json"
"""The registered flattened runs (opt-25) the conditional form is set beside."""


def problems() -> dict[str, Problem]:
    space = _space(
        [{"name": "model", "type": "categorical", "choices": ["lda", "qda", "gnb"]}],
        [{"name": "shrinkage", "type": "float", "low": 0.0, "high": 1.0, "when": {"model": ["lda"]}}],
        [{"name": "reg_param", "type": "float", "low": 0.0, "high": 1.0, "when": {"model": ["qda"]}}],
        [
            {
                "name": "var_smoothing",
                "type": "float",
                "low": 1e-12,
                "high": 1.0,
                "scale": "log",
                "when": {"model": ["gnb"]},
            }
        ],
    )
    return {"family3-wine-cond": Problem("family3-wine-cond", "sklearn", space, family)}


CONDITIONAL = heldout4.HeldOut(
    "family3-wine, conditional (cond-26)",
    "benchmarks/README.md, 2l",
    problems,
    {"sklearn": ["family3-wine-cond"]},
    (),
    seeds=tuple(range(250, 255)),
    budgets={48: 4},
)


def beside_flattened(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The conditional runs and the flattened ones as six methods on one objective, over the seeds both
    finished; random search on the flattened form is the baseline, as it was in the registered score."""
    flat = [d for d in json.loads(FLATTENED.read_text())["runs"] if d["problem"] == "family3-wine"]
    runs = {(f"{d['method']} (flat)", d["seed"]): d for d in flat if d["method"] in heldout4.MAIN and d["trials"] == 48}
    runs |= {(f"{d['method']} (cond)", d["seed"]): d for d in lines}
    methods = sorted({m for m, _ in runs})
    seeds = [s for s in CONDITIONAL.seeds if all((m, s) in runs for m in methods)]
    if not seeds:
        return {}
    losses = {m: np.array([runs[(m, s)]["losses"] for s in seeds], dtype=float).reshape(-1, 12, 4) for m in methods}
    scored = scoring.score({"family3-wine": losses}, random_method="random (flat)")["normalized"]
    best = {m: np.nanmin(a.reshape(len(seeds), -1), axis=1).tolist() for m, a in losses.items()}
    return {"seeds": seeds, "normalized": scored, "final_best": best}


def where(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Where each run's trials went: how many on each model, and QDA's ``reg_param`` values in order."""
    out = {}
    for d in lines:
        models = [p["model"] for p in d["params"]]
        qda = [round(p["reg_param"], 3) for p in d["params"] if p["model"] == "qda"]
        out[f"{d['method']} {d['seed']}"] = {m: models.count(m) for m in ("lda", "qda", "gnb")} | {"reg_param": qda}
    return out


def recording(calls: list[dict[str, Any]]) -> Callable[[dict[str, Any]], float]:
    """``family``, appending each configuration it is called with to ``calls``."""

    def recorded(params: dict[str, Any]) -> float:
        calls.append(dict(params))
        return family(params)

    return recorded


def run(args: argparse.Namespace) -> None:
    """``heldout4.run_one`` of every method and seed, each line with the parameters of its trials (where
    they went). ``run_one`` evaluates each trial twice (its true and its seen loss; no noise here), so
    every second call is kept."""
    problem = problems()["family3-wine-cond"]
    with Path(args.out).open("a") as out:
        for seed in args.seeds:
            for method in heldout4.MAIN:
                calls: list[dict[str, Any]] = []
                traced = dataclasses.replace(problem, f=recording(calls))
                line = heldout4.run_one(traced, method, seed, 48, 4, CONDITIONAL)
                assert len(calls) == 2 * 48 and calls[::2] == calls[1::2]
                out.write(json.dumps(line | {"params": calls[::2]}) + "\n")
                out.flush()
                print(
                    f"{method:11s} seed {seed} best {np.nanmin(line['losses']):.4f} {line['seconds']:.1f} s", flush=True
                )


def main(argv: list[str] | None = None) -> None:
    parser, _ = run_report_parser(__doc__, list(problems()), CONDITIONAL.seeds, "c26_family_cond")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
        return
    heldout4.report(args, CONDITIONAL)
    lines = load(args.files)
    data = {"beside_flattened": beside_flattened(lines), "where": where(lines)}
    text = json.dumps(data, indent=1)
    reporting.write(f"{args.name}_beside", f"```json\n{text}\n```\n", data)
    print(text)


if __name__ == "__main__":
    main()
