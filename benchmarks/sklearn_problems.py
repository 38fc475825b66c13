"""Bayesmark's scikit-learn tuning problems: models, search spaces, datasets, metrics.

Models and search spaces follow uber/bayesmark ``bayesmark/sklearn_funcs.py``
(``MODELS_CLF``/``MODELS_REG`` and the ``*_cfg`` dicts), with these deviations, all to
fit a 2-core budget or today's scikit-learn:

* 3-fold CV (Bayesmark: 5) with a fixed shuffled split, on the whole dataset (Bayesmark
  also holds out 20% for a generalization loss that its leaderboard does not use).
* ``logit``-scaled reals become linear (hyperstep has no logit scale).
* Models get ``random_state=0`` so the objective is deterministic; MLPs get
  ``max_iter=50`` (default 200), AdaBoost ``n_estimators`` tops out at 50 (Bayesmark:
  100); digits is subsampled to 600 rows.
* Classification lasso/linear are ``OneVsRestClassifier(LogisticRegression(liblinear))``
  (Bayesmark's ``multi_class="ovr"``, which scikit-learn no longer accepts).
* Regression lasso/ridge drop ``normalize`` (removed in scikit-learn 1.2); SVC has
  ``probability=True`` only for the log-loss metric, where it is needed.
* MLP-sgd is left out (MLP-adam stays), to keep the run short.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from hyperstep.space import SearchSpace


def _space(cfg: dict[str, tuple]) -> SearchSpace:
    """Build a SearchSpace from ``{name: (type, scale, low, high)}``; bools are categoricals."""
    params: list[dict[str, Any]] = []
    for name, (kind, scale, low, high) in cfg.items():
        if kind == "bool":
            params.append({"name": name, "type": "categorical", "choices": [True, False]})
        else:
            params.append({"name": name, "type": kind, "low": low, "high": high, "scale": scale})
    return SearchSpace.model_validate({"parameters": params})


KNN = {"n_neighbors": ("int", "linear", 1, 25), "p": ("int", "linear", 1, 4)}
SVM = {
    "C": ("float", "log", 1.0, 1e3),
    "gamma": ("float", "log", 1e-4, 1e-3),
    "tol": ("float", "log", 1e-5, 1e-1),
}
TREE = {
    "max_depth": ("int", "linear", 1, 15),
    "min_samples_split": ("float", "linear", 0.01, 0.99),
    "min_samples_leaf": ("float", "linear", 0.01, 0.49),
    "min_weight_fraction_leaf": ("float", "linear", 0.01, 0.49),
    "max_features": ("float", "linear", 0.01, 0.99),
    "min_impurity_decrease": ("float", "linear", 0.0, 0.5),
}
MLP = {
    "hidden_layer_sizes": ("int", "linear", 50, 200),
    "alpha": ("float", "log", 1e-5, 1e1),
    "batch_size": ("int", "linear", 10, 250),
    "learning_rate_init": ("float", "log", 1e-5, 1e-1),
    "tol": ("float", "log", 1e-5, 1e-1),
    "validation_fraction": ("float", "linear", 0.1, 0.9),
    "beta_1": ("float", "linear", 0.5, 0.99),
    "beta_2": ("float", "linear", 0.9, 1.0 - 1e-6),
    "epsilon": ("float", "log", 1e-9, 1e-6),
}
ADA = {"n_estimators": ("int", "linear", 10, 50), "learning_rate": ("float", "log", 1e-4, 1e1)}
LOGREG = {"C": ("float", "log", 1e-2, 1e2), "intercept_scaling": ("float", "log", 1e-2, 1e2)}
LASSO_REG = {
    "alpha": ("float", "log", 1e-2, 1e2),
    "fit_intercept": ("bool", None, None, None),
    "max_iter": ("int", "log", 10, 5000),
    "tol": ("float", "log", 1e-5, 1e-1),
    "positive": ("bool", None, None, None),
}
RIDGE_REG = {
    "alpha": ("float", "log", 1e-2, 1e2),
    "fit_intercept": ("bool", None, None, None),
    "max_iter": ("int", "log", 10, 5000),
    "tol": ("float", "log", 1e-4, 1e-1),
}

MODELS = ["kNN", "SVM", "DT", "RF", "MLP-adam", "ada", "lasso", "linear"]
DATASETS = {"breast": "clf", "digits": "clf", "iris": "clf", "wine": "clf", "diabetes": "reg"}
METRICS = {"clf": ["acc", "nll"], "reg": ["mse", "mae"]}
SCORERS = {"acc": "accuracy", "nll": "neg_log_loss", "mse": "neg_mean_squared_error", "mae": "neg_mean_absolute_error"}
CV_FOLDS = 3


def model_spec(model: str, kind: str, metric: str) -> tuple[Callable[..., Any], dict[str, Any], dict[str, tuple]]:
    """(estimator class, fixed kwargs, search config) of a Bayesmark model."""
    from sklearn import ensemble, linear_model, neighbors, neural_network, svm, tree

    clf = kind == "clf"
    seeded = {"random_state": 0}
    mlp_fixed = {"solver": "adam", "early_stopping": True, "max_iter": 50, **seeded}
    logreg = {"fit_intercept": True, "solver": "liblinear"}
    table: dict[str, tuple[Callable[..., Any], dict[str, Any], dict[str, tuple]]] = {
        "kNN": (neighbors.KNeighborsClassifier if clf else neighbors.KNeighborsRegressor, {}, KNN),
        "SVM": (svm.SVC, {"kernel": "rbf", "probability": metric == "nll", **seeded}, SVM)
        if clf
        else (svm.SVR, {"kernel": "rbf"}, SVM),
        "DT": (tree.DecisionTreeClassifier if clf else tree.DecisionTreeRegressor, seeded, TREE),
        "RF": (
            ensemble.RandomForestClassifier if clf else ensemble.RandomForestRegressor,
            {"n_estimators": 10, **seeded},
            TREE,
        ),
        "MLP-adam": (neural_network.MLPClassifier if clf else neural_network.MLPRegressor, mlp_fixed, MLP),
        "ada": (ensemble.AdaBoostClassifier if clf else ensemble.AdaBoostRegressor, seeded, ADA),
        "lasso": (_ovr_logistic, {"l1_ratio": 1.0, **logreg}, LOGREG)
        if clf
        else (linear_model.Lasso, seeded, LASSO_REG),
        "linear": (_ovr_logistic, {"l1_ratio": 0.0, **logreg}, LOGREG)
        if clf
        else (linear_model.Ridge, {"solver": "auto"}, RIDGE_REG),
    }
    return table[model]


def _ovr_logistic(**kwargs: Any) -> Any:
    """One-vs-rest logistic regression, as Bayesmark's ``multi_class="ovr"`` was."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(LogisticRegression(**kwargs))


