"""Early stopping (issue 9): best value found against compute spent (the sum of steps run).

Every method runs one trial at a time through its own ask/report/tell (hyperstep's
``Study``, Optuna's ``study.ask``/``trial.report``/``should_prune``/``tell``; no state
machine) on the learning-curve problems of ``benchmarks.learning_curves``, with the same
compute budget: what full-fidelity Bayesian optimization spends on ``trials`` trials run
to ``max_resource``. A trial still running when the budget runs out stops there. The best
value found is the final value (at ``max_resource``) of the best trial that reached it.

Per problem it reports, as medians over seeds: the compute each multi-fidelity method
needed to reach full-fidelity Bayesian's final best (of the same seed; as a fraction of
the budget, ``-`` when it never did), and the best value at equal compute (the budget, and
a third of it). Then it checks issue 9's "Done when".

    python -m benchmarks.early_stopping             # 3 seeds, 50 full-fidelity trials' compute
    python -m benchmarks.early_stopping --quick     # 2 seeds, same budget
    python -m benchmarks.early_stopping --seeds 2 --trials 12 --stem early_stopping_12trials   # the first record

The budget is 50 full-fidelity trials (not 12, the first record's): a single Hyperband
bracket with eta 3 from 1 to 27 steps costs 4 full trials' steps and brings one trial to the
end, so at 12 trials "a third of the compute" was one bracket set against the best of 12
Bayesian trials. The papers that measure multi-fidelity speed-ups (Hyperband, BOHB, DEHB,
Syne Tune) give the methods tens to hundreds of full evaluations and read the speed-up off
anytime curves: the compute a method needs to reach full-fidelity BO's final value.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread a process: the learners are small, the cores shared

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402, F401  (loaded before a run: threadpool_limits limits only the libraries loaded)
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.es_candidates import (  # noqa: E402
    AuditedASHA,
    ClosingAuditASHA,
    ClosingAuditStudy,
    CostlyStopASHA,
    CostlyStopStudy,
    EvidenceASHA,
    EvidenceHyperband,
    FinalsAuditStudy,
    FinishedGuardASHA,
    FoundGainArmASHA,
    GainingArmASHA,
    NewBestAuditASHA,
    PayingArmASHA,
    PayingArmStudy,
    swapped,
)
from benchmarks.learning_curves import CurveProblem, Params, problems  # noqa: E402
from hyperstep.study import Study  # noqa: E402

ETA = 3
Trace = list[tuple[int, float]]
"""(compute spent, best final value so far) each time a trial reaches ``max_resource``."""


def one_blas_thread(run: Callable[..., Trace]) -> Callable[..., Trace]:
    """``run`` with one BLAS thread, whatever the environment or the import order set: the
    Bayesian proposals' last digits depend on the thread count (a script that imported numpy
    before this module, so with OpenBLAS's thread a core, ran H2 on gbm-cancer seed 43 to
    0.12514 where the harness gives 0.12296; det-28), and the stored numbers are one thread's."""

    def limited(*args: Any) -> Trace:
        with threadpool_limits(limits=1):
            return run(*args)

    return limited


def stopping(name: str, problem: CurveProblem, model_based: bool | None, **options: Any) -> dict[str, Any]:
    """The spec's ``early_stopping`` block; ``options`` add to it or override its defaults
    (``min_resource``, ``reduction_factor``: a grace period or gentler cuts, as a user would set).
    ``model_based`` None leaves it out: the issue's block as a user writes it, the rest the spec's defaults."""
    block = {"name": name, "min_resource": 1, "max_resource": problem.max_resource, "reduction_factor": ETA}
    return block | ({} if model_based is None else {"model_based": model_based}) | options


def hyperstep_method(
    strategy: str,
    scheduler: str | None,
    model_based: bool | None = False,
    study_class: type | None = None,
    **options: Any,
) -> Callable[..., Trace]:
    """``study_class``: a candidate's subclass of ``Study`` (``benchmarks.es_candidates``); None, ``Study``."""

    def run(problem: CurveProblem, budget: int, seed: int) -> Trace:
        early = None if scheduler is None else stopping(scheduler, problem, model_based, **options)
        study = (study_class or Study)(problem.space, strategy=strategy, seed=seed, early_stopping=early)
        spent, best, trace = 0, np.inf, []
        while spent < budget:
            trial = study.ask(1)[0]
            for step in range(1, problem.max_resource + 1):  # the loop: every step reported
                value = problem.value(trial.params, step)
                spent += 1
                stop = study.report(trial.id, step, value)
                if step == problem.max_resource:
                    study.tell(trial.id, value)
                    best = min(best, value)
                    trace.append((spent, best))
                elif stop or spent >= budget:
                    study.tell(trial.id, value, state="stopped")
                    break
        return trace

    return one_blas_thread(run)


