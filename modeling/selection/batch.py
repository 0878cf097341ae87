"""Batches of pairs with diversity, so that concurrent raters get different useful pairs.

A plan is served to several raters before the next fit, so its pairs should not all teach
the same thing. Two constructions, both from the active-sampling literature:

* :func:`greedy_batch` (default): pick the pair with the highest gain, update the posterior
  as if it had been judged once (a rank-one precision update along e_i - e_j with the
  expected Fisher information; the diagonal of Sherman-Morrison), re-score the pairs that
  share an item, and repeat. Gains only fall under such updates, so the re-scoring is lazy
  (a heap of stale values, recomputed when they reach the top). A pair may be picked again
  (up to its ``capacity``) once it is still the most informative.
* :func:`spanning_tree_batch`: Hybrid-MST's batch mode (Li et al. 2018): a maximum spanning
  tree (forest, one per group) of the candidate graph weighted by gain, so every item is
  compared and the batch connects the graph; rounds repeat after the rank-one updates until
  the batch is full.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from modeling.selection.candidates import Candidates, Posterior
from modeling.selection.gain import (
    NODES,
    expected_information,
    mutual_information,
    variances_after,
)


@dataclass(frozen=True)
class Batch:
    """Picked pairs in the order they were picked (a pair may appear several times)."""

    left: np.ndarray
    right: np.ndarray
    gain: np.ndarray  # the gain when picked, after the updates for earlier picks
    variance: np.ndarray  # the item variances after every pick (the batch's expected effect)


def greedy_batch(posterior: Posterior, candidates: Candidates, size: int, *,
                 reliability: float = 1.0, capacity: ArrayLike | None = None,
                 nodes: int = NODES) -> Batch:
    """Greedy batch of ``size`` picks with lazy rank-one updates (see the module docstring).

    ``capacity``: how many times each candidate may be picked (default 1).
    """
    room = _capacity(candidates, capacity)
    variance = posterior.variance.copy()
    version = np.zeros(posterior.n_items, dtype=np.int64)
    heap = [(-gain, k, 0) for k, gain in enumerate(candidates.gain) if room[k] > 0]
    heapq.heapify(heap)
    picks: list[tuple[int, float]] = []
    while heap and len(picks) < size:
        negative, k, seen = heapq.heappop(heap)
        i, j = int(candidates.left[k]), int(candidates.right[k])
        if seen != _stamp(version, i, j):
            heapq.heappush(heap, (-_one_gain(posterior, variance, i, j, reliability, nodes),
                                  k, _stamp(version, i, j)))
            continue
        picks.append((k, -negative))
        _update(posterior, variance, i, j, reliability, nodes)
        version[i] += 1
        version[j] += 1
        room[k] -= 1
        if room[k] > 0:
            heapq.heappush(heap, (-_one_gain(posterior, variance, i, j, reliability, nodes),
                                  k, _stamp(version, i, j)))
    return _batch(candidates, picks, variance)


def spanning_tree_batch(posterior: Posterior, candidates: Candidates, size: int, *,
                        reliability: float = 1.0, nodes: int = NODES) -> Batch:
    """Hybrid-MST's batches: maximum spanning forests over the gains, in rounds."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    variance = posterior.variance.copy()
    picks: list[tuple[int, float]] = []
    n = posterior.n_items
    while len(picks) < size and len(candidates.left):
        gain = mutual_information(*_moments(posterior, variance, candidates.left,
                                            candidates.right), reliability=reliability,
                                  nodes=nodes)
        weight = gain.max() - gain + 1e-9  # a minimum tree of these is a maximum of gains
        graph = coo_matrix((weight, (candidates.left, candidates.right)), shape=(n, n))
        tree = minimum_spanning_tree(graph.tocsr()).tocoo()
        index = {(int(a), int(b)): k for k, (a, b) in
                 enumerate(zip(candidates.left, candidates.right, strict=True))}
        chosen = [index[(min(a, b), max(a, b))] for a, b in
                  zip(tree.row.tolist(), tree.col.tolist(), strict=True)]
        chosen.sort(key=lambda k: -gain[k])
        for k in chosen[:size - len(picks)]:
            picks.append((k, float(gain[k])))
            _update(posterior, variance, int(candidates.left[k]), int(candidates.right[k]),
                    reliability, nodes)
        if not chosen:
            break
    return _batch(candidates, picks, variance)


def _stamp(version: np.ndarray, i: int, j: int) -> int:
    # A gain is current while neither of its items has been updated since it was computed.
    return int(version[i]) * 1_000_003 + int(version[j])


def _capacity(candidates: Candidates, capacity: ArrayLike | None) -> np.ndarray:
    if capacity is None:
        return np.ones(len(candidates.left), dtype=np.int64)
    room = np.asarray(capacity, dtype=np.int64)
    if room.shape != candidates.left.shape:
        raise ValueError("capacity needs one entry per candidate")
    return room.copy()


def _moments(posterior: Posterior, variance: np.ndarray, left: np.ndarray, right: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    return posterior.mean[left] - posterior.mean[right], variance[left] + variance[right]


def _one_gain(posterior: Posterior, variance: np.ndarray, i: int, j: int, reliability: float,
              nodes: int) -> float:
    mu, v = _moments(posterior, variance, np.array([i]), np.array([j]))
    return float(mutual_information(mu, v, reliability=reliability, nodes=nodes)[0])


def _update(posterior: Posterior, variance: np.ndarray, i: int, j: int, reliability: float,
            nodes: int) -> None:
    mu, v = _moments(posterior, variance, np.array([i]), np.array([j]))
    information = expected_information(mu, v, reliability=np.asarray(reliability),
                                       nodes=nodes)
    new_i, new_j = variances_after(variance[i], variance[j], information[0])
    variance[i], variance[j] = float(new_i), float(new_j)


def _batch(candidates: Candidates, picks: list[tuple[int, float]], variance: np.ndarray
           ) -> Batch:
    chosen = np.asarray([k for k, _ in picks], dtype=np.int64)
    return Batch(candidates.left[chosen], candidates.right[chosen],
                 np.asarray([gain for _, gain in picks], dtype=float), variance)
