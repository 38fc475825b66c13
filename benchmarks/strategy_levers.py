"""Issue 14 round six: how the strategy levers' tables of benchmarks/README.md ("Issue 14, round
six: the strategy") were computed from the runs in ``benchmarks/results/``.

Run from the repository root: ``.venv/bin/python -m benchmarks.strategy_levers``.

1. The tuned multimodal kind, the records' hyperstep (06c59eb) against HEBO's 10 seeds
   (``broad_r5_anchors6.json``): mean best by round, and how many rounds from the 8th on
   improved the best.
2. Per kind, the records' hyperstep and every lever that ran the whole kind (hyperstep
   seeds 0-9, ``opt6_<lever>_<set>.json``), scored together with the records' TPE and
   random (and an anchor where it has 10 seeds on every problem of the kind).
3. The Matérn-3/2-by-evidence lever (``m32``) against the library unchanged on seeds
   10-19 (``opt6_base_s10`` runs hyperstep and random there) and on seeds 0-19.
4. The noise-aware kernel choices (``NOISE_AWARE``, runs ``opt7_<lever>_<set>_*.json``) against
   the library unchanged and ``m32`` on seeds 0-19, per kind and per problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks import broad_holdout, broad_problems, scoring
from benchmarks.broad_problems import KINDS

R = Path(__file__).resolve().parent / "results"
LEVERS = ["m32", "m32m1", "sweep", "sweep3", "null", "null2"]
NOISE_AWARE = ["nf", "nfm", "nfq"]
"""Round six's second pass: ``m32`` with the kernels compared again without the noise cap where
a fit reaches it (``nf``), and that with Matérn-3/2 taken only by a Bayes factor of 10 (``nfm``)."""
RECORDS = {"tuned": "broad_r5_anchors6.json", "holdout": "broad_holdout_r5_anchors6.json"}


def load(name: str) -> dict:
    return json.loads((R / name).read_text())


def best_by_round(a: list) -> np.ndarray:
    x = np.array(a, dtype=float)
    return np.minimum.accumulate(np.where(np.isfinite(x), x, np.inf).min(-1), axis=1)


def instrument() -> None:
    rec = load(RECORDS["tuned"])
    print("1. tuned multimodal, hyperstep 06c59eb vs HEBO (10 seeds each): mean best after rounds 1/3/5/7/9/12;")
    print("   rounds 8-12 (of 50 seed-rounds) that improved the best")
    for p in ("rastrigin10-shifted", "schwefel10", "styblinski-tang16", "michalewicz10"):
        for m in ("hyperstep", "hebo"):
            best = best_by_round(rec["losses"][p][m])
            late = int((np.diff(best, axis=1) < 0)[:, 6:].sum())
            print(f"   {p:20s} {m:9s}", np.round(best.mean(0)[[0, 2, 4, 6, 8, 11]], 2), "late improvements", late)


def levers() -> None:
    print("\n2. per kind, hyperstep seeds 0-9, scored together")
    for which, probs in (("tuned", broad_problems.problems()), ("holdout", broad_holdout.problems())):
        rec = load(RECORDS[which])
        lev = {}
        for name in LEVERS:
            f = R / f"opt6_{name}_{which}.json"
            runs = load(f.name)["losses"] if f.exists() else {}
            lev[name] = {p: np.array(m["hyperstep"], float) for p, m in runs.items()}
        anchors = ("hebo", "optuna-gp", "optuna-tpe")
        print(f"| {which} kind | hyperstep (records) | " + " | ".join(LEVERS) + " | HEBO | Optuna GP | TPE |")
        for kind in KINDS:
            ps = [p.name for p in probs if p.kind == kind]
            have = [n for n in LEVERS if all(p in lev[n] for p in ps)]
            losses = {}
            for p in ps:
                by = rec["losses"][p]
                losses[p] = {m: np.array(by[m], float) for m in ("hyperstep", "random", "optuna-tpe")}
                for m in ("hebo", "optuna-gp"):
                    if all(len(rec["losses"][q].get(m, [])) == 10 for q in ps):
                        losses[p][m] = np.array(by[m], float)
                for n in have:
                    losses[p][n] = lev[n][p]
            pairs = {p: tuple(np.array(a) for a in v) for p, v in rec["random_pairs"].items() if p in losses}
            s = scoring.score(losses, noisy_pairs=pairs)["normalized"]
            cells = [f"{s[m]:.1f}" if m in s else "-" for m in ["hyperstep", *LEVERS, *anchors]]
            print(f"| {kind} | " + " | ".join(cells) + " |")


def twenty_seeds() -> None:
    print("\n3. m32 against the library unchanged, seeds 10-19 and 0-19 (hyperstep and random only)")
    for which, probs in (("tuned", broad_problems.problems()), ("holdout", broad_holdout.problems())):
        rec, base = load(RECORDS[which]), load(f"opt6_base_{which}_s10.json")
        first = load(f"opt6_m32_{which}.json")["losses"]
        new = load("opt6_m32_s10.json")["losses"]
        for kind in ("multimodal", "noisy"):
            ps = [p.name for p in probs if p.kind == kind]
            for label, both in (("seeds 10-19", False), ("seeds 0-19", True)):
                losses, pairs = {}, {}
                for p in ps:
                    h, r = np.array(base["losses"][p]["hyperstep"], float), np.array(base["losses"][p]["random"], float)
                    m = np.array(new[p]["hyperstep"], float)
                    if both:
                        h = np.concatenate([np.array(rec["losses"][p]["hyperstep"], float), h])
                        r = np.concatenate([np.array(rec["losses"][p]["random"], float), r])
                        m = np.concatenate([np.array(first[p]["hyperstep"], float), m])
                    losses[p] = {"hyperstep": h, "random": r, "m32": m}
                    if p in base["random_pairs"]:
                        pp = [np.array(a, float) for a in base["random_pairs"][p]]
                        if both:
                            pp = [np.concatenate([np.array(a, float), b]) for a, b in zip(rec["random_pairs"][p], pp)]
                        pairs[p] = tuple(pp)
                s = scoring.score(losses, noisy_pairs=pairs)["normalized"]
                print(f"   {which:8s} {kind:10s} {label}: hyperstep {s['hyperstep']:.1f}, m32 {s['m32']:.1f}")


def _runs(names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Problem -> method -> losses, the files' seeds concatenated in order (a method absent from one is dropped)."""
    files = [load(n) for n in names]
    out: dict[str, dict[str, np.ndarray]] = {}
    for p in files[0]["losses"]:
        methods = set.intersection(*(set(f["losses"].get(p, {})) for f in files))
        out[p] = {m: np.concatenate([np.array(f["losses"][p][m], float) for f in files]) for m in sorted(methods)}
    return out