def optuna_method(pruner_name: str) -> Callable[..., Trace]:
    def run(problem: CurveProblem, budget: int, seed: int) -> Trace:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if pruner_name == "sha":
            pruner: Any = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA)
        else:
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=problem.max_resource, reduction_factor=ETA
            )
        # HyperbandPruner draws a trial's bracket from the study's name (crc32 of name and trial
        # number): a fixed name per problem and seed makes a run repeatable, as the sampler's seed does.
        study = optuna.create_study(
            study_name=f"{problem.name}-{seed}", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner
        )
        spent, best, trace = 0, np.inf, []
        while spent < budget:
            trial = study.ask()
            params = suggest(trial, problem)
            for step in range(1, problem.max_resource + 1):
                value = problem.value(params, step)
                spent += 1
                if step == problem.max_resource:
                    study.tell(trial, value)
                    best = min(best, value)
                    trace.append((spent, best))
                    break
                trial.report(value, step)
                if trial.should_prune() or spent >= budget:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    break
        return trace

    return one_blas_thread(run)


def suggest(trial: Any, problem: CurveProblem) -> Params:
    """Optuna's draw of the problem's configuration."""
    out: Params = {}
    for p in problem.parameters:
        log = p.get("scale") == "log"
        if p["type"] == "categorical":
            out[p["name"]] = trial.suggest_categorical(p["name"], p["choices"])
        elif p["type"] == "int":
            out[p["name"]] = trial.suggest_int(p["name"], p["low"], p["high"], log=log)
        else:
            out[p["name"]] = trial.suggest_float(p["name"], p["low"], p["high"], log=log)
    return out


