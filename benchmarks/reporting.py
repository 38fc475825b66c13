"""Writing results: a markdown table for people and a JSON file for tools."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def commit() -> str:
    """The commit measured: ``HYPERSTEP_BENCH_COMMIT`` when set (the commit whose code runs,
    e.g. a ``git archive`` of it on ``PYTHONPATH``); else, in a git checkout, its HEAD (``+``
    when tracked files other than the results differ from it); else "working tree"."""
    given = os.environ.get("HYPERSTEP_BENCH_COMMIT")
    if given:
        return given

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=RESULTS.parent, check=False)
        except OSError:  # no git on the machine
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "working tree"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)benchmarks/results")
    return head + ("+" if changed else "")


def machine() -> dict[str, Any]:
    """Where and when a result was measured."""
    import hyperstep

    return {
        "hyperstep_source": str(Path(hyperstep.__file__).parent),
        "hyperstep_commit": commit(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table; floats get 2 decimals unless already formatted."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 0.01 and v != 0 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def score_tables(scores: dict[str, Any], seconds: dict[str, float], runs: int) -> tuple[list[str], str, str]:
    """Of ``scoring.score``'s ``scores``: the methods, best first; the summary table (both
    scores, and the optimizer's ``seconds`` over ``runs`` runs); the per-problem table."""
    methods = sorted(scores["normalized"], key=lambda m: -scores["normalized"][m])
    summary = table(
        ["method", "normalized score", "Bayesmark leaderboard score", "optimizer s / run"],
        [[m, scores["normalized"][m], scores["leaderboard"][m], seconds.get(m, math.nan) / runs] for m in methods],
    )
    rows = [[p, *[by[m] for m in methods]] for p, by in scores["per_problem"].items()]
    per_problem = table(["problem", *methods], rows)
    return methods, summary, per_problem


def budget_tables(
    scores: dict[int, dict[str, Any]], methods: list[str], groups: list[str], names: list[str], budgets: list[int]
) -> tuple[str, str]:
    """Of scores by budget (``{budget: {group: {method: score}, "per_problem": {name: {method: score}}}}``):
    the table of ``"all"`` and each group at each budget, and the per-problem table."""
    rows = [[f"{g} B={b}", *[scores[b][g][x] for x in methods]] for g in ["all", *groups] for b in budgets]
    per = [[f"{n} B={b}", *[scores[b]["per_problem"][n][x] for x in methods]] for n in names for b in budgets]
    return table(["group, budget", *methods], rows), table(["problem, budget", *methods], per)


def write(name: str, markdown: str, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``results/<name>.md`` and ``results/<name>.json``; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    md_path, json_path = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
    md_path.write_text(markdown.rstrip() + "\n")
    json_path.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")
    return md_path, json_path


def write_final(name: str, markdown: str, data: dict[str, Any]) -> None:
    """A finished run's record: ``write`` it, remove the run's checkpoint
    (``results/<name>.partial.json``) and print the markdown and where it went."""
    paths = write(name, markdown, data)
    (RESULTS / f"{name}.partial.json").unlink(missing_ok=True)
    print(markdown)
    print("wrote", *paths)
