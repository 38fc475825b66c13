"""The fresh held-out set (``fresh_problems``): kinds never tuned on, scored like the broad sets.

Each kind runs its own budget (``fresh_problems.budget``: 48 trials as 12 x 4 by default,
12 trials as 3 x 4, 120 as 30 x 4, 40 one at a time and 40 as 10 x 4). Scores are
Bayesmark's normalized score (``scoring.score``: 100 = best any method found, 0 = random
search's expected best), per kind and per problem; the headline is the mean of kinds.
Heteroscedastic problems are scored like the broad set's noisy ones: the true loss at
each method's best noisy observation.

Every suggestion is checked against the space (every name present, ints are ``int``,
floats finite and in bounds, a categorical value one of its choices with its type): an
invalid one, an exception from ``ask``/``tell`` or a run past ``--run-timeout`` is
counted per method and printed, and the run goes on with the next seed.

    nice -n 19 .venv/bin/python -m benchmarks.fresh --seeds 5 --name fresh_r1
    nice -n 19 .venv/bin/python -m benchmarks.fresh --only sklearn --seeds 3 --name fresh_sklearn
    nice -n 19 .venv/bin/python -m benchmarks.fresh --methods hebo --no-random --seeds 1 --name fresh_hebo
    .venv/bin/python -m benchmarks.fresh --merge results/fresh_r1.json results/fresh_hebo.json --methods --name fresh
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import fresh_problems, reporting, scoring  # noqa: E402
from benchmarks.broad import _checkpoint, merge, recommended_true  # noqa: E402
from benchmarks.broad_problems import Params, Problem  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, run_batches  # noqa: E402
from hyperstep.space import CategoricalParameter, IntParameter, SearchSpace  # noqa: E402

DEFAULT_METHODS = ["hyperstep", "random", "optuna-tpe"]


def invalid(space: SearchSpace, params: Params) -> list[str]:
    """What is wrong with a suggestion: a missing or extra name (in a conditional space, the names
    active at its parents' values), a wrong type, a value out of range."""
    try:
        names = space.active_names(params) if space.conditional else {p.name for p in space.parameters}
    except KeyError as missing:  # an active parent left out
        return [f"names ['{missing.args[0]}']"]
    wrong = [f"names {sorted(set(params) ^ set(names))}"] if set(params) != set(names) else []
    for p in space.parameters:
        if p.name not in params:
            continue
        v = params[p.name]
        if isinstance(p, CategoricalParameter):
            ok = any(type(c) is type(v) and c == v for c in p.choices)
        elif isinstance(p, IntParameter):
            ok = type(v) is int and p.low <= v <= p.high
        else:
            ok = type(v) in (float, int) and math.isfinite(v) and p.low <= v <= p.high
        if not ok:
            wrong.append(f"{p.name}={v!r} ({type(v).__name__})")
    return wrong


class Checked(BatchOptimizer):
    """An optimizer whose every suggestion is checked against the space (``problems`` collects what is wrong)."""

    def __init__(self, inner: BatchOptimizer, space: SearchSpace) -> None:
        self.inner, self.space, self.problems = inner, space, []

    def ask(self, n: int) -> list[Params]:
        configs = self.inner.ask(n)
        if len(configs) != n:
            self.problems.append(f"asked {n}, got {len(configs)}")
        for params in configs:
            if wrong := invalid(self.space, params):
                self.problems.append(", ".join(wrong))
        return configs

    def tell(self, losses: list[float | None]) -> None:
        self.inner.tell(losses)

    def plan(self, trials: int) -> None:
        self.inner.plan(trials)

    def close(self) -> None:
        self.inner.close()


class RunTimeout(Exception):
    """A run went past ``--run-timeout`` seconds (a hang, or far too slow)."""


def _alarm(signum: int, frame: Any) -> None:
    raise RunTimeout


def run_one(problem: Problem, method: str, seed: int, timeout: int) -> dict[str, Any]:
    """One run: losses to score ``(rounds, batch)``, optimizer seconds, (noisy, true) on a noisy problem, defects."""
    rounds, batch = fresh_problems.budget(problem.kind)
    truths: list[float] = []
    seen = problem.noisy(np.random.default_rng(10_000 + seed))

    def objective(params: Params) -> float:
        truths.append(problem.true(params))
        return seen(params)

    checked = Checked(FACTORIES[method](problem.space, seed), problem.space)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        losses, spent = run_batches(checked, objective, rounds, batch)
    except RunTimeout:
        return {"error": f"no result within {timeout} s", "defects": checked.problems}
    except Exception as exc:  # any failure of an optimizer is what this benchmark looks for
        return {"error": f"{type(exc).__name__}: {exc}", "defects": checked.problems}
    finally:
        signal.alarm(0)
    out: dict[str, Any] = {"losses": losses, "seconds": spent, "defects": checked.problems, "pair": None}
    if problem.noise > 0:
        true = np.array(truths).reshape(rounds, batch)
        out["pair"] = (losses, true)
        out["losses"] = recommended_true(problem, losses, true)
    return out


def score_kinds(
    losses: dict[str, dict[str, np.ndarray]],
    kinds: dict[str, str],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    order: tuple[str, ...] = fresh_problems.KINDS,
) -> dict[str, Any]:
    """Normalized scores per kind (its problems share one budget; kinds in ``order``), per problem, and the
    mean of kinds.

    A method scores on a kind only where it ran every problem of it with as many seeds as random; per
    problem, wherever it did.
    """
    out: dict[str, Any] = {"per_kind": {}, "per_problem": {}, "final_recommended": {}}
    for kind in order:
        subset = {p: by for p, by in losses.items() if kinds[p] == kind and "random" in by}
        if not subset:
            continue
        full = {p: {m: a for m, a in by.items() if a.shape[0] == by["random"].shape[0]} for p, by in subset.items()}
        common = set.intersection(*(set(by) for by in full.values()))
        kept = {p: {m: a for m, a in by.items() if m in common} for p, by in full.items()}
        out["per_kind"][kind] = scoring.score(kept, noisy_pairs=pairs)["normalized"]
        for p, by in full.items():  # a method that ran only some of the kind's problems shows here
            out["per_problem"][p] = scoring.score({p: by}, noisy_pairs=pairs)["normalized"]
            if p in pairs:  # the score credits the best of a run's recommendations so far; this is its last
                out["final_recommended"][p] = {m: float(np.median(a[:, -1, 0])) for m, a in by.items()}
    methods = sorted({m for by in out["per_kind"].values() for m in by})
    out["mean_of_kinds"] = {
        m: float(np.mean([by[m] for by in out["per_kind"].values()]))
        for m in methods
        if all(m in by for by in out["per_kind"].values())
    }
    return out


def markdown(scores: dict[str, Any], config: dict[str, Any], defects: dict[str, list[str]]) -> str:
    head, row = record_head("Fresh held-out set", scores, config, fresh_problems.budget)
    return (
        head
        + "\n\n## Noisy problems: the true loss at the last recommendation\n\n"
        + "Median over seeds of the true loss at each run's best noisy observation after its last round (lower "
        + "is better). The score above scores the same point: the true loss at the current recommendation "
        + "(`scoring.normed_mean_perf` with `noisy`), as random search's reference does.\n\n"
        + reporting.table(["problem", *row.methods], [row(p, by) for p, by in scores["final_recommended"].items()])
        + crashes_section(defects)
    )


class Row:
    """A table row of one problem or kind: its name, then each method's score ("-" where it has none)."""

    def __init__(self, methods: list[str]) -> None:
        self.methods = methods

    def __call__(self, name: str, by: dict[str, float]) -> list[Any]:
        return [name, *[by.get(m, "-") for m in self.methods]]


def record_head(
    title: str, scores: dict[str, Any], config: dict[str, Any], budget: Callable[[str], tuple[int, int]]
) -> tuple[str, Row]:
    """A held-out record's markdown up to its per-problem table (the title, the machine, what the
    score means, the merged runs, the kinds and the problems), and the row maker of its tables,
    the methods best first."""
    methods = sorted(
        {m for by in scores["per_problem"].values() for m in by}, key=lambda m: -scores["mean_of_kinds"].get(m, -1e9)
    )
    row = Row(methods)
    kinds = [row(f"{k} {budget(k)[0]}x{budget(k)[1]}", by) for k, by in scores["per_kind"].items()]
    kinds.append(row("**mean of kinds**", scores["mean_of_kinds"]))
    sources = "".join(
        f"\n- `{method}`: seeds {src['seeds']} from `{src['file']}` (commit {src['commit']})"
        for method, srcs in config.get("merged", {}).items()
        for src in srcs
    )
    m = config["machine"]
    head = (
        f"# {title}\n\n{m['date_utc']}, {m['cpus']} CPUs, commit {m['hyperstep_commit']}; "
        f"{config['n_problems']} problems, seeds {config['seeds']}, wall time {config['wall_seconds']:.0f} s.\n\n"
        "Bayesmark normalized score (100 = best any method found, 0 = random search's expected best; "
        "a kind scores the methods that ran all its problems with random search's seeds)."
        + (f"\n\nMerged from earlier runs (`--merge`):{sources}" if sources else "")
        + "\n\n"
        + reporting.table(["kind rounds x batch", *methods], kinds)
        + "\n\n## Per problem\n\n"
        + reporting.table(["problem", *methods], [row(p, by) for p, by in scores["per_problem"].items()])
    )
    return head, row


def crashes_section(defects: dict[str, list[str]]) -> str:
    """A record's last section: every crash, hang and invalid suggestion its runs logged."""
    found = "".join(f"\n- {line}" for lines in defects.values() for line in lines) or " none."
    return f"\n\n## Crashes, hangs and invalid suggestions\n{found}\n"


def run_grid(
    chosen: list[Problem],
    methods: list[str],
    seeds: list[int],
    name: str,
    run: Callable[[Problem, str, int, int], dict[str, Any]],
    timeout: int,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, list[str]]]:
    """Every method on every problem, seeds in order (a method's seeds stop at its first error:
    they must be consecutive to be scored), checkpointed after each problem as ``name``. The
    losses by problem and method; random search's (noisy, true) losses on noisy problems, which
    its reference needs; the defects each method showed."""
    losses: dict[str, dict[str, np.ndarray]] = {p.name: {} for p in chosen}
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    defects: dict[str, list[str]] = {}
    for problem in chosen:
        for method in methods:
            runs, raws = [], []
            for seed in seeds:
                t0 = time.perf_counter()
                result = run(problem, method, seed, timeout)
                for line in result["defects"] + ([result["error"]] if "error" in result else []):
                    defects.setdefault(method, []).append(f"{method} {problem.name} seed {seed}: {line}")
                    print("DEFECT", defects[method][-1], flush=True)
                if "error" in result:
                    break
                runs.append(result["losses"])
                raws.append(result.get("pair"))
                best = float(np.nanmin(np.where(np.isfinite(result["losses"]), result["losses"], np.inf)))
                took = time.perf_counter() - t0
                print(
                    f"{problem.name:28s} {method:11s} seed {seed} best {best:.5g} "
                    f"({result['seconds']:.1f} s optimizer, {took:.0f} s)",
                    flush=True,
                )
            if runs:
                losses[problem.name][method] = np.stack(runs)
                if method == "random" and problem.noise > 0:
                    pairs[problem.name] = (np.stack([r[0] for r in raws]), np.stack([r[1] for r in raws]))
        _checkpoint(name, losses, pairs, seeds, {"defects": defects})
    return losses, pairs, defects


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", nargs="*", default=None, choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="problems whose name or kind contains one of these")
    parser.add_argument("--name", default="fresh", help="results file name (benchmarks/results/NAME.md/.json)")
    parser.add_argument("--merge", nargs="+", default=[], help="earlier results JSON files whose methods join")
    parser.add_argument("--no-random", action="store_true", help="do not run random search (take it from --merge)")
    parser.add_argument(
        "--run-timeout", type=int, default=1800, help="seconds one run may take before it counts as a hang"
    )
    args = parser.parse_args(argv)
    methods = DEFAULT_METHODS if args.methods is None else args.methods
    if "random" not in methods and not args.no_random and not args.merge:
        methods = ["random", *methods]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    chosen = [
        p for p in fresh_problems.problems() if not args.only or any(s in p.name or s in p.kind for s in args.only)
    ]
    start = time.perf_counter()
    losses, pairs, defects = run_grid(chosen, methods, seeds, args.name, run_one, args.run_timeout)
    merged = merge(losses, pairs, args.merge, len(seeds), args.first_seed)
    for name in args.merge:
        for method, lines in json.loads(Path(name).read_text()).get("defects", {}).items():
            defects.setdefault(method, []).extend(lines)
    _checkpoint(args.name, losses, pairs, seeds, {"defects": defects}, suffix="")
    if not any("random" in by for by in losses.values()):
        print("no random search to score against; raw losses in", reporting.RESULTS / f"{args.name}.json")
        return
    scores = score_kinds(losses, {p.name: p.kind for p in chosen}, pairs)
    config = {
        "n_problems": len(chosen),
        "seeds": seeds,
        "methods": methods,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
        "merged": merged,
    }
    text = markdown(scores, config, defects)
    data = json.loads((reporting.RESULTS / f"{args.name}.json").read_text())
    data.update({"config": config, "scores": scores})
    reporting.write_final(args.name, text, data)


if __name__ == "__main__":
    main()
