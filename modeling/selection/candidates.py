"""Which pairs of a group are worth scoring, and their gains.

Pairs are drawn within a group (items answering the same prompt). A group of up to
``exact_limit`` items (default 5,000, i.e. 12.5 million pairs) has every pair scored, in
torch blocks on the device asked for (a GPU when the worker has one); the cheap closed-form
gain screens them and the best ``keep`` are re-scored by the exact (Gauss-Hermite) gain.
Beyond that a group is pruned, never O(n^2): each item is paired with its ``neighbours``
nearest items by score, the most uncertain items with random partners, and a random sample
of pairs, so the cost grows like n log n.

Ties (e.g. a fresh group where every item has the prior mean and variance) are broken at
random by a seeded permutation of the items, so a fresh group does not favour its first
items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from modeling.selection.gain import GainMethod, pair_gain

EXACT_LIMIT = 5_000
NEIGHBOURS = 16
UNCERTAIN_SHARE = 0.05
UNCERTAIN_PARTNERS = 32
RANDOM_PAIRS_PER_ITEM = 2
_BLOCK_ELEMENTS = 4_000_000  # gains computed at once in a torch block
_EXPLICIT_PAIRS = 2_000_000  # small groups: pairs listed explicitly up to this many


@dataclass(frozen=True)
class Posterior:
    """A Gaussian posterior on item scores: ``mean`` and ``variance`` per item, and each
    item's ``group`` code (pairs are formed within a group)."""

    mean: np.ndarray
    variance: np.ndarray
    group: np.ndarray

    @classmethod
    def of(cls, mean: ArrayLike, variance: ArrayLike, group: ArrayLike | None = None
           ) -> Posterior:
        mean_array = np.asarray(mean, dtype=float)
        variance_array = np.asarray(variance, dtype=float)
        group_array = (np.zeros(len(mean_array), dtype=np.int64) if group is None
                       else np.asarray(group, dtype=np.int64))
        if mean_array.ndim != 1 or variance_array.shape != mean_array.shape \
                or group_array.shape != mean_array.shape:
            raise ValueError("mean, variance and group must be 1-d arrays of the same length")
        if not np.all(np.isfinite(mean_array)) or not np.all(np.isfinite(variance_array)):
            raise ValueError("mean and variance must be finite")
        if np.any(variance_array < 0):
            raise ValueError("variances must be >= 0")
        return cls(mean_array, variance_array, group_array)

    @property
    def n_items(self) -> int:
        return len(self.mean)


@dataclass(frozen=True)
class Candidates:
    """Scored pairs (``left < right``, item indices) and how they were found."""

    left: np.ndarray
    right: np.ndarray
    gain: np.ndarray
    n_scored: int  # pairs whose gain was computed (screened or exact)
    exact: bool  # every within-group pair was scored


def score_candidates(posterior: Posterior, *, keep: int, reliability: float = 1.0,
                     method: GainMethod = "gauss_hermite", exclude: ArrayLike | None = None,
                     exact_limit: int = EXACT_LIMIT, device: str | None = None, seed: int = 0
                     ) -> Candidates:
    """The ``keep`` pairs with the highest gain (fewer when there are fewer pairs).

    ``exclude``: an (m, 2) array of item-index pairs that may not be served (e.g. at their
    overlap); they are never returned.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    rng = np.random.default_rng(seed)
    excluded = _pair_keys(np.asarray(exclude if exclude is not None else np.empty((0, 2)),
                                     dtype=np.int64).reshape(-1, 2), posterior.n_items)
    pools, n_scored, exact = [], 0, True
    for members in _groups(posterior.group, rng):
        if len(members) < 2:
            continue
        if len(members) > exact_limit:
            left, right = pruned_pairs(posterior, members, rng)
            pools.append((left, right, None))
            n_scored += len(left)
            exact = False
        elif len(members) * (len(members) - 1) // 2 <= _EXPLICIT_PAIRS:
            left, right = _all_pairs(members)
            pools.append((left, right, None))
            n_scored += len(left)
        else:
            extra = keep + len(excluded)
            pools.append(_block_top(posterior, members, extra, device))
            n_scored += len(members) * (len(members) - 1) // 2
    return _best(posterior, pools, keep, excluded, reliability, method, n_scored, exact)


def pruned_pairs(posterior: Posterior, members: np.ndarray, rng: np.random.Generator,
                 *, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of a large group: score neighbours, uncertain items with random
    partners, and random pairs; O(n (neighbours + a few)) pairs, deduplicated."""
    n = len(members)
    by_score = members[np.argsort(posterior.mean[members], kind="stable")]
    lefts, rights = [], []
    for offset in range(1, min(neighbours, n - 1) + 1):
        lefts.append(by_score[:-offset])
        rights.append(by_score[offset:])
    n_uncertain = max(1, int(UNCERTAIN_SHARE * n))
    uncertain = members[np.argsort(-posterior.variance[members], kind="stable")[:n_uncertain]]
    lefts.append(np.repeat(uncertain, UNCERTAIN_PARTNERS))
    rights.append(rng.choice(members, size=n_uncertain * UNCERTAIN_PARTNERS))
    lefts.append(rng.choice(members, size=n * RANDOM_PAIRS_PER_ITEM))
    rights.append(rng.choice(members, size=n * RANDOM_PAIRS_PER_ITEM))
    left, right = np.concatenate(lefts), np.concatenate(rights)
    low, high = np.minimum(left, right), np.maximum(left, right)
    keys = np.unique(low[low != high] * posterior.n_items + high[low != high])
    return keys // posterior.n_items, keys % posterior.n_items