FULL = "full-fidelity bayesian"
METHODS: dict[str, Callable[..., Trace]] = {
    FULL: hyperstep_method("bayesian", None),
    "asha + random": hyperstep_method("random", "asha"),
    "asha + bayesian": hyperstep_method("bayesian", "asha"),
    "hyperband + bayesian": hyperstep_method("bayesian", "hyperband"),
    "model-based asha": hyperstep_method("bayesian", "asha", model_based=True),
    "model-based hyperband": hyperstep_method("bayesian", "hyperband", model_based=True),
    "joint-gp asha": hyperstep_method("bayesian", "asha", model_based=True, resource_model="gp"),
    "joint-gp hyperband": hyperstep_method("bayesian", "hyperband", model_based=True, resource_model="gp"),
    "model-based hyperband, adaptive brackets": hyperstep_method(
        "bayesian", "hyperband", model_based=True, brackets="adaptive"
    ),
    "joint-gp hyperband, adaptive brackets": hyperstep_method(
        "bayesian", "hyperband", model_based=True, resource_model="gp", brackets="adaptive"
    ),
    "hyperband + bayesian, adaptive brackets": hyperstep_method("bayesian", "hyperband", brackets="adaptive"),
    "model-based hyperband, uniform brackets": hyperstep_method(
        "bayesian", "hyperband", model_based=True, brackets="uniform"
    ),
    "model-based hyperband, no curve model": hyperstep_method(
        "bayesian", "hyperband", model_based=True, curve_model=False
    ),
    # scheduler levers (es-10a): the median stopping rule, and a grace period (min_resource 3:
    # rungs 3, 9, 27) or gentler cuts (reduction_factor 2) as spec options a user would set
    "median + bayesian": hyperstep_method("bayesian", "median"),
    "model-based median": hyperstep_method("bayesian", "median", model_based=True),
    "model-based asha, min_resource 3": hyperstep_method("bayesian", "asha", model_based=True, min_resource=3),
    "model-based hyperband, min_resource 3": hyperstep_method(
        "bayesian", "hyperband", model_based=True, min_resource=3
    ),
    "joint-gp hyperband, adaptive brackets, min_resource 3": hyperstep_method(
        "bayesian", "hyperband", model_based=True, resource_model="gp", brackets="adaptive", min_resource=3
    ),
    "model-based asha, eta 2": hyperstep_method("bayesian", "asha", model_based=True, reduction_factor=2),
    "model-based hyperband, eta 2": hyperstep_method("bayesian", "hyperband", model_based=True, reduction_factor=2),
    "model-based asha, min_resource 3, eta 2": hyperstep_method(
        "bayesian", "asha", model_based=True, min_resource=3, reduction_factor=2
    ),
    "model-based asha, min_resource 6, eta 2": hyperstep_method(
        "bayesian", "asha", model_based=True, min_resource=6, reduction_factor=2
    ),
    "model-based hyperband, min_resource 3, eta 2": hyperstep_method(
        "bayesian", "hyperband", model_based=True, min_resource=3, reduction_factor=2
    ),
    # round twelve: the block and strategy "bayesian", nothing else set (what a user gets)
    "asha, user defaults": hyperstep_method("bayesian", "asha", model_based=None),
    "hyperband, user defaults": hyperstep_method("bayesian", "hyperband", model_based=None),
    "median, user defaults": hyperstep_method("bayesian", "median", model_based=None),
    "optuna tpe + sha": optuna_method("sha"),
    "optuna tpe + hyperband": optuna_method("hyperband"),
    # round thirteen (es-22), pre-registered candidates: benchmarks.es_candidates
    "asha, audit trials": swapped(hyperstep_method("bayesian", "asha", model_based=None), "asha", AuditedASHA),
    "asha, audit trials, incumbent stop on evidence": swapped(
        hyperstep_method("bayesian", "asha", model_based=None), "asha", EvidenceASHA
    ),
    "asha, audit trials, incumbent stop on evidence, guard on finished trials": swapped(
        hyperstep_method("bayesian", "asha", model_based=None), "asha", FinishedGuardASHA
    ),
    "hyperband, incumbent stop on evidence": swapped(
        hyperstep_method("bayesian", "hyperband", model_based=None), "hyperband", EvidenceHyperband
    ),
    # round fourteen (es-23), pre-registered candidate D: C, and audit trials proposed from the finals alone
    "asha, audit trials from finals, incumbent stop on evidence, guard on finished trials": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=FinalsAuditStudy), "asha", FinishedGuardASHA
    ),
    # round fifteen (es-24), pre-registered candidate E: D until its audits show every rung right, then the product
    "asha, audit trials from finals until the rungs are shown right, then the product": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=ClosingAuditStudy), "asha", ClosingAuditASHA
    ),
    # round sixteen (es-25), pre-registered candidate F: full fidelity until no stop is shown costly, then the product
    "asha, audit every trial until no stop is shown costly, then the product": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=CostlyStopStudy), "asha", CostlyStopASHA
    ),
    # round seventeen (es-27), pre-registered candidate G: F's audits, cleared only by new bests the rank rule spares
    "asha, audit until new bests show the rank rule spares them, then the rank rule and a 1 in 8 audit share": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=CostlyStopStudy), "asha", NewBestAuditASHA
    ),
    # round eighteen (es-28), pre-registered candidate H: audits or the default's rule, by what each finds per step
    "asha, audits or the default's rule by a bandit on new bests per step": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=PayingArmStudy), "asha", PayingArmASHA
    ),
    # round nineteen (es-29), pre-registered candidate H2: H, each new best credited by its share of the descent
    "asha, audits or the default's rule by a bandit on the gain per step": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=PayingArmStudy), "asha", GainingArmASHA
    ),
    # round twenty (es-30), pre-registered candidate H3: H2, each new best's credit fixed when it is found
    "asha, audits or the default's rule by a bandit on the gain per step, credited when found": swapped(
        hyperstep_method("bayesian", "asha", model_based=None, study_class=PayingArmStudy), "asha", FoundGainArmASHA
    ),
}
OURS = [m for m in METHODS if m != FULL and not m.startswith("optuna")]
ABLATIONS = ["model-based hyperband, uniform brackets", "model-based hyperband, no curve model"]
USER_DEFAULTS = [m for m in METHODS if m.endswith("user defaults")]
"""The same runs as model-based ASHA, Hyperband and median (the spec's defaults are theirs:
``tests/unit/test_benchmarks.py``), named apart so a record says what a user gets."""
CANDIDATES = [m for m in METHODS if "audit" in m or "evidence" in m]
"""The pre-registered candidates of rounds thirteen to twenty (es-22 to es-30): run with ``--methods``,
not by default."""
LEVERS = [m for m in METHODS if ("median" in m or "min_resource" in m or "eta 2" in m) and m not in USER_DEFAULTS]
"""Scheduler levers being screened (es-10a): run with ``--methods``, not by default."""
DEFAULT = [m for m in METHODS if m not in ABLATIONS + LEVERS + USER_DEFAULTS + CANDIDATES]
"""The issue's methods, and hyperstep's model-based ASHA and Hyperband as configured by
default; the ablations run with ``--methods`` (the verdict takes the best of the hyperstep
methods run, so fewer configurations give it fewer chances)."""
OPTUNA = [m for m in METHODS if m.startswith("optuna")]


