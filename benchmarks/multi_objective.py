"""Several objectives: hypervolume after 100 evaluations in batches of 4, against anchors.

Problems (all minimized; known fronts except the real one): ZDT1, ZDT2, ZDT3 (d = 6),
DTLZ2 (3 objectives, d = 8), BNH (2 objectives, 2 constraints, d = 2; Binh & Korn, 1997)
and a real one: a scikit-learn random forest on the breast-cancer data, its validation
error against its size (thousands of tree nodes). Hypervolume is measured over the
feasible evaluated points with the reference points below (``REFS``); the table shows the
median over seeds and the share of the known front's hypervolume.

Methods, all in the same ask/tell batch loop: hyperstep's ``bayesian``, ``evolutionary``
(NSGA-II-like) and ``random``; Optuna's ``NSGAIISampler`` and ``TPESampler``
(multi-objective; both with ``constraints_func`` on BNH).

    nice -n 19 .venv/bin/python -m benchmarks.multi_objective --seeds 0 1 2
    .venv/bin/python -m benchmarks.multi_objective --latency-only   # ask(8) at 200 trials, 3 objectives

It also times ``ask(8)`` of the Bayesian strategy at 200 completed trials with three
objectives on one thread (the suggester Lambda's case).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import reporting
from hyperstep.pareto import hypervolume, pareto_mask

Evaluate = Callable[[dict[str, float]], tuple[list[float], list[float]]]
"""params -> (objective values to minimize, constraint values that must be <= 0)."""

BATCH, EVALUATIONS = 4, 100


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: list[tuple[float, float]]
    evaluate: Evaluate
    ref: list[float]
    n_constraints: int = 0
    front: Callable[[], np.ndarray] | None = None
    """Dense points of the true front (for the best reachable hypervolume)."""
    wide_ref: list[float] | None = None
    """A second, looser reference point, under which every method's points count."""
    front_hypervolume: Callable[[list[float]], float] | None = None
    """The true front's hypervolume in closed form (used instead of ``front`` when given)."""

    def best_hypervolume(self, ref: list[float]) -> float | None:
        """The hypervolume of the known front under ``ref`` (None for an unknown front)."""
        if self.front_hypervolume is not None:
            return self.front_hypervolume(ref)
        return None if self.front is None else hypervolume(self.front(), np.array(ref))

    @property
    def n_objectives(self) -> int:
        return len(self.ref)

    def names(self) -> list[str]:
        return [f"x{i}" for i in range(len(self.bounds))]


def _vector(params: dict[str, float], n: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(n)])


def zdt(kind: int, d: int = 6) -> Problem:
    def evaluate(params: dict[str, float]) -> tuple[list[float], list[float]]:
        x = _vector(params, d)
        f1 = float(x[0])
        g = 1.0 + 9.0 * float(np.mean(x[1:]))
        h = {
            1: 1 - math.sqrt(f1 / g),
            2: 1 - (f1 / g) ** 2,
            3: 1 - math.sqrt(f1 / g) - f1 / g * math.sin(10 * math.pi * f1),
        }
        return [f1, g * h[kind]], []

    def front() -> np.ndarray:
        f1 = np.linspace(0, 1, 2001)
        f2 = {1: 1 - np.sqrt(f1), 2: 1 - f1**2, 3: 1 - np.sqrt(f1) - f1 * np.sin(10 * np.pi * f1)}[kind]
        F = np.column_stack([f1, f2])
        return F[pareto_mask(F)]

    return Problem(f"ZDT{kind}", [(0.0, 1.0)] * d, evaluate, [1.1, 1.1], front=front, wide_ref=[11.0, 11.0])


def dtlz2(d: int = 8, m: int = 3) -> Problem:
    def evaluate(params: dict[str, float]) -> tuple[list[float], list[float]]:
        x = _vector(params, d)
        g = float(np.sum((x[m - 1 :] - 0.5) ** 2))
        angles = x[: m - 1] * math.pi / 2
        f = []
        for i in range(m):
            value = 1 + g
            value *= float(np.prod(np.cos(angles[: m - 1 - i])))
            if i > 0:
                value *= math.sin(angles[m - 1 - i])
            f.append(value)
        return f, []

    def front() -> np.ndarray:
        u = np.linspace(0, math.pi / 2, 20)
        a, b = np.meshgrid(u, u)
        a, b = a.ravel(), b.ravel()
        return np.column_stack([np.cos(a) * np.cos(b), np.cos(a) * np.sin(b), np.sin(a)])

    def volume(ref: list[float]) -> float:
        """The box up to ``ref`` (every side >= 1) less the unit ball's positive orthant (m = 3)."""
        return float(np.prod(ref)) - math.pi / 6

    return Problem(
        "DTLZ2", [(0.0, 1.0)] * d, evaluate, [1.1] * m, front=front, wide_ref=[3.0] * m, front_hypervolume=volume
    )