def _groups(group: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Item indices per group, each group in a seeded random order (random tie-breaks)."""
    order = rng.permutation(len(group))
    order = order[np.argsort(group[order], kind="stable")]
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    return np.split(order, cuts)


def _all_pairs(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(len(members), k=1)
    left, right = members[first], members[second]
    return np.minimum(left, right), np.maximum(left, right)


def _block_top(posterior: Posterior, members: np.ndarray, keep: int, device: str | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of a large group screened by the closed-form gain in torch blocks; the
    best ``keep`` (left, right, screened gain)."""
    import torch

    from modeling.device import resolve_device
    from modeling.selection.gain import _HOULSBY_C2, PROBIT_SCALE

    where = resolve_device(device)
    mean = torch.as_tensor(posterior.mean[members], device=where, dtype=torch.float32)
    var = torch.as_tensor(posterior.variance[members], device=where, dtype=torch.float32)
    n = len(members)
    rows = max(1, _BLOCK_ELEMENTS // n)
    best_gain = torch.empty(0, device=where)
    best_index = torch.empty(0, dtype=torch.int64, device=where)
    columns = torch.arange(n, device=where)
    for start in range(0, n - 1, rows):
        stop = min(n, start + rows)
        mu = PROBIT_SCALE * (mean[start:stop, None] - mean[None, :])
        v = PROBIT_SCALE ** 2 * (var[start:stop, None] + var[None, :])
        predictive = torch.special.ndtr(mu / torch.sqrt(1.0 + v)).clamp(1e-7, 1 - 1e-7)
        entropy = -(predictive * predictive.log() + (1 - predictive) * (-predictive).log1p())
        spread = v + _HOULSBY_C2
        gain = entropy - 0.6931471805599453 * torch.sqrt(_HOULSBY_C2 / spread) * torch.exp(
            -mu ** 2 / (2 * spread))
        upper = columns[None, :] > torch.arange(start, stop, device=where)[:, None]
        gain = torch.where(upper, gain, torch.full_like(gain, -1.0)).reshape(-1)
        take = min(keep, gain.numel())
        values, index = torch.topk(gain, take)
        index = index + start * n
        merged = torch.cat([best_gain, values])
        merged_index = torch.cat([best_index, index])
        take = min(keep, merged.numel())
        best_gain, order = torch.topk(merged, take)
        best_index = merged_index[order]
    kept = best_gain > -1.0
    flat = best_index[kept].cpu().numpy()
    left, right = members[flat // n], members[flat % n]
    return np.minimum(left, right), np.maximum(left, right), best_gain[kept].cpu().numpy()


def _best(posterior: Posterior, pools: list, keep: int, excluded: np.ndarray,
          reliability: float, method: GainMethod, n_scored: int, exact: bool) -> Candidates:
    if not pools:
        empty = np.empty(0, dtype=np.int64)
        return Candidates(empty, empty, np.empty(0), n_scored, exact)
    left = np.concatenate([pool[0] for pool in pools])
    right = np.concatenate([pool[1] for pool in pools])
    allowed = ~np.isin(left * posterior.n_items + right, excluded)
    left, right = left[allowed], right[allowed]
    # Screen by the closed form (reliability scales every gain alike), re-score the best.
    screening = "closed_form" if len(left) > 4 * keep else method
    gain = _gain(posterior, left, right, 1.0 if screening == "closed_form" else reliability,
                 screening)
    if len(left) > keep:
        top = np.argpartition(-gain, keep - 1)[:keep]
        left, right = left[top], right[top]
        gain = _gain(posterior, left, right, reliability, method)
    elif screening != method:
        gain = _gain(posterior, left, right, reliability, method)
    order = np.argsort(-gain, kind="stable")
    return Candidates(left[order], right[order], gain[order], n_scored, exact)


def _gain(posterior: Posterior, left: np.ndarray, right: np.ndarray, reliability: float,
          method: GainMethod) -> np.ndarray:
    return pair_gain(posterior.mean[left], posterior.mean[right], posterior.variance[left],
                     posterior.variance[right], reliability=reliability, method=method)


def _pair_keys(pairs: np.ndarray, n_items: int) -> np.ndarray:
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n_items):
        raise ValueError("excluded pairs must hold item indices of the posterior")
    return np.minimum(pairs[:, 0], pairs[:, 1]) * n_items + np.maximum(pairs[:, 0], pairs[:, 1])