def best_at(trace: Trace, compute: float) -> float:
    """The best final value found within ``compute`` steps (inf before any trial completes)."""
    values = [best for spent, best in trace if spent <= compute]
    return values[-1] if values else np.inf


def compute_to_reach(trace: Trace, target: float) -> float:
    """The compute spent when the best final value first reached ``target`` (inf: never)."""
    return next((float(spent) for spent, best in trace if best <= target + 1e-12), np.inf)


def summarize(traces: dict[str, list[Trace]], budget: int) -> dict[str, dict[str, float]]:
    """Per method, medians over seeds: compute fraction to reach full fidelity's final best
    (of the same seed), best value at the budget and at a third of it; and, seed by seed (in the
    seeds' order), the best at the budget and the compute fraction to reach (``inf``: never)."""
    targets = [best_at(t, budget) for t in traces[FULL]]
    out = {}
    for method, runs in traces.items():
        reach = [compute_to_reach(t, target) / budget for t, target in zip(runs, targets)]
        bests = [best_at(t, budget) for t in runs]
        out[method] = {
            "reach": float(np.median(reach)),
            "best": float(np.median(bests)),
            "best_third": float(np.median([best_at(t, budget / 3) for t in runs])),
            "best_seeds": [float(b) for b in bests],
            "reach_seeds": reach,
        }
    return out


def curve_reach(curves: dict[str, tuple[list[float], list[float]]]) -> dict[str, float]:
    """Per method, the compute fraction at which its median anytime curve first reaches
    the final value of full fidelity's median curve (inf: never): the speed-up as the
    Hyperband and BOHB papers read it off their curves. Added after the per-seed *reach*
    of the first runs was seen (a second reading, not the verdict's)."""
    target = curves[FULL][1][-1]
    return {
        method: next((x for x, y in zip(xs, ys) if y <= target + 1e-12), np.inf) for method, (xs, ys) in curves.items()
    }


def curve_thirds(results: dict[str, dict[str, dict[str, float]]]) -> int:
    """On how many problems a hyperstep method's median curve reaches full fidelity's final best within 1/3."""
    best = [min(r.get("reach_curve", np.inf) for m, r in ms.items() if m in OURS) for ms in results.values()]
    return sum(fraction <= 1 / 3 for fraction in best)


def verdict(results: dict[str, dict[str, dict[str, float]]], crossing: set[str]) -> dict[str, Any]:
    """Issue 9's "Done when", problem by problem, for the best of hyperstep's multi-fidelity methods."""
    rows = {}
    for problem, methods in results.items():
        ours = [m for m in OURS if m in methods]
        third = min(methods[m]["reach"] for m in ours) <= 1 / 3
        top = min(ours, key=lambda m: methods[m]["best"])
        rows[problem] = {
            "best method": top,
            "reaches full fidelity's best within 1/3": third,
            "no worse than full fidelity at equal compute": methods[top]["best"] <= methods[FULL]["best"],
            "beats optuna (both pruners) at equal compute": all(
                methods[top]["best"] < methods[m]["best"] for m in OPTUNA
            ),
            "crossing": problem in crossing,
        }
    n = len(rows)
    return {
        "problems": rows,
        "within a third on >= 80%": sum(r["reaches full fidelity's best within 1/3"] for r in rows.values()) >= 0.8 * n,
        "no worse on crossing ones": all(
            r["no worse than full fidelity at equal compute"] for r in rows.values() if r["crossing"]
        ),
        "beats optuna on >= 80%": sum(r["beats optuna (both pruners) at equal compute"] for r in rows.values())
        >= 0.8 * n,
    }


