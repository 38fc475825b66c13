"""The broader synthetic set (``broad_problems``), scored like Bayesmark per kind of problem.

Every method runs the same problems and seeds, ``--rounds`` rounds of ``--batch``
suggestions (default 12 x 4, the protocol of the held-out measurements in issue 14).
Scores are Bayesmark's normalized score (``scoring.score``: 100 = best any method found,
0 = random search's expected best), computed per kind and over all problems. On noisy
problems the loss scored after each round is the *true* value at the configuration
with the best noisy value so far (what the method would recommend); crashes are NaN
(no progress) as in the Bayesmark suite.

    nice -n 19 .venv/bin/python -m benchmarks.broad --seeds 3 --methods hyperstep random optuna-tpe optuna-gp
    nice -n 19 .venv/bin/python -m benchmarks.broad --only crash int --seeds 5
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import broad_holdout, broad_problems, reporting, scoring  # noqa: E402
from benchmarks.broad_problems import KINDS, Problem  # noqa: E402
from benchmarks.optimizers import FACTORIES, run_batches  # noqa: E402

DEFAULT_METHODS = ["hyperstep", "random", "optuna-tpe", "optuna-gp"]
SETS = {
    "tuned": broad_problems.problems,
    "holdout": broad_holdout.problems,
    "all": lambda: [*broad_problems.problems(), *broad_holdout.problems()],
}


def recommended_true(problem: Problem, noisy_losses: np.ndarray, true_losses: np.ndarray) -> np.ndarray:
    """Per round, the true loss at the best noisy observation so far, repeated over the batch."""
    rounds, batch = noisy_losses.shape
    out = np.full_like(true_losses, np.nan)
    flat_noisy = np.where(np.isfinite(noisy_losses), noisy_losses, np.inf).ravel()
    for r in range(rounds):
        seen = flat_noisy[: (r + 1) * batch]
        if np.isfinite(seen.min()):
            out[r, :] = true_losses.ravel()[int(np.argmin(seen))]
    return out


def run_one(
    problem: Problem, method: str, seed: int, rounds: int, batch: int
) -> tuple[np.ndarray, float, tuple[np.ndarray, np.ndarray] | None]:
    """Losses ``(rounds, batch)`` to score, optimizer seconds, and on a noisy problem its (noisy, true) losses.

    On a noisy problem the losses to score are the true values at the recommendations.
    """
    truths: list[float] = []
    noise_rng = np.random.default_rng(10_000 + seed)
    seen = problem.noisy(noise_rng)

    def objective(params: dict[str, Any]) -> float:
        truths.append(problem.true(params))
        return seen(params)

    losses, spent = run_batches(FACTORIES[method](problem.space, seed), objective, rounds, batch)
    if problem.noise <= 0:
        return losses, spent, None
    true = np.array(truths).reshape(rounds, batch)
    return recommended_true(problem, losses, true), spent, (losses, true)


def merge(
    losses: dict[str, dict[str, np.ndarray]],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    files: list[str],
    seeds: int,
    first_seed: int,
) -> dict[str, Any]:
    """Add other runs' methods to ``losses`` (in place): the same problems, their seeds that were run here.

    Random search's noisy/true pairs come along with it (into ``pairs``).

    A method already in ``losses`` is kept. Runs of one method are gathered seed by seed
    across the files (seeds 0-4 from one, 5-9 from another), and the longest run of
    consecutive seeds from ``first_seed`` on, at most ``seeds`` of them, is taken (it may
    be fewer: HEBO and Optuna's GP are slow). Returns what came from where, for the record.
    """
    import json
    from pathlib import Path

    found: dict[tuple[str, str], dict[int, tuple[Any, Any, dict[str, Any]]]] = {}
    for name in files:
        data = json.loads(Path(name).read_text())
        their_seeds = data["config"]["seeds"]
        commit = data["config"]["machine"]["hyperstep_commit"]
        for problem, by_method in data["losses"].items():
            if problem not in losses:
                continue
            for method, runs in by_method.items():
                both = data.get("random_pairs", {}).get(problem) if method == "random" else None
                for i, seed in enumerate(their_seeds[: len(runs)]):
                    pair = None if both is None else (both[0][i], both[1][i])
                    source = {"file": name, "commit": commit}
                    found.setdefault((problem, method), {}).setdefault(seed, (runs[i], pair, source))
    record: dict[str, Any] = {}
    for (problem, method), by_seed in found.items():
        if method in losses[problem]:
            continue
        take = []
        for seed in range(first_seed, first_seed + seeds):
            if seed not in by_seed:
                break
            take.append(seed)
        if not take:
            continue
        losses[problem][method] = np.array([by_seed[s][0] for s in take])
        if by_seed[take[0]][1] is not None:
            pairs[problem] = tuple(np.array([by_seed[s][1][k] for s in take]) for k in (0, 1))
        for seed in take:
            source = by_seed[seed][2]
            entry = next((e for e in record.setdefault(method, []) if e["file"] == source["file"]), None)
            if entry is None:
                record[method].append(entry := {**source, "seeds": []})
            if seed not in entry["seeds"]:
                entry["seeds"].append(seed)
    for entries in record.values():
        for entry in entries:
            entry["seeds"].sort()
    return record


def score_by_kind(
    losses: dict[str, dict[str, np.ndarray]],
    kinds: dict[str, str],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Bayesmark normalized scores per kind and over all problems (the mean of the per-kind scores too).

    ``pairs`` holds random search's (noisy, true) losses on the noisy problems. Methods
    that ran on only some problems (HEBO) are left out of these tables and scored,
    with every other method, on the problems where they ran (``partial``).
    """
    everywhere = set.intersection(*(set(by) for by in losses.values()))
    full = {p: {m: a for m, a in by.items() if m in everywhere} for p, by in losses.items()}
    out: dict[str, Any] = {"per_kind": {}, "partial": {}}
    for kind in KINDS:
        subset = {p: by for p, by in full.items() if kinds[p] == kind}
        if subset:
            out["per_kind"][kind] = scoring.score(subset, noisy_pairs=pairs)["normalized"]
    overall = scoring.score(full, noisy_pairs=pairs)
    out["all"] = overall["normalized"]
    out["per_problem"] = overall["per_problem"]
    methods = list(overall["normalized"])
    out["mean_of_kinds"] = {m: float(np.mean([s[m] for s in out["per_kind"].values()])) for m in methods}
    for method in sorted({m for by in losses.values() for m in by} - everywhere):
        where = {p: by for p, by in losses.items() if method in by}
        common = set.intersection(*(set(by) for by in where.values()))
        kept = {p: {m: by[m] for m in common} for p, by in where.items()}
        part = scoring.score(kept, noisy_pairs=pairs)
        part["per_kind"] = {
            kind: scoring.score({p: by for p, by in kept.items() if kinds[p] == kind}, noisy_pairs=pairs)["normalized"]
            for kind in KINDS
            if any(kinds[p] == kind for p in kept)
        }
        out["partial"][method] = {"problems": sorted(where), **part}
    return out


def markdown(scores: dict[str, Any], config: dict[str, Any], seconds: dict[str, float]) -> str:
    methods = sorted(scores["all"], key=lambda m: -scores["all"][m])
    rows = [[k, *[by[m] for m in methods]] for k, by in scores["per_kind"].items()]
    rows.append(["**mean of kinds**", *[scores["mean_of_kinds"][m] for m in methods]])
    rows.append(["**all problems**", *[scores["all"][m] for m in methods]])
    per_problem = [[p, *[by[m] for m in methods]] for p, by in scores["per_problem"].items()]
    partial = ""
    for method, part in scores["partial"].items():
        cols = sorted(part["normalized"], key=lambda m: -part["normalized"][m])
        partial += (
            f"\n\n## Where {method} ran ({', '.join(part['problems'])})\n\n"
            + reporting.table(
                ["problem", *cols], [[p, *[by[m] for m in cols]] for p, by in part["per_problem"].items()]
            )
            + "\n\n"
            + reporting.table(
                ["kind (its problems above)", *cols],
                [[k, *[by[m] for m in cols]] for k, by in part["per_kind"].items()]
                + [["**these problems**", *[part["normalized"][m] for m in cols]]],
            )
        )
    runs = config["n_problems"] * len(config["seeds"])
    sources = "".join(
        f"\n- `{method}`: seeds {src['seeds']} from `{src['file']}` (commit {src['commit']})"
        for method, srcs in config.get("merged", {}).items()
        for src in srcs
    )
    if sources:
        sources = "\n\nMethods taken from earlier runs of the same problems (`--merge`):" + sources
    m = config["machine"]
    return (
        f"# Broad synthetic set\n\n{m['date_utc']}, {m['cpus']} CPUs, commit {m['hyperstep_commit']}; "
        f"{config['n_problems']} problems, seeds {config['seeds']}, {config['rounds']} rounds x batch "
        f"{config['batch']}, wall time {config['wall_seconds']:.0f} s.\n\n"
        "Bayesmark normalized score per kind (100 = best any method found, 0 = random search's "
        f"expected best; see `benchmarks/scoring.py`).{sources}\n\n"
        + reporting.table(["kind", *methods], rows)
        + "\n\n## Per problem\n\n"
        + reporting.table(["problem", *methods], per_problem)
        + "\n\n"
        + reporting.table(["method", "optimizer s / run"], [[k, v / runs] for k, v in seconds.items()])
        + partial
        + "\n"
    )


def _checkpoint(
    name: str,
    losses: dict[str, dict[str, np.ndarray]],
    pairs: dict[str, Any],
    seeds: list[int],
    extra: dict[str, Any] | None = None,
    suffix: str = ".partial",
) -> None:
    """The raw losses so far (``results/NAME.partial.json``; ``suffix`` "": the record's own
    file): a long run that is stopped keeps its problems. ``extra``: more top-level fields."""
    import json

    data = {
        "config": {"seeds": seeds, "machine": reporting.machine()},
        "losses": {p: {m: a.tolist() for m, a in by.items()} for p, by in losses.items()},
        "random_pairs": {p: [a.tolist() for a in both] for p, both in pairs.items()},
        **(extra or {}),
    }
    reporting.RESULTS.mkdir(parents=True, exist_ok=True)
    (reporting.RESULTS / f"{name}{suffix}.json").write_text(json.dumps(data) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=None, choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="problems whose name or kind contains one of these")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--name", default="broad", help="results file name (benchmarks/results/NAME.md/.json)")
    parser.add_argument(
        "--merge",
        nargs="+",
        default=[],
        help="earlier results JSON files whose methods (on the same problems and seeds) join the scoring",
    )
    parser.add_argument(
        "--set",
        choices=sorted(SETS),
        default="tuned",
        help="tuned: the problems the strategy was tuned on; holdout: those never used while tuning (broad_holdout)",
    )
    parser.add_argument("--no-random", action="store_true", help="do not run random search (take it from --merge)")
    args = parser.parse_args(argv)
    methods = args.methods or DEFAULT_METHODS
    if "random" not in methods and not args.no_random:
        methods = ["random", *methods]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    chosen = [p for p in SETS[args.set]() if not args.only or any(s in p.name or s in p.kind for s in args.only)]

    start = time.perf_counter()
    losses: dict[str, dict[str, np.ndarray]] = {}
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    seconds = dict.fromkeys(methods, 0.0)
    for problem in chosen:
        losses[problem.name] = {}
        for method in methods:
            runs, raws = [], []
            for seed in seeds:
                run, spent, raw = run_one(problem, method, seed, args.rounds, args.batch)
                runs.append(run)
                raws.append(raw)
                seconds[method] += spent
            losses[problem.name][method] = np.stack(runs)
            if method == "random" and problem.noise > 0:
                pairs[problem.name] = (np.stack([r[0] for r in raws]), np.stack([r[1] for r in raws]))
            run_losses = losses[problem.name][method]
            best = np.where(np.isfinite(run_losses), run_losses, np.inf).reshape(len(seeds), -1).min(axis=1)
            print(f"{problem.name:26s} {method:11s} best per seed {np.round(best, 4).tolist()}", flush=True)
        _checkpoint(args.name, losses, pairs, seeds)
    merged = merge(losses, pairs, args.merge, len(seeds), args.first_seed)
    if not any("random" in by for by in losses.values()):  # --no-random and nothing merged: nothing to score against
        print("no random search to score against; raw losses in", reporting.RESULTS / f"{args.name}.partial.json")
        return
    scores = score_by_kind(losses, {p.name: p.kind for p in chosen}, pairs)
    config = {
        "n_problems": len(chosen),
        "problems": [p.name for p in chosen],
        "methods": methods,
        "seeds": seeds,
        "rounds": args.rounds,
        "batch": args.batch,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
        "merged": merged,
    }
    text = markdown(scores, config, seconds)
    data = {
        "config": config,
        "scores": scores,
        "optimizer_seconds": seconds,
        "losses": {p: {m: a.tolist() for m, a in by.items()} for p, by in losses.items()},
        "random_pairs": {p: [a.tolist() for a in both] for p, both in pairs.items()},
    }
    reporting.write_final(args.name, text, data)


if __name__ == "__main__":
    main()
