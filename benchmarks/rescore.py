"""Score a broad-set record again from its stored losses, with the current ``scoring``.

A record (``results/NAME.json`` written by ``benchmarks.broad``) keeps every method's
losses per problem and seed (on a noisy problem: the true loss at each round's
recommendation, ``broad.recommended_true``) and random search's (noisy, true) pairs:
all the scoring needs. This recomputes ``scores`` and rewrites ``NAME.md`` and
``NAME.json`` with the record's own config, seconds and losses; nothing runs again.
``--check`` only prints which per-kind scores would change.

    .venv/bin/python -m benchmarks.rescore broad_r8 broad_holdout_r8
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmarks import broad, reporting


def rescored(data: dict[str, Any]) -> dict[str, Any]:
    """The record ``data`` with its ``scores`` recomputed from its losses and pairs (summed in the run's order)."""
    kinds = {p.name: p.kind for p in broad.SETS["all"]()}
    order = data["config"]["problems"]  # the run's order (the JSON's keys are sorted)
    losses = {p: {m: np.array(a, dtype=float) for m, a in data["losses"][p].items()} for p in order}
    pairs = {p: (np.array(n, dtype=float), np.array(t, dtype=float)) for p, (n, t) in data["random_pairs"].items()}
    return {**data, "scores": broad.score_by_kind(losses, kinds, pairs)}


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per kind (and 'all', 'mean_of_kinds') whose score moved, old -> new per method."""
    rows = {**old["per_kind"], "all": old["all"], "mean_of_kinds": old["mean_of_kinds"]}
    fresh = {**new["per_kind"], "all": new["all"], "mean_of_kinds": new["mean_of_kinds"]}
    out = []
    for kind, by in rows.items():
        moved = {m: (v, fresh[kind][m]) for m, v in by.items() if abs(v - fresh[kind][m]) > 1e-9}
        if moved:
            out.append(f"{kind}: " + ", ".join(f"{m} {a:.1f} -> {b:.1f}" for m, (a, b) in moved.items()))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="records in benchmarks/results (NAME.json, NAME.md)")
    parser.add_argument("--check", action="store_true", help="print the changes only; write nothing")
    args = parser.parse_args(argv)
    for name in args.names:
        data = json.loads((reporting.RESULTS / f"{name}.json").read_text())
        new = rescored(data)
        print(name, *(changes(data["scores"], new["scores"]) or ["unchanged"]), sep="\n  ")
        if not args.check:
            text = broad.markdown(new["scores"], new["config"], new["optimizer_seconds"])
            reporting.write(name, text, new)


if __name__ == "__main__":
    main()