def _pairs(names: list[str], problems: list[str]) -> dict[str, tuple[np.ndarray, ...]]:
    files = [load(n)["random_pairs"] for n in names]
    return {
        p: tuple(np.concatenate([np.array(f[p][i], float) for f in files]) for i in range(2))
        for p in problems
        if all(p in f for f in files)
    }


def _paired_bootstrap(
    losses: dict[str, dict[str, np.ndarray]],
    pairs: dict[str, tuple[np.ndarray, ...]],
    levers: list[str],
    draws: int = 200,
) -> str:
    """The standard deviation of each lever's kind score minus the unchanged library's when the
    seeds are resampled (the same seeds for every method and problem; random search's too)."""
    rng = np.random.default_rng(0)
    diffs: dict[str, list[float]] = {m: [] for m in levers}
    for _ in range(draws):
        pick = rng.integers(0, 20, 20)
        sub = {p: {m: a[pick] for m, a in v.items()} for p, v in losses.items()}
        sub_pairs = {p: tuple(a[pick] for a in v) for p, v in pairs.items()}
        s = scoring.score(sub, noisy_pairs=sub_pairs)["normalized"]
        for m in levers:
            diffs[m].append(s[m] - s["hyperstep"])
    return " / ".join(f"{m} {np.std(d):.1f}" for m, d in diffs.items())


