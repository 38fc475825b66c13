"""Train a small MLP on scikit-learn's digits, epoch by epoch: a script for early stopping.

Each epoch is one ``MLPClassifier.partial_fit`` pass over the training split, then the
validation log-loss is reported at that step (``hyperstep.report(..., step=epoch)``,
which prints ``val_loss=<value>``: the line the spec's regex reads, one per epoch). Under
``hyperstep run`` with ``early_stopping``, hyperstep reads those lines as the trial trains
and kills a trial its scheduler stops; the last epoch's report is final.

``EPOCH_SECONDS`` (environment, default 0) pauses after each epoch: it stands for the
training time of a bigger model, so the example shows trials stopped while they run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

try:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
except ModuleNotFoundError:  # `pip install hyperstep` alone brings no scikit-learn: say so in one line
    sys.exit("examples/mlp-digits needs scikit-learn: pip install scikit-learn")

try:
    from hyperstep import report
except ImportError:  # no hyperstep where it runs: the printed line is all the regex needs

    def report(metrics: dict[str, float], step: int | None = None, final: bool | None = None) -> None:
        for name, value in metrics.items():
            print(f"{name}={value:.6f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate_init", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=27)
    args = parser.parse_args()
    pause = float(os.environ.get("EPOCH_SECONDS", "0"))

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,), learning_rate_init=args.learning_rate_init, alpha=args.alpha, random_state=0
    )
    classes = np.unique(y)
    for epoch in range(1, args.epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X_train, y_train, classes=classes)
        loss = log_loss(y_val, np.clip(model.predict_proba(X_val), 1e-12, 1.0), labels=classes)
        report({"val_loss": loss}, step=epoch, final=epoch == args.epochs)
        time.sleep(pause)


if __name__ == "__main__":
    main()
