"""HEBO behind a JSON-lines protocol on stdin/stdout, run with the HEBO virtualenv's Python.

HEBO 0.3.6 pins numpy < 1.25 and torch, so it cannot share the benchmarks' virtualenv;
``benchmarks.optimizers.HeboOptimizer`` starts this file as a child process (one per run)
and talks to it line by line. This file imports neither hyperstep nor the benchmarks.

Requests and replies (one JSON object per line):

* ``{"op": "init", "seed": 0, "params": [{"name", "type", "low", "high", "scale", "choices"}]}``
  -> ``{"ok": true}``
* ``{"op": "ask", "n": 4}`` -> ``{"ok": true, "params": [{name: value}, ...]}``
* ``{"op": "tell", "params": [...], "losses": [float, ...]}`` -> ``{"ok": true}``

Errors reply ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def hebo_space(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HEBO design-space entries for hyperstep-style parameter dicts."""
    out = []
    for p in params:
        kind, log = p["type"], p.get("scale") == "log"
        if kind == "categorical":
            out.append({"name": p["name"], "type": "cat", "categories": [str(c) for c in p["choices"]]})
        elif kind == "float":
            out.append({"name": p["name"], "type": "pow" if log else "num", "lb": p["low"], "ub": p["high"]})
        else:
            out.append({"name": p["name"], "type": "pow_int" if log else "int", "lb": p["low"], "ub": p["high"]})
    return out


class Worker:
    def __init__(self) -> None:
        self.opt: Any = None
        self.choices: dict[str, dict[str, Any]] = {}

    def init(self, req: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        import torch
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO

        seed = int(req["seed"])
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        self.choices = {
            p["name"]: {str(c): c for c in p["choices"]} for p in req["params"] if p["type"] == "categorical"
        }
        self.ints = {p["name"] for p in req["params"] if p["type"] == "int"}
        self.opt = HEBO(DesignSpace().parse(hebo_space(req["params"])), scramble_seed=seed)
        return {"ok": True}

    def ask(self, req: dict[str, Any]) -> dict[str, Any]:
        frame = self.opt.suggest(n_suggestions=int(req["n"]))
        rows = []
        for record in frame.to_dict(orient="records"):
            row = {}
            for name, value in record.items():
                if name in self.choices:
                    row[name] = self.choices[name][str(value)]
                elif name in self.ints:
                    row[name] = round(float(value))
                else:
                    row[name] = float(value)
            rows.append(row)
        return {"ok": True, "params": rows}

    def tell(self, req: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame(
            [{k: (str(v) if k in self.choices else v) for k, v in row.items()} for row in req["params"]]
        )
        y = np.array([[float(v)] for v in req["losses"]])
        if len(frame) and all(math.isfinite(v[0]) for v in y):
            self.opt.observe(frame, y)
        return {"ok": True}


def main() -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # HEBO and its optimizers print progress: keep it off the protocol
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            reply = getattr(worker, req["op"])(req)
        except Exception as exc:  # the parent reports it; the worker keeps serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
