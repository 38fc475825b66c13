"""Train an SVM on scikit-learn's breast-cancer data: a SageMaker script-mode script.

Hyperparameters arrive as ``--name value`` arguments (SageMaker passes them the same
way); the model goes to ``$SM_MODEL_DIR``; the score is printed as ``accuracy=<value>``
for the job's metric regex. The same file runs under ``hyperstep run``, in a SageMaker
training job and as an AWS Batch job: where hyperstep is installed, ``hyperstep.report``
prints the same line and, inside AWS, also sends it as an event (Batch reads no logs).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

try:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
except ModuleNotFoundError:  # `pip install hyperstep` alone brings no scikit-learn: say so in one line
    sys.exit("examples/svm-breast-cancer needs scikit-learn: pip install scikit-learn")

try:
    from hyperstep import report
except ImportError:  # e.g. SageMaker's scikit-learn image: the printed line is all it needs

    def report(metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            print(f"{name}={value:.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.01)  # absent for a linear kernel
    parser.add_argument("--kernel", default="rbf")
    parser.add_argument("--degree", type=int, default=3)  # passed only for a polynomial kernel
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    args = parser.parse_args()

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(
        StandardScaler(), SVC(C=args.C, gamma=args.gamma, kernel=args.kernel, degree=args.degree, max_iter=200_000)
    )
    scores = cross_val_score(model, X, y, cv=5, scoring="accuracy")
    print(f"fold accuracies: {', '.join(f'{s:.4f}' for s in scores)}")
    report({"accuracy": float(scores.mean())})

    model.fit(X, y)
    Path(args.model_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(args.model_dir) / "model.pkl", "wb") as f:
        pickle.dump(model, f)


if __name__ == "__main__":
    main()
