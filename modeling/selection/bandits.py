"""Dueling bandits for "find the best": Double Thompson Sampling and RUCB.

The state is a K x K matrix of wins, ``wins[i, j]`` = how often arm i beat arm j (a tie
counts half to each). Arms are items of a group or sources.

* :func:`dts_duel` is Double Thompson Sampling (Wu & Liu 2016, Algorithm 1): the first
  candidate is the arm with the highest Copeland score in one Beta posterior sample, among
  those whose optimistic (upper confidence) Copeland score is maximal; the second is the arm
  most likely, in an independent sample, to beat the first, among those not already known
  to lose to it (lower confidence bound <= 1/2).
* :func:`rucb_duel` is Relative Upper Confidence Bound (Zoghi et al. 2014, Algorithm 1): a
  champion among the arms whose upper bounds against every arm are >= 1/2 (a hypothesised
  best arm kept with probability 1/2), and its challenger with the highest upper bound
  against it.

Both papers let an arm duel itself once it looks best (zero regret, no comparison); an
annotation task cannot show an item against itself, so ``allow_self=False`` (what the app
uses) takes the best *other* arm instead. Confidence bounds use alpha > 1/2 (0.51, as
duelpy) and x/0 := 1 for upper, 0 for lower bounds.

Regret of a duel (a, b) against a Condorcet winner w, with Delta_k = P[w, k] - 1/2 (duelpy's
conventions): average (Delta_a + Delta_b) / 2, weak min, strong max. Without a Condorcet
winner, :func:`duel_regret` returns Copeland regret: the best normalised Copeland score minus
the mean of the two arms'.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> preference = np.array([[0.5, 0.8, 0.9], [0.2, 0.5, 0.7], [0.1, 0.3, 0.5]])
>>> wins = np.zeros((3, 3))
>>> for t in range(1, 301):
...     a, b = dts_duel(EmpiricalPreferences(wins), t, rng=rng)
...     if rng.random() < preference[a, b]:
...         wins[a, b] += 1
...     else:
...         wins[b, a] += 1
>>> int(copeland_winners(wins / np.maximum(wins + wins.T, 1))[0])
0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

EXPLORATION = 0.51  # alpha of the confidence bounds (> 1/2)


@dataclass(frozen=True)
class RegretTotals:
    average: float
    weak: float
    strong: float


def confidence_bounds(wins: np.ndarray, t: int, alpha: float = EXPLORATION
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower confidence bounds on P(i beats j); 1/2 on the diagonal."""
    wins = np.asarray(wins, dtype=float)
    played = wins + wins.T
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(played > 0, wins / played, 0.5)
        radius = np.where(played > 0, np.sqrt(alpha * np.log(max(t, 1)) / played), np.inf)
    upper = np.where(played > 0, np.minimum(mean + radius, 1.0), 1.0)
    lower = np.where(played > 0, np.maximum(mean - radius, 0.0), 0.0)
    np.fill_diagonal(upper, 0.5)
    np.fill_diagonal(lower, 0.5)
    return upper, lower


def copeland_scores(preference: np.ndarray) -> np.ndarray:
    """Normalised Copeland scores: the share of other arms each arm beats (P > 1/2)."""
    preference = np.asarray(preference, dtype=float)
    k = len(preference)
    beats = preference > 0.5
    np.fill_diagonal(beats, False)
    return beats.sum(axis=1) / max(k - 1, 1)


def copeland_winners(preference: np.ndarray) -> np.ndarray:
    scores = copeland_scores(preference)
    return np.flatnonzero(scores == scores.max())


def condorcet_winner(preference: np.ndarray) -> int | None:
    """The arm that beats every other arm (P > 1/2), if there is one."""
    scores = copeland_scores(preference)
    best = int(np.argmax(scores))
    return best if scores[best] == 1.0 else None


