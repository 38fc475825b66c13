"""Issue 14 round eight: the additive-kernel lever's kind tables (benchmarks/README.md, "Issue 14,
round eight: the additive kernel").

Run from the repository root: ``PYTHONPATH=. .venv/bin/python benchmarks/results/opt8_score.py [LEVER ...]``.
For each set and kind, the library unchanged (the records' hyperstep seeds 0-9 in
``broad_*_r5_anchors6.json`` and, where they exist, ``opt6_base_*_s10.json`` seeds 10-19) and each
lever (``opt8_<lever>_<set>_*.json`` or ``.partial.json``, hyperstep seeds in file order) are
scored together with random search; a kind is scored on the seeds every method has on all its
problems. With 20 seeds, the paired bootstrap's standard deviation of (lever - unchanged).
``opt8b_<name>`` is branch opt-8b's lever of that name (``opt8b_pa1g``), ``r8`` the round-eight
records (``broad_r8.json``, ``broad_holdout_r8.json``, ``bayesmark_r8.json``; benchmarks/README.md,
"Issue 14, round eight: the records").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from benchmarks import broad_holdout, broad_problems, scoring
from benchmarks.broad_problems import KINDS

R = Path(__file__).resolve().parent
RECORDS = {"tuned": "broad_r5_anchors6.json", "holdout": "broad_holdout_r5_anchors6.json"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def _seeds(f: dict) -> list[int]:
    return list(f["config"]["seeds"])


def runs(files: list[Path]) -> dict[str, dict[int, tuple]]:
    """problem -> seed -> (hyperstep losses, random losses or None, random pair or None)."""
    out: dict[str, dict[int, tuple]] = {}
    for path in files:
        f = load(path)
        for p, by in f["losses"].items():
            if "hyperstep" not in by:
                continue
            for i, s in enumerate(_seeds(f)[: len(by["hyperstep"])]):
                rnd = by["random"][i] if "random" in by and i < len(by["random"]) else None
                pair = None
                if p in f.get("random_pairs", {}) and i < len(f["random_pairs"][p][0]):
                    pair = (f["random_pairs"][p][0][i], f["random_pairs"][p][1][i])
                out.setdefault(p, {})[s] = (by["hyperstep"][i], rnd, pair)
    return out


def base_runs(which: str) -> dict[str, dict[int, tuple]]:
    files = [R / RECORDS[which]]
    files += sorted(R.glob(f"opt6_base_{which}_s10.json")) + sorted(R.glob(f"opt8_base_{which}_*.json"))
    return runs(files)


R8 = {"tuned": "broad_r8.json", "holdout": "broad_holdout_r8.json", "bm": "bayesmark_r8.json"}
"""The round-eight records (lever ``r8``): hyperstep's runs in them are the chosen default's."""


def lever_files(lever: str, which: str) -> list[Path]:
    """A lever's runs on one set (``which`` = "bm": the Bayesmark-style ones): ``opt8_<lever>_*``;
    ``opt8b_<name>`` reads branch opt-8b's files, ``r8`` the round-eight records."""
    if lever == "r8":
        return [R / R8[which]] if (R / R8[which]).exists() else []
    if lever.startswith("opt8b_"):
        name = f"opt8b_bm_{lever[6:]}.json" if which == "bm" else f"{lever}_{which}*.json"
        return sorted(R.glob(name))
    return sorted(R.glob(f"opt8_{lever}_{which}_*.json"))


def lever_runs(lever: str, which: str) -> dict[str, dict[int, tuple]]:
    return runs(lever_files(lever, which))


def bootstrap(losses: dict, pairs: dict, levers: list[str], k: int, draws: int = 200) -> dict[str, float]:
    rng = np.random.default_rng(0)
    diffs: dict[str, list[float]] = {m: [] for m in levers}
    for _ in range(draws):
        pick = rng.integers(0, k, k)
        sub = {p: {m: a[pick] for m, a in v.items()} for p, v in losses.items()}
        sub_pairs = {p: tuple(a[pick] for a in v) for p, v in pairs.items()}
        s = scoring.score(sub, noisy_pairs=sub_pairs)["normalized"]
        for m in levers:
            diffs[m].append(s[m] - s["hyperstep"])
    return {m: float(np.std(d)) for m, d in diffs.items()}


