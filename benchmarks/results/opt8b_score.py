"""Issue 14 round eight (branch opt-8b): the late-phase batch levers scored against the records.

Run from the repository root: ``.venv/bin/python benchmarks/results/opt8b_score.py [--seeds20] LEVER...``.

Seeds 0-9: the records (``broad_r6.json``, ``broad_holdout_r6.json``: hyperstep 06c59eb, random,
TPE, Optuna GP, HEBO) and each lever's runs (``opt8b_<lever>_*.json``, hyperstep only), scored
together per kind (only kinds every lever ran whole). ``--seeds20``: hyperstep and random of
seeds 0-19 (seeds 10-19 from ``opt6_base_*_s10.json`` and ``opt8b_base_*_s10*.json``) against each
lever's seeds 0-19, with the paired-bootstrap spread of (lever - unchanged).
Also the rounds 8-12 (of seed-rounds) that improved the best, per problem of the multimodal kind.
A lever named ``opt8_<name>`` is read from ``opt8_<name>_<set>_*.json`` and ``opt8_<name>_bm_*.json``
instead (branch opt-8's additive kernel ``opt8_sum``; the two levers together ``opt8_combo``), so
``opt8b_score.py pa1g opt8_sum opt8_combo`` puts both levers and their combination in one scoring.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import broad_holdout, broad_problems, scoring
from benchmarks.broad_problems import KINDS
from benchmarks.strategy_levers import _paired_bootstrap

R = Path(__file__).resolve().parent
RECORDS = {"tuned": "broad_r6.json", "holdout": "broad_holdout_r6.json"}
PROBLEMS = {"tuned": broad_problems.problems, "holdout": broad_holdout.problems}


def load(name: str) -> dict:
    return json.loads((R / name).read_text())


def runs(pattern: str) -> dict[str, dict[int, np.ndarray]]:
    """Problem -> seed -> losses of hyperstep (or random) from every file matching ``pattern``."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for f in sorted(R.glob(pattern)):
        d = load(f.name)
        seeds = d["config"]["seeds"] if "config" in d and "seeds" in d["config"] else None
        for p, by in d["losses"].items():
            for m, arr in by.items():
                key = p if m == "hyperstep" else f"{p}|{m}"
                for s, a in zip(seeds or range(len(arr)), arr):
                    out.setdefault(key, {})[int(s)] = np.array(a, float)
    return out


def lever_files(lever: str, which: str) -> str:
    """The glob of a lever's runs on one set (see the module docstring)."""
    return f"{lever}_{which}_*.json" if lever.startswith("opt8_") else f"opt8b_{lever}_{which}*.json"


def stack(by_seed: dict[int, np.ndarray] | None, seeds: range) -> np.ndarray | None:
    if by_seed is None or any(s not in by_seed for s in seeds):
        return None
    return np.stack([by_seed[s] for s in seeds])


def late_improvements(a: np.ndarray) -> int:
    best = np.minimum.accumulate(np.where(np.isfinite(a), a, np.inf).min(-1), axis=1)
    return int((np.diff(best, axis=1) < 0)[:, 6:].sum())


def ten_seeds(levers: list[str]) -> None:
    print("seeds 0-9, scored with the records' methods")
    for which in ("tuned", "holdout"):
        rec = load(RECORDS[which])
        lev = {v: runs(lever_files(v, which)) for v in levers}
        probs = PROBLEMS[which]()
        head = ["hyperstep", *levers, "hebo", "optuna-gp", "optuna-tpe"]
        print(f"| {which} kind | " + " | ".join(head) + " |")
        print("|---" * (len(head) + 1) + "|")
        all_losses, all_pairs = {}, {}
        for kind in KINDS:
            ps = [p.name for p in probs if p.kind == kind]
            have = [v for v in levers if all(stack(lev[v].get(p), range(10)) is not None for p in ps)]
            if not have:
                continue
            losses = {}
            for p in ps:
                losses[p] = {m: np.array(a, float) for m, a in rec["losses"][p].items()}
                for v in have:
                    losses[p][v] = stack(lev[v][p], range(10))
            pairs = {p: tuple(np.array(a) for a in v) for p, v in rec["random_pairs"].items() if p in losses}
            s = scoring.score(losses, noisy_pairs=pairs)
            cells = [f"{s['normalized'][m]:.1f}" if m in s["normalized"] else "-" for m in head]
            print(f"| {kind} | " + " | ".join(cells) + " |")
            for p in ps:
                one = s["per_problem"][p]
                late = {m: late_improvements(losses[p][m]) for m in ("hyperstep", *have, "hebo")}
                print(
                    f"|   {p} | "
                    + " | ".join(f"{one[m]:.1f}" if m in one else "-" for m in head)
                    + " | late improvements "
                    + ", ".join(f"{m} {n}" for m, n in late.items())
                    + " |"
                )
            if len(have) == len(levers):
                all_losses.update(losses)
                all_pairs.update(pairs)
        if all_losses and len(all_losses) == len(probs):
            s = scoring.score(all_losses, noisy_pairs=all_pairs)["normalized"]
            print("| all | " + " | ".join(f"{s[m]:.1f}" if m in s else "-" for m in head) + " |")


