"""The GP's view of a conditional space: each conditional numeric column as an arc.

A parameter that is inactive has no value, and imputing one (the filler of the
encoding) would tell the GP that a linear-kernel SVM resembles an RBF one with
``gamma`` at mid-range: the length scales would have to learn to ignore that. Instead
each column of a conditional float or int parameter enters the kernel as a point in
the plane (Swersky et al., 2014, "Raiders of the lost architecture: kernels for
Bayesian optimization in conditional parameter spaces"):

- active, at ``u`` in ``[0, 1]``: ``R * (cos(A * u), sin(A * u))``, on an arc of
  radius ``R`` spanning the angle ``A``;
- inactive: the arc's centre, the origin.

So, per conditional dimension and before dividing by its length scale, two points
where it is inactive are at distance 0, a point where it is inactive is at the fixed
distance ``R`` from every point where it is active, and two active points are at the
chord ``2 R sin(A |u - u'| / 2)``. With ``A = pi / 3`` and ``R = 1 / A`` the chord is
``|u - u'|`` to within 4.5 % (arc length one per unit of the cube, so the length-scale
prior keeps its meaning) and ``R`` equals the largest active distance (the chord
across the full range): an inactive dimension is as far from every active value as the
two ends of the range are from each other, the "fixed maximal distance" choice.

Why an arc rather than that three-case distance written directly: a point equidistant
from every point of a segment exists in no Euclidean space, so the direct distance is
not Euclidean and the Matérn kernel of it need not be positive definite; the arc is an
embedding, so the kernel stays a Matérn kernel of Euclidean distances (positive
definite) and the existing ARD code applies unchanged, the two arc columns sharing
their parameter's one length scale. One-hot columns of a conditional categorical need
nothing: inactive they are all zeros, at distance 0 from each other and 1 from any
active choice, and add no category offset.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hyperstep.space import CategoricalParameter, SearchSpace

ARC_ANGLE = math.pi / 3
"""The angle the active range of a conditional numeric column spans."""
ARC_RADIUS = 1.0 / ARC_ANGLE
"""Arc length one per unit of the cube; also the distance from inactive to any active value."""


class ArcFeatures:
    """Maps snapped unit-cube rows of a conditional space to the GP's inputs.

    ``groups[f]`` is the cube column whose length scale feature column ``f`` uses, so a
    model keeps one length scale per cube column (what trust regions and importance read).
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        arcs: list[int] = []
        for param, cols in zip(space.parameters, space.slices()):
            if param.when and not isinstance(param, CategoricalParameter):
                arcs.append(cols.start)
        self.arcs = np.array(arcs, dtype=int)
        self.groups = np.r_[np.arange(space.dim), self.arcs]
        """Feature columns: the cube's own (arc columns hold the cosine), then each arc's sine."""

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        active = self.space.active_columns(X)
        F = np.hstack([np.where(active, X, 0.0), np.zeros((len(X), len(self.arcs)))])
        if len(self.arcs):
            on = active[:, self.arcs]
            angle = ARC_ANGLE * X[:, self.arcs]
            F[:, self.arcs] = np.where(on, ARC_RADIUS * np.cos(angle), 0.0)
            F[:, self.space.dim :] = np.where(on, ARC_RADIUS * np.sin(angle), 0.0)
        return F

    def lengths(self, lengths: np.ndarray) -> np.ndarray:
        """Per-feature length scales from per-cube-column ones."""
        return lengths[self.groups]

    def columns(self, mask: np.ndarray) -> np.ndarray:
        """A per-cube-column mask (e.g. one-hot columns) as a per-feature one."""
        return mask[self.groups]

    def tie(self, D2: np.ndarray) -> np.ndarray:
        """Per-feature squared differences ``(n, n, f)`` summed into per-cube-column ones ``(n, n, d)``."""
        G = np.zeros((len(self.groups), self.space.dim))
        G[np.arange(len(self.groups)), self.groups] = 1.0
        return D2 @ G


def features_of(proj: Any) -> ArcFeatures | None:
    """The GP's conditional embedding of a projector's space, or None for a plain box."""
    return ArcFeatures(proj.space) if proj.conditional else None
