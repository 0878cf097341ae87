"""Arena-style leaderboards, by item and by source, from a fitted score vector.

Conventions follow Chatbot Arena (Chiang et al. 2024; lmsys FastChat ``elo_analysis.py``):

* **Rating scale.** A score ``s`` on the natural-log (Bradley-Terry / Plackett-Luce) scale is
  shown as ``rating = 400 / ln(10) * s + 1000``, so a 400-point gap means 10:1 odds and
  ``P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400))``. Scores are centred (mean 0), so the
  mean rating is 1000. With ``anchor=k`` the ratings are shifted so that entry ``k`` reads
  ``anchor_rating`` (Arena pins one model, e.g. Mixtral at 1114); bootstrap replicates are
  shifted the same way, replicate by replicate.
* **95 % intervals** are shown as ``+plus / -minus`` around the point rating (the fit, not the
  bootstrap median). From bootstrap replicates: the 2.5 % and 97.5 % quantiles of the
  replicate ratings (replicates with non-finite scores are left out; when more than 10 %
  of them are, the standard errors are used instead, with a warning). Otherwise:
  ``rating +/- 1.96 * se`` (``se`` of the score, or of its contrast with the anchor when a
  covariance is given).
* **Rank by upper bound**: ``rank = 1 + #{entries whose lower bound is above this entry's
  upper bound}``, so entries whose intervals overlap share a rank.
* **Vote counts**: comparisons, wins, losses and ties per entry.
* **By source** (the model that wrote a response): each comparison's items are replaced by
  their sources, comparisons between two items of the same source are dropped (and counted),
  and the same pairwise model is fitted to what is left.

Rows are plain frozen dataclasses that a template or a CSV writer can render.

References
----------
Chiang, W.-L. et al. (2024). Chatbot Arena: an open platform for evaluating LLMs by human
preference. ICML 2024.

Examples
--------
>>> rows = leaderboard(np.array([0.5, -0.5]), names=["a", "b"], se=np.array([0.1, 0.1]))
>>> [(row.name, round(row.rating), round(row.plus, 1), row.rank_ub) for row in rows]
[('a', 1087, 34.0, 1), ('b', 913, 34.0, 2)]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np

ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_INITIAL = 1000.0
MIN_FINITE_REPLICATES = 0.9  # share of bootstrap replicates that must have finite scores
PER_COMPARISON_OPTIONS = ("weights", "rater", "left_shown", "strength")


@dataclass(frozen=True)
class LeaderboardRow:
    """One leaderboard entry; ``rating``, ``lower``, ``upper``, ``plus``, ``minus`` are on the
    Elo-like scale, ``score`` and ``se`` on the model's natural-log scale."""

    name: str
    index: int
    rating: float
    plus: float
    minus: float
    lower: float
    upper: float
    rank_ub: int
    n: float
    wins: float
    losses: float
    ties: float
    score: float
    se: float

    @classmethod
    def header(cls) -> list[str]:
        """Column names, in the order of :meth:`as_tuple`, for a CSV export."""
        return [field.name for field in fields(cls)]

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.header())


@dataclass(frozen=True)
class VoteCounts:
    """Per-entry totals; float when the comparisons are weighted."""

    comparisons: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties: np.ndarray


def elo_ratings(scores: np.ndarray, *, scale: float = ELO_SCALE, base: float = ELO_BASE,
                initial: float = ELO_INITIAL, anchor: int | None = None,
                anchor_rating: float | None = None) -> np.ndarray:
    """Map natural-log scores (any leading batch dimensions) to the Elo-like scale.

    ``rating = scale / ln(base) * score + initial``; with ``anchor`` the ratings of each row
    are then shifted so that entry ``anchor`` reads ``anchor_rating`` (default ``initial``).
    """
    ratings = scale / math.log(base) * np.asarray(scores, dtype=np.float64) + initial
    if anchor is not None:
        target = initial if anchor_rating is None else anchor_rating
        ratings = ratings + (target - ratings[..., anchor:anchor + 1])
    return ratings


