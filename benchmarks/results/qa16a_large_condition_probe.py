"""qa-16a's probe (``qa16a_large_condition.md``): one profiled bayesian ``ask(4)`` on a space with a
1,000-choice categorical parent. ``python benchmarks/results/qa16a_large_condition_probe.py cond|flat``."""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

from hyperstep import Study

CHOICES = [f"v{i}" for i in range(1000)]


def main(conditional: bool) -> None:
    y = {"name": "y", "type": "float", "low": 0, "high": 1}
    space = [
        {"name": "c", "type": "categorical", "choices": CHOICES},
        {"name": "x", "type": "float", "low": 0, "high": 1},
        {**y, "when": {"c": CHOICES[::2]}} if conditional else y,
    ]
    study = Study(space, goal="minimize", strategy="bayesian", seed=0)
    for _ in range(4):
        for trial in study.ask(4):
            i = int(trial.params["c"][1:])
            study.tell(trial.id, abs(i - 500) / 500 + trial.params["x"] + trial.params.get("y", 0.3))
    start = time.time()
    profile = cProfile.Profile()
    profile.enable()
    study.ask(4)
    profile.disable()
    print("bayes ask", time.time() - start)
    pstats.Stats(profile).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main(sys.argv[1] == "cond")