@cache
def load(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and target of a scikit-learn toy dataset (digits subsampled to 600 rows)."""
    from sklearn import datasets

    loaders = {
        "breast": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }
    X, y = loaders[dataset](return_X_y=True)
    if dataset == "digits":
        idx = np.random.default_rng(0).permutation(len(y))[:600]
        X, y = X[idx], y[idx]
    return X.astype(float), y


@dataclass(frozen=True)
class Problem:
    """One tuning problem: a model on a dataset under a metric, as a loss to minimize."""

    model: str
    dataset: str
    metric: str

    @property
    def name(self) -> str:
        return f"{self.model}_{self.dataset}_{self.metric}"

    @property
    def kind(self) -> str:
        return DATASETS[self.dataset]

    @property
    def space(self) -> SearchSpace:
        return _space(model_spec(self.model, self.kind, self.metric)[2])

    def __call__(self, params: dict[str, Any]) -> float:
        """Mean CV loss (the negated scikit-learn score) of the model with ``params``."""
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

        cls, fixed, _ = model_spec(self.model, self.kind, self.metric)
        X, y = load(self.dataset)
        splitter = StratifiedKFold if self.kind == "clf" else KFold
        cv = splitter(n_splits=CV_FOLDS, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(
                cls(**fixed, **params), X, y, scoring=SCORERS[self.metric], cv=cv, error_score="raise"
            )
        return float(-np.mean(scores))


def all_problems() -> list[Problem]:
    """Every model x dataset x metric combination (80 problems)."""
    return [Problem(m, d, metric) for d, kind in DATASETS.items() for m in MODELS for metric in METRICS[kind]]


QUICK = [
    Problem("kNN", "wine", "nll"),
    Problem("SVM", "wine", "nll"),
    Problem("DT", "iris", "nll"),
    Problem("DT", "diabetes", "mse"),
    Problem("RF", "iris", "acc"),
    Problem("lasso", "diabetes", "mae"),
    Problem("linear", "breast", "nll"),
    Problem("SVM", "diabetes", "mae"),
]
"""Cheap problems (about 0.05 s per evaluation) covering six models and three datasets."""