def rank_by_upper_bound(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Arena rank: 1 + the number of entries whose lower bound exceeds this upper bound."""
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def rating_intervals(scores: np.ndarray, *, se: np.ndarray | None = None,
                     covariance: np.ndarray | None = None,
                     bootstrap_scores: np.ndarray | None = None, level: float = 0.95,
                     scale: float = ELO_SCALE, base: float = ELO_BASE,
                     initial: float = ELO_INITIAL, anchor: int | None = None,
                     anchor_rating: float | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point ratings with lower and upper interval bounds (see the module notes).

    Bootstrap replicates ``(n_replicates, n)`` take precedence over ``covariance``, which
    takes precedence over ``se``; with none of them the interval is the point itself.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    elo = {"scale": scale, "base": base, "initial": initial, "anchor": anchor,
           "anchor_rating": anchor_rating}
    rating = elo_ratings(scores, **elo)
    replicates = _finite_replicates(bootstrap_scores)
    if replicates is not None:
        replicates = elo_ratings(replicates, **elo)
        tail = (1.0 - level) / 2.0
        lower, upper = np.quantile(replicates, [tail, 1.0 - tail], axis=0)
        return rating, lower, upper
    spread = _score_se(len(rating), se, covariance, anchor)
    half = NormalDist().inv_cdf(0.5 + level / 2.0) * scale / math.log(base) * spread
    return rating, rating - half, rating + half


def _finite_replicates(bootstrap_scores: np.ndarray | None) -> np.ndarray | None:
    """The replicates with finite scores, or ``None`` (use the standard errors) when there
    are none or too many failed for their quantiles to be trusted."""
    if bootstrap_scores is None or len(bootstrap_scores) == 0:
        return None
    replicates = np.asarray(bootstrap_scores, dtype=np.float64)
    finite = replicates[np.isfinite(replicates).all(axis=1)]
    if len(finite) < MIN_FINITE_REPLICATES * len(replicates):
        warnings.warn(f"only {len(finite)} of {len(replicates)} bootstrap replicates have "
                      "finite scores; intervals from standard errors instead",
                      RuntimeWarning, stacklevel=3)
        return None
    return finite


def _score_se(n: int, se: np.ndarray | None, covariance: np.ndarray | None,
              anchor: int | None) -> np.ndarray:
    if covariance is not None:
        covariance = np.asarray(covariance, dtype=np.float64)
        variance = np.diag(covariance).copy()
        if anchor is not None:  # the interval of the contrast with the pinned entry
            variance += covariance[anchor, anchor] - 2.0 * covariance[:, anchor]
        return np.sqrt(np.clip(variance, 0.0, None))
    if se is not None:
        return np.asarray(se, dtype=np.float64)
    return np.zeros(n)


def vote_counts(left: np.ndarray, right: np.ndarray, outcome: np.ndarray, n_items: int, *,
                weights: np.ndarray | None = None) -> VoteCounts:
    """Comparisons, wins, losses and ties per item (outcome +1 left wins, -1 right, 0 tie)."""
    left, right, outcome = _comparisons(left, right, outcome, n_items)
    weight = np.ones(len(left)) if weights is None else np.asarray(weights, dtype=np.float64)

    def total(index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(index[mask], weights=weight[mask], minlength=n_items)

    everything = np.ones(len(left), dtype=bool)
    counts = VoteCounts(
        comparisons=total(left, everything) + total(right, everything),
        wins=total(left, outcome > 0) + total(right, outcome < 0),
        losses=total(left, outcome < 0) + total(right, outcome > 0),
        ties=total(left, outcome == 0) + total(right, outcome == 0))
    if weights is None:  # plain counts read better as integers
        return VoteCounts(*(values.astype(np.int64) for values in
                            (counts.comparisons, counts.wins, counts.losses, counts.ties)))
    return counts


def _comparisons(left: np.ndarray, right: np.ndarray, outcome: np.ndarray,
                 n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    left = np.asarray(left, dtype=np.int64).reshape(-1)
    right = np.asarray(right, dtype=np.int64).reshape(-1)
    outcome = np.asarray(outcome).reshape(-1)
    if not len(left) == len(right) == len(outcome):
        raise ValueError("left, right and outcome must have the same length")
    for side, values in (("left", left), ("right", right)):
        if values.size and (values.min() < 0 or values.max() >= n_items):
            raise ValueError(f"{side} has an index outside 0..{n_items - 1}")
    if not np.isin(outcome, (-1, 0, 1)).all():
        raise ValueError("outcome must be +1 (left wins), -1 (right wins) or 0 (tie)")
    return left, right, outcome


def leaderboard(scores: np.ndarray, *, names: Sequence[str] | None = None,
                se: np.ndarray | None = None, covariance: np.ndarray | None = None,
                bootstrap_scores: np.ndarray | None = None, counts: VoteCounts | None = None,
                level: float = 0.95, scale: float = ELO_SCALE, base: float = ELO_BASE,
                initial: float = ELO_INITIAL, anchor: int | None = None,
                anchor_rating: float | None = None) -> list[LeaderboardRow]:
    """Leaderboard rows sorted by rating (best first) from a fitted score vector.

    Parameters
    ----------
    scores : (n,) natural-log scores (e.g. ``BradleyTerryResult.scores``), mean 0.
    names : display names (default: the indices as strings).
    se, covariance, bootstrap_scores : uncertainty, see :func:`rating_intervals`.
    counts : vote counts per entry (:func:`vote_counts`); zeros when omitted.
    level : interval coverage (0.95 gives Arena's 95 % intervals).
    scale, base, initial, anchor, anchor_rating : the rating scale, see :func:`elo_ratings`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    names = [str(i) for i in range(n)] if names is None else [str(name) for name in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} scores")
    rating, lower, upper = rating_intervals(
        scores, se=se, covariance=covariance, bootstrap_scores=bootstrap_scores, level=level,
        scale=scale, base=base, initial=initial, anchor=anchor, anchor_rating=anchor_rating)
    ranks = rank_by_upper_bound(lower, upper)
    spread = _score_se(n, se, covariance, None)
    zero = np.zeros(n, dtype=np.int64)
    tally = counts if counts is not None else VoteCounts(zero, zero, zero, zero)
    order = sorted(range(n), key=lambda i: (-rating[i], names[i]))
    return [LeaderboardRow(
        name=names[i], index=i, rating=float(rating[i]), plus=float(upper[i] - rating[i]),
        minus=float(rating[i] - lower[i]), lower=float(lower[i]), upper=float(upper[i]),
        rank_ub=int(ranks[i]), n=tally.comparisons[i].item(), wins=tally.wins[i].item(),
        losses=tally.losses[i].item(), ties=tally.ties[i].item(), score=float(scores[i]),
        se=float(spread[i])) for i in order]


def leaderboard_from_fit(result: Any, *, names: Sequence[str] | None = None,
                         counts: VoteCounts | None = None, **options: Any,
                         ) -> list[LeaderboardRow]:
    """Rows from any fit result with ``scores``, ``se`` and optionally ``bootstrap_scores`` /
    ``covariance`` attributes (Bradley-Terry, Plackett-Luce)."""
    return leaderboard(result.scores, names=names, se=getattr(result, "se", None),
                       covariance=getattr(result, "covariance", None),
                       bootstrap_scores=getattr(result, "bootstrap_scores", None),
                       counts=counts, **options)


@dataclass(frozen=True)
class SourceComparisons:
    """Comparisons re-indexed from items to their sources.

    ``kept`` are the positions of the original comparisons that survive (the two items have
    different sources); ``columns`` holds the other per-comparison arrays, filtered alike.
    """

    left: np.ndarray
    right: np.ndarray
    outcome: np.ndarray
    kept: np.ndarray
    n_dropped: int
    columns: dict[str, np.ndarray]


def source_comparisons(left: np.ndarray, right: np.ndarray, outcome: np.ndarray,
                       item_source: np.ndarray, **per_comparison: np.ndarray | None,
                       ) -> SourceComparisons:
    """Replace each comparison's items by their sources and drop same-source comparisons.

    Parameters
    ----------
    left, right : item indices per comparison; outcome : +1 left wins, -1 right, 0 tie.
    item_source : (n_items,) source index of every item.
    **per_comparison : other arrays with one entry per comparison (``weights``, ``rater``,
        ``left_shown``, ``strength``, ...); ``None`` values are passed through as absent.
    """
    item_source = np.asarray(item_source, dtype=np.int64).reshape(-1)
    left, right, outcome = _comparisons(left, right, outcome, len(item_source))
    left_source, right_source = item_source[left], item_source[right]
    kept = np.flatnonzero(left_source != right_source)
    columns = {}
    for name, values in per_comparison.items():
        if values is None:
            continue
        values = np.asarray(values)
        if len(values) != len(left):
            raise ValueError(f"{name} has {len(values)} entries for {len(left)} comparisons")
        columns[name] = values[kept]
    return SourceComparisons(left=left_source[kept], right=right_source[kept],
                             outcome=outcome[kept], kept=kept,
                             n_dropped=int(len(left) - len(kept)), columns=columns)


@dataclass(frozen=True)
class SourceLeaderboard:
    """A leaderboard by source with the fit behind it and the comparisons it used."""

    rows: list[LeaderboardRow]
    result: Any
    comparisons: SourceComparisons
    counts: VoteCounts


def fit_source_leaderboard(left: np.ndarray, right: np.ndarray, outcome: np.ndarray,
                           item_source: np.ndarray, source_names: Sequence[str], *,
                           fit: Callable[..., Any] | None = None, level: float = 0.95,
                           anchor: int | None = None, anchor_rating: float | None = None,
                           **fit_options: Any) -> SourceLeaderboard:
    """Fit the pairwise model on source-level comparisons (Arena's leaderboard by model).

    ``fit`` defaults to :func:`modeling.bradley_terry.fit_bradley_terry` and receives
    ``(left, right, outcome, n_sources, **fit_options)``; per-comparison options
    (``weights``, ``rater``, ``left_shown``, ``strength``) are filtered with the comparisons.
    """
    if fit is None:
        from modeling.bradley_terry import fit_bradley_terry as fit
    n_sources = len(source_names)
    arrays = {name: fit_options.pop(name) for name in PER_COMPARISON_OPTIONS
              if name in fit_options}
    comparisons = source_comparisons(left, right, outcome, item_source, **arrays)
    if len(comparisons.kept) == 0:
        raise ValueError("every comparison is between two items of the same source")
    result = fit(comparisons.left, comparisons.right, comparisons.outcome, n_sources,
                 **comparisons.columns, **fit_options)
    counts = vote_counts(comparisons.left, comparisons.right, comparisons.outcome, n_sources,
                         weights=comparisons.columns.get("weights"))
    rows = leaderboard_from_fit(result, names=source_names, counts=counts, level=level,
                                anchor=anchor, anchor_rating=anchor_rating)
    return SourceLeaderboard(rows=rows, result=result, comparisons=comparisons, counts=counts)


@dataclass(frozen=True)
class WinRateMatrix:
    """Observed results between entries: ``win_rate[i, j]`` is i's win fraction against j
    (NaN where they never met), ``wins[i, j]`` the times i beat j, ``ties`` and
    ``comparisons`` symmetric totals."""

    win_rate: np.ndarray
    wins: np.ndarray
    ties: np.ndarray
    comparisons: np.ndarray


def win_rate_matrix(left: np.ndarray, right: np.ndarray, outcome: np.ndarray, n: int, *,
                    weights: np.ndarray | None = None, ties: str = "exclude") -> WinRateMatrix:
    """Observed pairwise win fractions, for the dashboard's heatmap.

    ``ties="exclude"`` (Arena's convention): wins / decisive comparisons. ``ties="half"``:
    (wins + ties / 2) / all comparisons. Either side of the screen counts the same.
    """
    if ties not in ("exclude", "half"):
        raise ValueError(f"ties must be 'exclude' or 'half', got {ties!r}")
    left, right, outcome = _comparisons(left, right, outcome, n)
    weight = np.ones(len(left)) if weights is None else np.asarray(weights, dtype=np.float64)
    winner = np.where(outcome > 0, left, right)
    loser = np.where(outcome > 0, right, left)
    decisive = outcome != 0
    wins = np.zeros((n, n))
    np.add.at(wins, (winner[decisive], loser[decisive]), weight[decisive])
    tied = np.zeros((n, n))
    np.add.at(tied, (left[~decisive], right[~decisive]), weight[~decisive])
    tied = tied + tied.T
    comparisons = wins + wins.T + tied
    numerator, denominator = ((wins, wins + wins.T) if ties == "exclude"
                              else (wins + tied / 2.0, comparisons))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(denominator > 0, numerator / denominator, np.nan)
    return WinRateMatrix(win_rate=rate, wins=wins, ties=tied, comparisons=comparisons)


def predicted_win_matrix(scores: np.ndarray, *, tie_parameter: float | None = None,
                         ) -> np.ndarray:
    """Model probability that row i beats column j (position-neutral).

    Bradley-Terry: ``sigmoid(s_i - s_j)``. With a Davidson (1970) tie parameter ``nu``:
    ``pi_i / (pi_i + pi_j + nu sqrt(pi_i pi_j))``, the probability of an outright win (ties
    are the rest). The diagonal is NaN.
    """
    scores = np.asarray(scores, dtype=np.float64)
    difference = scores[:, None] - scores[None, :]
    if tie_parameter is None:
        probability = 1.0 / (1.0 + np.exp(-difference))
    else:
        # divide numerator and denominator by sqrt(pi_i pi_j)
        half = difference / 2.0
        probability = np.exp(half) / (np.exp(half) + np.exp(-half) + tie_parameter)
    np.fill_diagonal(probability, np.nan)
    return probability
