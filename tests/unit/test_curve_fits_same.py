"""A curve's power-law fit (``schedulers.curves._fit``) costs about half what it did at 513baee and
gives the same floats: the same grids, intercepts, slopes and residuals, bit for bit (decisions
and a strategy's observations turn on them, and the stores of seeded runs are compared by md5)."""

from __future__ import annotations

import numpy as np

from hyperstep.schedulers import curves
from hyperstep.schedulers.curves import geomspace


def test_geomspace_is_numpys_float_for_float() -> None:
    rng, grid = np.random.default_rng(7), curves.EXPONENTS
    for i in range(5_000):
        if i % 2:  # a zoom's ends: two points of the grid
            start, stop = grid[rng.integers(0, 23)], grid[rng.integers(0, 24)]
        else:
            start = float(np.exp(rng.uniform(-8, 3)))
            stop = start * float(np.exp(rng.uniform(-3, 3)))
        if start != stop:
            assert geomspace(start, stop, 24).tobytes() == np.geomspace(start, stop, 24).tobytes()


def reference_fit(steps: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """513baee's ``_fit`` up to its grids and residuals (numpy's geomspace, the sums as written there)."""

    def fits(exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        powers = steps[None, :] ** -exponents[:, None]
        centred = powers - powers.mean(axis=1, keepdims=True)
        slope = centred @ (values - values.mean()) / np.sum(centred**2, axis=1)
        intercept = values.mean() - slope * powers.mean(axis=1)
        return intercept, slope, np.sum((intercept[:, None] + slope[:, None] * powers - values[None, :]) ** 2, axis=1)

    grid, out, residual = curves.EXPONENTS, [], np.empty(0)
    for zoom in range(curves.ZOOMS + 2):
        if zoom:
            i = int(np.argmin(residual))
            grid = np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], len(grid))
        intercept, slope, residual = fits(grid)
        out += [grid, intercept, slope, residual]
    centred = steps - steps.mean()
    line = float(
        np.sum((values.mean() + float(centred @ (values - values.mean()) / np.sum(centred**2)) * centred - values) ** 2)
    )
    return [*out, np.array([line, float(np.sum(values**2))])]


def test_a_fit_is_the_reference_fit_bit_for_bit() -> None:
    rng = np.random.default_rng(24)
    for _ in range(500):
        k = int(rng.integers(3, 40))
        steps = np.sort(rng.choice(np.arange(1, 200), k, replace=False)).astype(float)
        noise = rng.normal(0, rng.choice([0.0, 1e-3, 1e-1]), k)
        values = rng.uniform(0, 1) + rng.uniform(0, 2) * steps ** -rng.uniform(0.01, 3) + noise
        grids, residuals = [], []
        grid = curves.EXPONENTS
        for zoom in range(curves.ZOOMS + 2):
            if zoom:
                grid = curves._zoomed(grid, residuals[-1])
            intercept, slope, residual = curves._fits(steps, values, grid)
            grids += [grid, intercept, slope, residual]
            residuals.append(residual)
        got = [*grids, np.array([curves._line_residual(steps, values), float(curves._sum(values**2))])]
        reference = reference_fit(steps, values)
        assert [a.tobytes() for a in got] == [b.tobytes() for b in reference]
        fit, profiled = curves._fit(steps, values), len(reference[3:-1:4]) if k > curves.MIN_POINTS else 2
        profile = np.concatenate(reference[3:-1:4][:profiled])  # each grid's residuals
        bar = curves.PLAUSIBLE * float(profile.min()) + curves.TOLERANCE * (1.0 + float(np.sum(values**2)))
        assert fit.plausible.tobytes() == (profile <= bar).tobytes()  # the sum of squares ``_fit`` adds up


def test_sum_and_mean_are_numpys_float_for_float_at_every_length() -> None:
    """``_sum`` and ``_mean`` against ``ndarray.sum`` and ``mean`` on float64 (what ``_fit`` is
    given) and float32, over a curve's steps (one axis) and a grid's powers (axis 1), up to
    issue 9's 10,000 steps: numpy's pairwise summation blocks change at 8 and 128 elements."""
    rng = np.random.default_rng(28)
    for dtype in (np.float64, np.float32):
        for k in (1, 3, 7, 8, 9, 127, 128, 129, 1000, 10_000):
            grid = (rng.normal(0, 1, (24, k)) * 10 ** rng.uniform(-3, 3)).astype(dtype)
            for values, axis in ((grid[0], None), (grid, 1), (grid, None)):
                assert curves._sum(values, axis).tobytes() == values.sum(axis=axis).tobytes()
                mean = np.asarray(curves._mean(values, axis))
                assert (mean.dtype, mean.tobytes()) == (values.mean(axis=axis).dtype, values.mean(axis=axis).tobytes())