def bnh() -> Problem:
    def evaluate(params: dict[str, float]) -> tuple[list[float], list[float]]:
        x1, x2 = params["x0"], params["x1"]
        f = [4 * x1**2 + 4 * x2**2, (x1 - 5) ** 2 + (x2 - 5) ** 2]
        return f, [(x1 - 5) ** 2 + x2**2 - 25, 7.7 - (x1 - 8) ** 2 - (x2 + 3) ** 2]

    def front() -> np.ndarray:
        a = np.linspace(0, 3, 1000)
        b = np.linspace(3, 5, 1000)
        X = np.vstack([np.column_stack([a, a]), np.column_stack([b, np.full_like(b, 3.0)])])
        return np.column_stack([4 * X[:, 0] ** 2 + 4 * X[:, 1] ** 2, (X[:, 0] - 5) ** 2 + (X[:, 1] - 5) ** 2])

    return Problem("BNH (constrained)", [(0.0, 5.0), (0.0, 3.0)], evaluate, [140.0, 50.0], 2, front, [140.0, 50.0])


def forest() -> Problem:
    """A random forest on breast cancer: validation error against thousands of tree nodes."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)

    def evaluate(params: dict[str, float]) -> tuple[list[float], list[float]]:
        model = RandomForestClassifier(
            n_estimators=round(params["x0"]),
            max_depth=round(params["x1"]),
            max_features=params["x2"],
            min_samples_leaf=round(params["x3"]),
            random_state=0,
            n_jobs=1,
        ).fit(X_train, y_train)
        nodes = sum(tree.tree_.node_count for tree in model.estimators_)
        return [1.0 - float(model.score(X_val, y_val)), nodes / 1000.0], []

    bounds: list[tuple[float, float]] = [(1, 64), (1, 12), (0.05, 1.0), (1, 20)]
    return Problem("forest: error vs size", bounds, evaluate, [0.2, 5.0], wide_ref=[1.0, 10.0])


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "zdt1": lambda: zdt(1),
    "zdt2": lambda: zdt(2),
    "zdt3": lambda: zdt(3),
    "dtlz2": dtlz2,
    "bnh": bnh,
    "forest": forest,
}


# the methods: one ask/tell batch loop each


def run_hyperstep(problem: Problem, strategy: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(objective values, feasibility) of every evaluation, in order."""
    import hyperstep

    space = hyperstep.SearchSpace.model_validate({"parameters": _parameters(problem)})
    constraints = [{"metric": f"g{i}", "max": 0.0} for i in range(problem.n_constraints)]
    study = hyperstep.Study(
        space, goal=["minimize"] * problem.n_objectives, strategy=strategy, seed=seed, constraints=constraints
    )
    F, ok = [], []
    while len(F) < EVALUATIONS:
        for trial in study.ask(BATCH):
            f, g = problem.evaluate(trial.params)
            study.tell(trial.id, f, metrics={f"g{i}": v for i, v in enumerate(g)})
            F.append(f)
            ok.append(all(v <= 0 for v in g))
    return np.array(F), np.array(ok)


def run_optuna(problem: Problem, sampler_name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def constraints_func(trial: optuna.trial.FrozenTrial) -> list[float]:
        return trial.user_attrs["g"]

    kwargs: dict[str, Any] = {"seed": seed}
    if problem.n_constraints:
        kwargs["constraints_func"] = constraints_func
    if sampler_name == "nsga2":
        sampler: Any = optuna.samplers.NSGAIISampler(**kwargs)
    else:
        sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, **kwargs)
    study = optuna.create_study(directions=["minimize"] * problem.n_objectives, sampler=sampler)
    distributions = {
        p["name"]: (
            optuna.distributions.IntDistribution(p["low"], p["high"])
            if p["type"] == "int"
            else optuna.distributions.FloatDistribution(p["low"], p["high"])
        )
        for p in _parameters(problem)
    }
    F, ok = [], []
    while len(F) < EVALUATIONS:
        trials = [study.ask(distributions) for _ in range(BATCH)]
        for trial in trials:
            f, g = problem.evaluate(trial.params)
            trial.set_user_attr("g", g)
            study.tell(trial, f)
            F.append(f)
            ok.append(all(v <= 0 for v in g))
    return np.array(F), np.array(ok)


def _parameters(problem: Problem) -> list[dict[str, Any]]:
    """Float parameters; the forest's integer ones as integers."""
    out = []
    for name, (low, high) in zip(problem.names(), problem.bounds):
        integer = isinstance(low, int) and isinstance(high, int)
        out.append({"name": name, "type": "int" if integer else "float", "low": low, "high": high})
    return out


METHODS: dict[str, Callable[[Problem, int], tuple[np.ndarray, np.ndarray]]] = {
    "hyperstep bayesian": lambda p, s: run_hyperstep(p, "bayesian", s),
    "hyperstep evolutionary": lambda p, s: run_hyperstep(p, "evolutionary", s),
    "random": lambda p, s: run_hyperstep(p, "random", s),
    "optuna NSGA-II": lambda p, s: run_optuna(p, "nsga2", s),
    "optuna TPE": lambda p, s: run_optuna(p, "tpe", s),
}