class EmpiricalPreferences:
    """The papers' estimate: win counts per ordered pair, Beta(w_ij + 1, w_ji + 1)
    posteriors and Hoeffding-style bounds. Makes no assumption (Copeland winners)."""

    def __init__(self, wins: ArrayLike) -> None:
        self.wins = np.asarray(wins, dtype=float)
        if self.wins.ndim != 2 or self.wins.shape[0] != self.wins.shape[1]:
            raise ValueError("wins must be a square matrix")

    @property
    def n_arms(self) -> int:
        return len(self.wins)

    def bounds(self, t: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        return confidence_bounds(self.wins, t, alpha)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return _beta_preferences(self.wins, rng)

    def sample_against(self, first: int, rng: np.random.Generator) -> np.ndarray:
        column = rng.beta(self.wins[:, first] + 1.0, self.wins[first, :] + 1.0)
        column[first] = 0.5
        return column


class GaussianPreferences:
    """Preferences from a fitted Bradley-Terry posterior: scores ~ N(mean, variance), P(i
    beats j) = sigma(s_i - s_j). Bounds are sqrt(2 alpha log t) standard deviations of the
    score difference (a Gaussian tail of probability t^(-alpha)); every duel informs every
    pair through the scores, so far fewer duels are needed than with counts, at the price
    of assuming transitive preferences (a Condorcet winner always exists)."""

    def __init__(self, mean: ArrayLike, variance: ArrayLike) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.variance = np.asarray(variance, dtype=float)

    @property
    def n_arms(self) -> int:
        return len(self.mean)

    def bounds(self, t: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        difference = self.mean[:, None] - self.mean[None, :]
        spread = np.sqrt(2.0 * alpha * np.log(max(t, 2))
                         * (self.variance[:, None] + self.variance[None, :]))
        upper, lower = _sigmoid(difference + spread), _sigmoid(difference - spread)
        np.fill_diagonal(upper, 0.5)
        np.fill_diagonal(lower, 0.5)
        return upper, lower

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        scores = rng.normal(self.mean, np.sqrt(self.variance))
        return _sigmoid(scores[:, None] - scores[None, :])

    def sample_against(self, first: int, rng: np.random.Generator) -> np.ndarray:
        scores = rng.normal(self.mean, np.sqrt(self.variance))
        column = _sigmoid(scores - scores[first])
        column[first] = 0.5
        return column


PreferenceModel = EmpiricalPreferences | GaussianPreferences


def dts_duel(model: PreferenceModel, t: int, *, rng: np.random.Generator,
             alpha: float = EXPLORATION, allow_self: bool = True) -> tuple[int, int]:
    """One Double Thompson Sampling duel (first, second) at round ``t`` (1-based)."""
    k = model.n_arms
    upper, lower = model.bounds(t, alpha)
    optimistic = copeland_scores(upper)
    contenders = np.flatnonzero(optimistic == optimistic.max())
    sampled_scores = (model.sample(rng) > 0.5).sum(axis=1)
    first = _random_argmax(sampled_scores[contenders], rng, contenders)
    challenge = model.sample_against(first, rng)
    eligible = lower[:, first] <= 0.5
    if not allow_self:
        eligible[first] = False
        if not eligible.any():
            eligible = np.arange(k) != first
    options = np.flatnonzero(eligible)
    second = _random_argmax(challenge[options], rng, options)
    return int(first), int(second)


def rucb_duel(model: PreferenceModel, t: int, *, rng: np.random.Generator,
              hypothesis: int | None = None, alpha: float = EXPLORATION,
              allow_self: bool = True) -> tuple[int, int, int | None]:
    """One RUCB duel (champion, challenger) and the hypothesised best arm to keep."""
    k = model.n_arms
    upper, _ = model.bounds(t, alpha)
    contenders = np.flatnonzero((upper >= 0.5).all(axis=1))
    if len(contenders) == 0:
        champion = int(rng.integers(k))
        hypothesis = None
    else:
        if hypothesis not in contenders:
            hypothesis = None
        if len(contenders) == 1:
            hypothesis = champion = int(contenders[0])
        else:
            champion = _rucb_champion(contenders, hypothesis, rng)
    column = upper[:, champion].copy()
    if not allow_self:
        column[champion] = -np.inf
    options = np.flatnonzero(column == column.max())
    challenger = int(rng.choice(options))
    return champion, challenger, hypothesis


def uniform_duel(k: int, *, rng: np.random.Generator, allow_self: bool = False
                 ) -> tuple[int, int]:
    """A uniformly random duel (the baseline)."""
    if allow_self:
        return int(rng.integers(k)), int(rng.integers(k))
    first, second = rng.choice(k, size=2, replace=False)
    return int(first), int(second)


def duel_regret(preference: np.ndarray, first: ArrayLike, second: ArrayLike
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-duel (average, weak, strong) regret; Copeland regret (all three equal) without a
    Condorcet winner."""
    preference = np.asarray(preference, dtype=float)
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    winner = condorcet_winner(preference)
    if winner is None:
        scores = copeland_scores(preference)
        regret = scores.max() - 0.5 * (scores[a] + scores[b])
        return regret, regret, regret
    gap = preference[winner] - 0.5
    gap[winner] = 0.0
    return 0.5 * (gap[a] + gap[b]), np.minimum(gap[a], gap[b]), np.maximum(gap[a], gap[b])


def cumulative_regret(preference: np.ndarray, first: ArrayLike, second: ArrayLike
                      ) -> RegretTotals:
    average, weak, strong = duel_regret(preference, first, second)
    return RegretTotals(float(average.sum()), float(weak.sum()), float(strong.sum()))


def duel_plan(model: PreferenceModel, t: int, size: int, *, algorithm: str = "dts",
              rng: np.random.Generator, hypothesis: int | None = None,
              allow_self: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``size`` duels drawn from the current state (batched Thompson sampling; RUCB's
    randomised champion): distinct (first, second) pairs, how often each was drawn, in the
    order first drawn. The counts / size are the plan's probabilities."""
    draws = []
    for _ in range(size):
        if algorithm == "dts":
            draws.append(dts_duel(model, t, rng=rng, allow_self=allow_self))
        elif algorithm == "rucb":
            first, second, hypothesis = rucb_duel(model, t, rng=rng, hypothesis=hypothesis,
                                                  allow_self=allow_self)
            draws.append((first, second))
        else:
            raise ValueError(f"unknown bandit algorithm {algorithm!r}; known: dts, rucb")
    counts: dict[tuple[int, int], int] = {}
    for first, second in draws:
        key = (min(first, second), max(first, second))
        counts[key] = counts.get(key, 0) + 1
    pairs = np.asarray(list(counts), dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1], np.asarray(list(counts.values()), dtype=np.int64)


def _beta_preferences(wins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """theta_ij ~ Beta(w_ij + 1, w_ji + 1) for i < j, theta_ji = 1 - theta_ij, 1/2 on the
    diagonal."""
    k = len(wins)
    upper = np.triu_indices(k, 1)
    theta = np.full((k, k), 0.5)
    draws = rng.beta(wins[upper] + 1.0, wins.T[upper] + 1.0)
    theta[upper] = draws
    theta[(upper[1], upper[0])] = 1.0 - draws
    return theta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _random_argmax(values: np.ndarray, rng: np.random.Generator, labels: np.ndarray) -> int:
    best = np.flatnonzero(values == values.max())
    return int(labels[rng.choice(best)])


def _rucb_champion(contenders: np.ndarray, hypothesis: int | None,
                   rng: np.random.Generator) -> int:
    if hypothesis is None:
        return int(rng.choice(contenders))
    others = contenders[contenders != hypothesis]
    if rng.random() < 0.5 or len(others) == 0:
        return int(hypothesis)
    return int(rng.choice(others))