def noise_aware(kinds: tuple[str, ...] = ("multimodal", "noisy")) -> None:
    print(
        "\n4. noise-aware kernel choices ("
        + ", ".join(NOISE_AWARE)
        + ") against the library unchanged and m32, seeds 0-19"
    )
    print("   (hyperstep and random only; the null draws, seeds 0-9 only, in table 2)")
    for which, probs in (("tuned", broad_problems.problems()), ("holdout", broad_holdout.problems())):
        base = _runs([RECORDS[which], f"opt6_base_{which}_s10.json"])
        m32 = _runs([f"opt6_m32_{which}.json", "opt6_m32_s10.json"])
        new: dict[str, dict[str, np.ndarray]] = {}
        for lever in NOISE_AWARE:
            new[lever] = {}
            for f in sorted(R.glob(f"opt7_{lever}_{which}_*.json")):
                runs = load(f.name)["losses"].items()
                new[lever].update({p: np.array(v["hyperstep"], float) for p, v in runs if "hyperstep" in v})
        for kind in kinds:
            ps = [p.name for p in probs if p.kind == kind and all(len(new[v].get(p.name, [])) == 20 for v in new)]
            if not ps:
                continue
            losses = {}
            for p in ps:
                losses[p] = {"hyperstep": base[p]["hyperstep"], "random": base[p]["random"]}
                losses[p].update({v: new[v][p] for v in new})
                if p in m32 and len(m32[p].get("hyperstep", [])) == 20:
                    losses[p]["m32"] = m32[p]["hyperstep"]
            pairs = _pairs([RECORDS[which], f"opt6_base_{which}_s10.json"], ps)
            s = scoring.score(losses, noisy_pairs=pairs)
            names = [m for m in ("hyperstep", "m32", *NOISE_AWARE) if m in s["normalized"]]
            cells = " / ".join(f"{m} {s['normalized'][m]:.1f}" for m in names)
            print(f"   {which:8s} {kind:10s} ({len(ps)} problems): {cells}")
            spread = _paired_bootstrap(losses, pairs, [m for m in names if m != "hyperstep"])
            print("      paired bootstrap over the 20 seeds, sd of (lever - unchanged): " + spread)
            for p in ps:
                one = scoring.score({p: losses[p]}, noisy_pairs={p: pairs[p]} if p in pairs else None)["normalized"]
                print(f"      {p:26s} " + " / ".join(f"{m} {one[m]:.1f}" for m in names if m in one))


def probe_kernels(names: list[str], seeds: list[int]) -> None:
    """At every objective-GP fit of a hyperstep run (from the library on ``PYTHONPATH``, with
    ``kernels``), each kernel's MAP fit with the noise capped (the library's cap) and free up
    to a variance of 1: negative log posterior, noise and signal variance (warped units).
    Plain numeric spaces only (no one-hot or conditional columns). ``results/opt7_probe_kernels.txt``."""
    import math

    from benchmarks import broad
    from hyperstep.strategies import gp

    fit_map = gp.fit_map

    def logged(X, y, rng, restarts=2, maxiter=None, onehot=None, features=None, length_mode=0.5, *rest):
        out = fit_map(X, y, rng, restarts, maxiter, onehot, features, length_mode, *rest)
        if rest and len(rest[0]) > 1:
            row, d = [f"n={len(y)} kept={out[1]}"], X.shape[1]
            D2 = (X[:, None, :] - X[None, :, :]) ** 2
            for cap in (gp.LOG_NOISE_BOUNDS[1], 0.0):
                saved, gp.LOG_NOISE_BOUNDS = gp.LOG_NOISE_BOUNDS, (gp.LOG_NOISE_BOUNDS[0], cap)
                for nu in (2.5, 1.5):
                    th, _ = fit_map(X, y, np.random.default_rng(0), 2, maxiter, onehot, features, length_mode, (nu,))
                    v = gp._neg_log_posterior(th, D2, y, gp.Prior(length_mode=length_mode), None, nu)[0]
                    noise, signal = math.exp(th[d + 1]), math.exp(th[d])
                    row.append(f"cap{math.exp(cap):.1f}/nu{nu}:{v:.2f}/noise{noise:.3f}/sig{signal:.2f}")
                gp.LOG_NOISE_BOUNDS = saved
            print(" ".join(row), flush=True)
        return out

    gp.fit_map = logged
    problems = {p.name: p for p in [*broad_problems.problems(), *broad_holdout.problems()]}
    for name in names:
        for seed in seeds:
            print(f"== {name} seed {seed}", flush=True)
            losses, _, _ = broad.run_one(problems[name], "hyperstep", seed, 12, 4)
            print(f"final {np.nanmin(losses):.3f}", flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", nargs="+", default=None, help="problems to probe the kernel fits on (no tables)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    if args.probe:
        probe_kernels(args.probe, args.seeds)
    else:
        instrument()
        levers()
        twenty_seeds()
        noise_aware()