def table(levers: list[str], seed_sets: list[tuple[int, int]]) -> None:
    for which, probs in (("tuned", broad_problems.problems()), ("holdout", broad_holdout.problems())):
        base = base_runs(which)
        lev = {name: lever_runs(name, which) for name in levers}
        for lo, hi in seed_sets:
            seeds = list(range(lo, hi))
            head = f"\n{which}, seeds {lo}-{hi - 1}: kind | unchanged | " + " | ".join(levers)
            print(head + " | bootstrap sd of the difference")
            for kind in KINDS:
                ps = [p.name for p in probs if p.kind == kind]
                have = [n for n in levers if all(all(s in lev[n].get(p, {}) for s in seeds) for p in ps)]
                if not have or not all(all(s in base.get(p, {}) for s in seeds) for p in ps):
                    continue
                losses, pairs, per = {}, {}, {}
                for p in ps:
                    losses[p] = {
                        "hyperstep": np.array([base[p][s][0] for s in seeds], float),
                        "random": np.array([base[p][s][1] for s in seeds], float),
                    }
                    for n in have:
                        losses[p][n] = np.array([lev[n][p][s][0] for s in seeds], float)
                    if base[p][seeds[0]][2] is not None:
                        pairs[p] = tuple(np.array([base[p][s][2][i] for s in seeds], float) for i in range(2))
                s = scoring.score(losses, noisy_pairs=pairs)["normalized"]
                sd = bootstrap(losses, pairs, have, len(seeds)) if len(seeds) >= 10 else {}
                cells = " | ".join(f"{s[n]:.1f}" if n in s else "-" for n in levers)
                sds = " / ".join(f"{sd[n]:.1f}" for n in have if n in sd)
                print(f"| {kind} | {s['hyperstep']:.1f} | {cells} | {sds} |")
                for p in ps:
                    one = scoring.score({p: losses[p]}, noisy_pairs={p: pairs[p]} if p in pairs else None)["normalized"]
                    per[p] = " / ".join(f"{m} {one[m]:.1f}" for m in ["hyperstep", *have])
                    print(f"      {p:28s} {per[p]}")


RECORDS_R6 = {"tuned": "broad_r6.json", "holdout": "broad_holdout_r6.json"}


def records(lever: str) -> None:
    """The round-six records (every method seeds 0-9) with hyperstep's runs replaced by the
    lever's seeds 0-9: per kind and over all problems, as the records' tables score them."""
    from benchmarks.broad import score_by_kind

    for which, probs in (("tuned", broad_problems.problems()), ("holdout", broad_holdout.problems())):
        rec = load(R / RECORDS_R6[which])
        lev = lever_runs(lever, which)
        kinds = {p.name: p.kind for p in probs}
        if not all(all(s in lev.get(p, {}) for s in range(10)) for p in kinds):
            print(f"{which}: the lever lacks seeds 0-9 on some problem")
            continue
        pairs = {p: tuple(np.array(a, float) for a in v) for p, v in rec["random_pairs"].items()}
        out = {}
        for label in ("records", lever):
            losses = {p: {m: np.array(a, float) for m, a in by.items()} for p, by in rec["losses"].items()}
            if label != "records":
                for p in losses:
                    losses[p]["hyperstep"] = np.array([lev[p][s][0] for s in range(10)], float)
            out[label] = score_by_kind(losses, kinds, pairs)
        methods = ["hyperstep", "hebo", "optuna-gp", "optuna-tpe"]
        print(f"\n{which} (records r6, seeds 0-9): kind | hyperstep records | {lever} | HEBO | Optuna GP | TPE")
        print(f"(the anchors' scores are those of the {lever} scoring; best anchor gap = hyperstep - best anchor)")
        for kind in [*KINDS, "all"]:
            a = out["records"]["all"] if kind == "all" else out["records"]["per_kind"][kind]
            b = out[lever]["all"] if kind == "all" else out[lever]["per_kind"][kind]
            gap = b["hyperstep"] - max(b[m] for m in methods[1:])
            cells = " | ".join(f"{b[m]:.1f}" for m in methods[1:])
            print(f"| {kind} | {a['hyperstep']:.1f} | {b['hyperstep']:.1f} | {cells} | gap {gap:+.1f} |")
        for p in [q.name for q in probs if q.kind == "multimodal"]:
            a, b = out["records"]["per_problem"][p], out[lever]["per_problem"][p]
            cells = " / ".join(f"{b[m]:.1f}" for m in methods[1:])
            print(f"      {p:28s} hyperstep {a['hyperstep']:.1f} -> {lever} {b['hyperstep']:.1f}; anchors {cells}")


def bayesmark(lever: str) -> None:
    """The round-five Bayesmark-style record (quick, 12 x 4, every method seeds 0-9) with
    hyperstep's runs replaced by the lever's (``opt8_<lever>_bm_*.json``), where it ran."""
    rec = load(R / "bayesmark_r5_seeds10.json")
    lev: dict[str, list] = {}
    for f in lever_files(lever, "bm"):
        lev.update({p: by["hyperstep"] for p, by in load(f)["losses"].items() if len(by.get("hyperstep", [])) == 10})
    losses = {p: {m: np.array(a, float) for m, a in by.items()} for p, by in rec["losses"].items()}
    before = scoring.score(losses)["normalized"]
    for p in lev:
        losses[p]["hyperstep"] = np.array(lev[p], float)
    after = scoring.score(losses)
    print(f"\nBayesmark-style quick (bayesmark_r5_seeds10, seeds 0-9), hyperstep replaced by {lever} on {sorted(lev)}")
    print("   records: " + ", ".join(f"{m} {v:.1f}" for m, v in before.items()))
    print(f"   {lever}: " + ", ".join(f"{m} {v:.1f}" for m, v in after["normalized"].items()))
    for p, by in after["per_problem"].items():
        print(f"      {p:22s} " + ", ".join(f"{m} {v:.1f}" for m, v in by.items()))


if __name__ == "__main__":
    names = sys.argv[1:] or ["sum"]
    table(names, [(0, 10), (10, 20), (0, 20)])
    for name in names:
        records(name)
        bayesmark(name)
