"""How settled a goal is, and roughly how many more judgments it needs.

From the Gaussian posterior of the scores (mean, variance per item or source):

* ``top_probability``: the probability that the current top-1 is the true best, by Monte
  Carlo draws from the posterior (independent scores);
* ``separated_share``: the share of adjacent ranks (in the current order) whose 95 %
  intervals do not overlap;
* ``more_judgments``: the variances of Bradley-Terry scores fall roughly like 1 / n, so to
  separate an adjacent pair whose intervals overlap by a factor f (needed width / gap) the
  data must grow f^2-fold. The estimate is the growth that separates ``target_share`` of
  the adjacent pairs (or makes the top-1 probability reach ``target_top``, for "find the
  best"), times the judgments so far. Pairs with no gap at all are left out (never
  separable); ``None`` when nothing is left to separate or no data yet.

Example
-------
>>> import numpy as np
>>> estimate = stopping_estimate(np.array([2.0, 0.0, -2.0]), np.full(3, 0.01),
...                              n_judgments=300, seed=0)
>>> estimate.top_probability, estimate.separated_share, estimate.more_judgments
(1.0, 1.0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

Z95 = 1.959963984540054
TARGET_SHARE = 0.9
TARGET_TOP = 0.95
DRAWS = 4_000


@dataclass(frozen=True)
class StoppingEstimate:
    top_probability: float
    separated_share: float
    n_adjacent: int
    more_judgments: int | None
    more_for_top: int | None


def stopping_estimate(mean: ArrayLike, variance: ArrayLike, *, n_judgments: int,
                      target_share: float = TARGET_SHARE, target_top: float = TARGET_TOP,
                      draws: int = DRAWS, seed: int = 0) -> StoppingEstimate:
    mean, variance = np.asarray(mean, dtype=float), np.asarray(variance, dtype=float)
    if len(mean) < 2:
        return StoppingEstimate(1.0, 1.0, 0, 0, 0)
    order = np.argsort(-mean, kind="stable")
    se = np.sqrt(np.maximum(variance[order], 0.0))
    gaps = mean[order][:-1] - mean[order][1:]
    needed = Z95 * (se[:-1] + se[1:])
    separated = gaps > needed
    top = top_probability(mean, variance, draws=draws, seed=seed)
    return StoppingEstimate(
        top_probability=top, separated_share=float(separated.mean()), n_adjacent=len(gaps),
        more_judgments=_more(needed, gaps, n_judgments, target_share),
        more_for_top=_more_for_top(mean[order], variance[order], n_judgments, target_top))


def top_probability(mean: np.ndarray, variance: np.ndarray, *, draws: int = DRAWS,
                    seed: int = 0) -> float:
    """P(argmax of a posterior draw is the current argmax), by Monte Carlo."""
    rng = np.random.default_rng(seed)
    best = int(np.argmax(mean))
    candidates = np.flatnonzero(mean + 6.0 * np.sqrt(variance) >= mean[best] - 6.0 * np.sqrt(
        variance[best]))  # others cannot win a draw
    sample = rng.normal(mean[candidates], np.sqrt(variance[candidates]),
                        size=(draws, len(candidates)))
    return float((candidates[np.argmax(sample, axis=1)] == best).mean())


def _more(needed: np.ndarray, gaps: np.ndarray, n: int, target_share: float) -> int | None:
    if n <= 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(gaps > 0, (needed / gaps) ** 2, np.inf)
    wanted = int(np.ceil(target_share * len(gaps)))
    factor = np.sort(growth)[wanted - 1]
    if not np.isfinite(factor):
        return None
    return int(max(0.0, np.ceil(n * (factor - 1.0))))


def _more_for_top(mean: np.ndarray, variance: np.ndarray, n: int, target_top: float
                  ) -> int | None:
    """Growth making the top-2 gap one-sided significant at ``target_top``."""
    if n <= 0:
        return None
    gap = mean[0] - mean[1]
    if gap <= 0:
        return None
    from scipy.special import ndtri

    factor = (ndtri(target_top) * np.sqrt(variance[0] + variance[1]) / gap) ** 2
    return int(max(0.0, np.ceil(n * (factor - 1.0))))