def measure(problem: Problem, method: str, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    F, ok = METHODS[method](problem, seed)
    seconds = time.perf_counter() - start
    wide = hypervolume(F[ok], np.array(problem.wide_ref or problem.ref))
    return {
        "hypervolume": hypervolume(F[ok], np.array(problem.ref)),
        "hypervolume_wide_ref": wide,
        "seconds": seconds,
        "values": F.tolist(),
        "feasible": ok.tolist(),
    }


def ask_latency(repeats: int = 3) -> dict[str, float]:
    """Seconds of ``ask(8)`` by the Bayesian strategy at 200 completed DTLZ2 trials (3 objectives)."""
    import hyperstep

    problem = dtlz2()
    space = hyperstep.SearchSpace.model_validate({"parameters": _parameters(problem)})
    times, cpu = [], []
    for r in range(repeats):
        study = hyperstep.Study(space, goal=["minimize"] * 3, strategy="random", seed=r)
        for trial in study.ask(200):
            study.tell(trial.id, problem.evaluate(trial.params)[0])
        bayesian = hyperstep.Study.from_job(study.store, study.job.model_copy())
        from hyperstep.strategies import make_strategy

        bayesian.strategy = make_strategy("bayesian")
        start, start_cpu = time.perf_counter(), time.process_time()
        bayesian.ask(8)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median_seconds": float(np.median(times)),
        "max_seconds": float(max(times)),
        "median_cpu_seconds": float(np.median(cpu)),
        "max_cpu_seconds": float(max(cpu)),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--name", default="multi_objective")
    args = parser.parse_args()
    import scipy.linalg  # loaded first: threadpool_limits only limits the libraries loaded
    import scipy.optimize  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core, as the suggester Lambda
        latency = ask_latency()
        print(
            f"ask(8) at 200 trials, 3 objectives: median {latency['median_seconds']:.2f} s wall,"
            f" {latency['median_cpu_seconds']:.2f} s CPU",
            flush=True,
        )
        if args.latency_only:
            return
        runs: dict[str, dict[str, list[dict[str, float]]]] = {}
        for key in args.problems:
            problem = PROBLEMS[key]()
            runs[key] = {}
            for method in args.methods:
                runs[key][method] = [measure(problem, method, seed) for seed in args.seeds]
                hv = [r["hypervolume"] for r in runs[key][method]]
                wide = [r["hypervolume_wide_ref"] for r in runs[key][method]]
                print(
                    f"{problem.name:24s} {method:24s} HV median {np.median(hv):.4f} {np.round(hv, 4).tolist()}"
                    f"  wide ref {np.median(wide):.4f} {np.round(wide, 4).tolist()}",
                    flush=True,
                )
    write(args, runs, latency)


def hv_table(args: argparse.Namespace, runs: dict[str, Any], field: str) -> tuple[str, int]:
    """The markdown table of median ``field`` per problem and method, and the Bayesian wins."""
    header = ["problem", "ref", *args.methods, "front's HV", "bayesian beats both Optuna"]
    rows, wins = [], 0
    for key, by_method in runs.items():
        problem = PROBLEMS[key]()
        ref = problem.ref if field == "hypervolume" else (problem.wide_ref or problem.ref)
        med = {m: float(np.median([r[field] for r in by_method[m]])) for m in args.methods}
        best = problem.best_hypervolume(ref)
        optuna_best = max(med.get("optuna NSGA-II", -math.inf), med.get("optuna TPE", -math.inf))
        win = med.get("hyperstep bayesian", -math.inf) > optuna_best
        wins += win
        cells = [f"{med[m]:.4f}" for m in args.methods]
        rows.append([problem.name, str(ref), *cells, f"{best:.4f}" if best else "-", win])
    return reporting.table(header, rows), wins


def write(args: argparse.Namespace, runs: dict[str, Any], latency: dict[str, float]) -> None:
    tight, wins = hv_table(args, runs, "hypervolume")
    wide, wide_wins = hv_table(args, runs, "hypervolume_wide_ref")
    count = len(runs)
    markdown = (
        f"# Several objectives: hypervolume after {EVALUATIONS} evaluations in batches of {BATCH}\n\n"
        f"Median over seeds {args.seeds}; feasible points only; larger is better. The tight reference\n"
        "point (just beyond the known front) counts only points near the front; the wide one counts all.\n\n"
        + tight
        + f"\n\nTight reference: Bayesian beats both Optuna samplers on {wins} of {count} problems.\n\n"
        + wide
        + f"\n\nWide reference: Bayesian beats both Optuna samplers on {wide_wins} of {count} problems.\n\n"
        f"`ask(8)` at 200 trials, 3 objectives, one thread: CPU time median {latency['median_cpu_seconds']:.2f} s,"
        f" max {latency['max_cpu_seconds']:.2f} s; wall time median {latency['median_seconds']:.2f} s,"
        f" max {latency['max_seconds']:.2f} s (the machine shared), over {latency['repeats']} runs.\n"
    )
    data = {
        "machine": reporting.machine(),
        "seeds": args.seeds,
        "runs": runs,
        "latency": latency,
        "wins": {"tight_ref": wins, "wide_ref": wide_wins},
    }
    md, js = reporting.write(args.name, markdown, data)
    print(markdown)
    print(f"wrote {md} and {js}")


if __name__ == "__main__":
    main()