def median_curve(runs: list[Trace], budget: int, points: int = 60) -> tuple[list[float], list[float]]:
    """The median over seeds of the best final value found by each compute fraction."""
    fractions = np.linspace(0.0, 1.0, points + 1)[1:]
    medians = [float(np.median([best_at(t, f * budget) for t in runs])) for f in fractions]
    return fractions.tolist(), medians


def plot(curves: dict[str, dict[str, tuple[list[float], list[float]]]], path: Path) -> None:
    """Best value against compute, one panel per problem (matplotlib, the ``report`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(curves) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for ax, (problem, methods) in zip(axes.flat, curves.items()):
        finite = [v for xs, ys in methods.values() for v in ys if np.isfinite(v)]
        for method, (xs, ys) in methods.items():
            style = "-" if method == FULL else ("--" if method.startswith("optuna") else "-")
            width = 2.2 if method in (FULL, "model-based hyperband", "model-based asha") else 1.2
            ax.plot(xs, [v if np.isfinite(v) else np.nan for v in ys], style, lw=width, label=method)
        if finite:
            low, high = min(finite), np.percentile(finite, 90)
            ax.set_ylim(low - 0.05 * (high - low), high)
        ax.axvline(1 / 3, color="grey", lw=0.8, ls=":")
        ax.set_title(problem)
        ax.set_xlabel("compute (fraction of full fidelity's budget)")
        ax.set_ylabel("best final value (median over seeds)")
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def markdown(results: dict[str, Any], check: dict[str, Any], args: argparse.Namespace, seconds: float) -> str:
    fmt = lambda v: "-" if not np.isfinite(v) else f"{v:.4g}"  # noqa: E731
    lines = [
        "# Early stopping: best value against compute (issue 9)",
        "",
        f"`python -m benchmarks.early_stopping --seeds {args.seeds}"
        + (f" --first-seed {args.first_seed}" if args.first_seed else "")
        + f" --trials {args.trials}`: budget = "
        f"{args.trials} full-fidelity trials' steps, eta {ETA}, min_resource 1, max_resource 27; "
        f"{seconds / 60:.0f} min on 2 shared cores. Medians over seeds. *reach*: compute needed to reach "
        "full-fidelity Bayesian's final best of the same seed, as a fraction of the budget (`-`: not within "
        "the budget; with 2 seeds the median is the mean of the two, `-` when either seed never reaches it); "
        "*reach (median curve)*: the compute at which the method's median anytime curve first reaches full "
        "fidelity's median final best (the papers' reading of a speed-up; at the plot's 1/60 resolution; "
        "added after the per-seed reach of this run was seen, so a second reading, not the verdict's); "
        "*best*: best final value at the budget (equal compute); *best@1/3*: at a third of it. "
        "mlp-diabetes was added after the methods were built: a kind of problem they were not tuned on. "
        "Plot: `early_stopping.png` (median best value against compute).",
        "",
    ]
    for problem, methods in results.items():
        lines += [f"## {problem}", "", "| method | reach | reach (median curve) | best | best@1/3 |"]
        lines += ["|---|---|---|---|---|"]
        for method, row in methods.items():
            cells = [row["reach"], row.get("reach_curve", np.nan), row["best"], row["best_third"]]
            lines.append(f"| {method} | " + " | ".join(map(fmt, cells)) + " |")
        lines.append("")
    lines += ["## Done when (issue 9), best hyperstep multi-fidelity method per problem", ""]
    lines += ["| problem | best method | within 1/3 | no worse at equal compute | beats both Optuna pruners |"]
    lines += ["|---|---|---|---|---|"]
    for problem, row in check["problems"].items():
        cells = [row["best method"], *(row[k] for k in list(row)[1:4])]
        lines.append(f"| {problem}{' (crossing)' if row['crossing'] else ''} | " + " | ".join(map(str, cells)) + " |")
    lines += [
        "",
        f"- reaches full fidelity's best with <= 1/3 of its compute on >= 80%: {check['within a third on >= 80%']}",
        f"- no worse than full fidelity at equal compute on crossing curves: {check['no worse on crossing ones']}",
        f"- beats Optuna TPE with either pruner at equal compute on >= 80%: {check['beats optuna on >= 80%']}",
        "",
        "Second reading (median curves, see above): the best hyperstep method reaches full fidelity's final "
        f"best within 1/3 of its compute on {curve_thirds(results)} of {len(results)} problems.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds (the budget unchanged)")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--trials", type=int, help="the budget: this many full-fidelity trials' steps")
    parser.add_argument("--only", nargs="*", help="problems to run (default: all)")
    parser.add_argument("--methods", nargs="*", help="methods to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--stem", default="early_stopping", help="the results files' name")
    parser.add_argument("--plot-only", action="store_true", help="draw the PNG again from the stored JSON")
    parser.add_argument("--merge", nargs="*", help="stems of runs on other problems (same settings) to report as one")
    args = parser.parse_args(argv)
    if args.merge:
        merge(args)
        return
    if args.plot_only:
        stored = json.loads((args.out / f"{args.stem}.json").read_text())
        plot(stored["curves"], args.out / f"{args.stem}.png")
        return
    args.seeds = args.seeds or (2 if args.quick else 3)
    args.trials = args.trials or 50
    methods = {m: METHODS[m] for m in (args.methods or DEFAULT)}
    methods = {FULL: METHODS[FULL], **methods}
    start, results, curves = time.time(), {}, {}
    every = problems()
    chosen = {k: every[k] for k in (args.only or [k for k, p in every.items() if not p.held_out])}  # in the order asked
    for name, problem in chosen.items():
        problem.load()
        budget = args.trials * problem.max_resource
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        traces = {m: [run(problem, budget, seed) for seed in seeds] for m, run in methods.items()}
        problem.save()
        results[name] = summarize(traces, budget)
        curves[name] = {m: median_curve(runs, budget) for m, runs in traces.items()}
        print(name, json.dumps(results[name]), f"{time.time() - start:.0f}s", flush=True)
    crossing = sorted(k for k, p in chosen.items() if p.crossing)
    meta = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "trials": args.trials,
        "seconds": time.time() - start,
        "crossing": crossing,
    }
    write(args, results, curves, meta)


def write(args: argparse.Namespace, results: dict[str, Any], curves: dict[str, Any], meta: dict[str, Any]) -> None:
    """The JSON, and with full-fidelity BO, Optuna and a hyperstep method: the verdict, markdown and plot."""
    methods = set(next(iter(results.values())))
    complete = FULL in methods and set(OPTUNA) <= methods and any(m in OURS for m in methods)
    check = verdict(results, set(meta["crossing"])) if complete else {}
    for problem, methods_curves in curves.items():
        if FULL in methods_curves:
            for method, fraction in curve_reach(methods_curves).items():
                results[problem][method]["reach_curve"] = fraction
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"results": results, "check": check, "curves": curves, "meta": meta}
    (args.out / f"{args.stem}.json").write_text(json.dumps(data, indent=1, default=str))
    if check:
        args.seeds, args.first_seed, args.trials = meta["seeds"], meta.get("first_seed", 0), meta["trials"]
        (args.out / f"{args.stem}.md").write_text(markdown(results, check, args, meta["seconds"]))
        plot(curves, args.out / f"{args.stem}.png")
        print(json.dumps({k: v for k, v in check.items() if k != "problems"}))


def merge(args: argparse.Namespace) -> None:
    """Runs split by problem or by method (to use several cores), reported as one under
    ``--stem``; a method run in two stems on a problem is the later stem's."""
    results: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    metas = []
    for stem in args.merge:
        stored = json.loads((args.out / f"{stem}.json").read_text())
        for problem, methods in stored["results"].items():
            results.setdefault(problem, {}).update(methods)
            curves.setdefault(problem, {}).update(stored["curves"][problem])
        metas.append(stored["meta"])
    settings = {(m["seeds"], m.get("first_seed", 0), m["trials"]) for m in metas}
    assert len(settings) == 1, "runs with different settings"
    crossing = sorted({p for m in metas for p in m["crossing"]})
    seconds = max(m["seconds"] for m in metas)
    write(args, results, curves, {**metas[0], "seconds": seconds, "crossing": crossing})


if __name__ == "__main__":
    main()