def twenty_seeds(levers: list[str]) -> None:
    print("\nseeds 0-19: hyperstep (records + base s10) and random against each lever; paired bootstrap sd")
    for which in ("tuned", "holdout"):
        rec = load(RECORDS[which])
        base = runs(f"opt6_base_{which}_s10.json")
        base.update({k: {**base.get(k, {}), **v} for k, v in runs(f"opt8b_base_{which}_s10*.json").items()})
        lev = {v: runs(lever_files(v, which)) for v in levers}
        probs = PROBLEMS[which]()
        all_losses, all_pairs = {}, {}
        for kind in KINDS:
            ps = [p.name for p in probs if p.kind == kind]
            losses, pairs = {}, {}
            ok = True
            for p in ps:
                h = stack(base.get(p), range(10, 20))
                r = stack(base.get(f"{p}|random"), range(10, 20))
                if h is None or r is None:
                    ok = False
                    break
                losses[p] = {
                    "hyperstep": np.concatenate([np.array(rec["losses"][p]["hyperstep"], float), h]),
                    "random": np.concatenate([np.array(rec["losses"][p]["random"], float), r]),
                }
                for v in levers:
                    a = stack(lev[v].get(p), range(20))
                    if a is not None:
                        losses[p][v] = a
                if p in rec["random_pairs"]:
                    extra = None
                    names = [f"opt6_base_{which}_s10.json", *[x.name for x in R.glob(f"opt8b_base_{which}_s10*.json")]]
                    for f in names:
                        d = load(f)
                        if p in d.get("random_pairs", {}):
                            extra = d["random_pairs"][p]
                    if extra is None:
                        ok = False
                        break
                    both = zip(rec["random_pairs"][p], extra)
                    pairs[p] = tuple(np.concatenate([np.array(a, float), np.array(b, float)]) for a, b in both)
            have = [v for v in levers if ok and all(v in losses[p] for p in ps)]
            if not ok or not have:
                continue
            keep = ("hyperstep", "random", *have)
            losses = {p: {m: a for m, a in by.items() if m in keep} for p, by in losses.items()}
            s = scoring.score(losses, noisy_pairs=pairs)
            spread = _paired_bootstrap(losses, pairs, have)
            cells = " / ".join(f"{m} {s['normalized'][m]:.1f}" for m in ("hyperstep", *have))
            print(f"   {which:8s} {kind:10s} {cells}   (sd of diff: {spread})")
            for p in ps:
                print(f"      {p:28s} " + " / ".join(f"{m} {s['per_problem'][p][m]:.1f}" for m in ("hyperstep", *have)))
            if len(have) == len(levers):
                all_losses.update(losses)
                all_pairs.update(pairs)
        if len(all_losses) == len(probs):
            s = scoring.score(all_losses, noisy_pairs=all_pairs)["normalized"]
            print(f"   {which:8s} all        " + " / ".join(f"{m} {s[m]:.1f}" for m in ("hyperstep", *levers)))


def bayesmark(levers: list[str]) -> None:
    """The Bayesmark-style quick record (``bayesmark_r5_seeds10.json``) with each lever's
    hyperstep (``opt8b_bm_<lever>.json``) as one more column."""
    rec = load("bayesmark_r5_seeds10.json")["losses"]
    bm = {v: sorted(R.glob(f"{v}_bm_*.json" if v.startswith("opt8_") else f"opt8b_bm_{v}.json")) for v in levers}
    have = [v for v in levers if bm[v]]
    if not have:
        return
    losses = {p: {m: np.array(a, float) for m, a in by.items()} for p, by in rec.items()}
    for v in have:
        for f in bm[v]:
            for p, by in load(f.name)["losses"].items():
                if len(by.get("hyperstep", [])) == 10:
                    losses[p][v] = np.array(by["hyperstep"], float)
    losses = {p: by for p, by in losses.items() if all(v in by for v in have)}
    s = scoring.score(losses)
    print(
        f"\nBayesmark-style quick, seeds 0-9 ({len(losses)} problems): "
        + ", ".join(f"{m} {x:.1f}" for m, x in s["normalized"].items())
    )
    for p in losses:
        print(f"   {p:22s} " + ", ".join(f"{m} {x:.1f}" for m, x in s["per_problem"][p].items()))


def noisy_thirty(lever: str = "pa1g") -> None:
    """The noisy kinds on seeds 0-29: the library unchanged (records, ``opt6_base_*_s10``,
    ``opt8b_base_*_s20_noisy``, with random) against ``lever`` (``opt8b_<lever>_*``)."""
    print(f"\nnoisy kinds, seeds 0-29: hyperstep unchanged against {lever} (hyperstep and random only)")
    for which in ("tuned", "holdout"):
        files = [RECORDS[which], f"opt6_base_{which}_s10.json", f"opt8b_base_{which}_s20_noisy.json"]
        if not all((R / f).exists() for f in files):
            continue
        data = [load(f) for f in files]
        lev = runs(f"opt8b_{lever}_{which}*.json")
        ps = [p.name for p in PROBLEMS[which]() if p.kind == "noisy"]
        losses, pairs = {}, {}
        for p in ps:
            losses[p] = {
                m: np.concatenate([np.array(d["losses"][p][m], float) for d in data]) for m in ("hyperstep", "random")
            }
            losses[p][lever] = stack(lev[p], range(30))
            pairs[p] = tuple(np.concatenate([np.array(d["random_pairs"][p][i], float) for d in data]) for i in range(2))
        s = scoring.score(losses, noisy_pairs=pairs)
        print(f"   {which:8s} noisy: " + " / ".join(f"{m} {s['normalized'][m]:.1f}" for m in ("hyperstep", lever)))
        for p in ps:
            print(f"      {p:28s} " + " / ".join(f"{m} {s['per_problem'][p][m]:.1f}" for m in ("hyperstep", lever)))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ten_seeds(args)
    bayesmark(args)
    if "--seeds20" in sys.argv:
        twenty_seeds(args)
    if "--noisy30" in sys.argv:
        noisy_thirty()
