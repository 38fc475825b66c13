"""Issue 14 round six (opt-6): how the tables of benchmarks/README.md "Issue 14, round six" were computed.

Run from the repository root: ``.venv/bin/python benchmarks/results/opt6_score.py``.

1. The tuned multimodal kind, the records' hyperstep (06c59eb) against HEBO's 10 seeds
   (``broad_r5_anchors6.json``): mean best by round, and how many rounds from the 8th on
   improved the best.
2. Per kind, the records' hyperstep and every lever that ran the whole kind (hyperstep
   seeds 0-9, ``opt6_<lever>_<set>.json``), scored together with the records' TPE and
   random (and an anchor where it has 10 seeds on every problem of the kind).
3. The Matérn-3/2-by-evidence lever (``m32``) against the library unchanged on seeds
   10-19 (``opt6_base_s10`` runs hyperstep and random there) and on seeds 0-19.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import broad_holdout, broad_problems, scoring
from benchmarks.broad_problems import KINDS

R = Path(__file__).resolve().parent
LEVERS = ["m32", "m32m1", "sweep", "sweep3", "null", "null2"]
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


if __name__ == "__main__":
    instrument()
    levers()
    twenty_seeds()
