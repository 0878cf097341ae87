"""Collapsing comparisons into weighted unique rows, and the comparison graph's structure.

Every comparison is an *event* ``(i, j, side, rater, category)`` with ``i < j`` after
canonical ordering (swapping ``left`` and ``right`` mirrors the outcome category and the
side). Identical events are merged with summed weights; events of the same
``(i, j, side, rater)`` form one *row* with a count per outcome category. The likelihood
works on rows; the bootstrap reweights events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.errors import ModelError


class NotIdentifiedError(ModelError):
    """The maximum-likelihood estimate does not exist (infinite or not unique).

    ``items`` are the item indices the message is about (e.g. items that never lose);
    ``components`` the groups of items that cannot be placed on one scale.
    """

    def __init__(self, message: str, *, items: list[int] | None = None,
                 components: list[list[int]] | None = None) -> None:
        super().__init__(message)
        self.items = items or []
        self.components = components or []


class DisconnectedGraphWarning(UserWarning):
    """The comparison graph has several components: only the prior ties their scales."""


@dataclass(frozen=True)
class Rows:
    """Collapsed comparisons (numpy, CPU). ``counts[r, k]``: weight of category k in row r."""

    n_items: int
    first: np.ndarray          # (m,) item i of each row (i < j)
    second: np.ndarray         # (m,) item j
    side: np.ndarray           # (m,) +1: i was shown on the left, -1: on the right, 0: unknown
    rater: np.ndarray | None   # (m,) rater index of each row
    counts: np.ndarray         # (m, K) float64
    event_row: np.ndarray      # (E,) row of each unique event
    event_category: np.ndarray  # (E,) category of each unique event
    event_weight: np.ndarray   # (E,) summed weight of each unique event
    input_event: np.ndarray | None  # (N,) event of each input comparison (when kept)

    @property
    def n_rows(self) -> int:
        return len(self.first)

    def counts_from_event_weights(self, weights: np.ndarray) -> np.ndarray:
        """Row-category counts (..., m, K) from event weights (..., E)."""
        n_categories = self.counts.shape[1]
        cells = self.event_row * n_categories + self.event_category
        size = self.n_rows * n_categories
        flat = weights.reshape(-1, weights.shape[-1])
        out = np.stack([np.bincount(cells, row, size) for row in flat])
        return out.reshape(*weights.shape[:-1], self.n_rows, n_categories)


def collapse(left: np.ndarray, right: np.ndarray, category: np.ndarray, n_items: int,
             n_categories: int, *, weights: np.ndarray | None = None,
             side: np.ndarray | None = None, rater: np.ndarray | None = None,
             n_raters: int = 1, keep_inverse: bool = False) -> Rows:
    """Merge identical comparisons. ``category`` runs from "right wins strongly" (0) up."""
    swap = left > right
    first = np.where(swap, right, left)
    second = np.where(swap, left, right)
    category = np.where(swap, n_categories - 1 - category, category)
    side_code = None if side is None else np.where(swap, -side, side) + 1
    columns = (first, second, side_code, rater, category)
    radices = (n_items, n_items, 3, max(n_raters, 1), n_categories)
    key = _combine(columns, radices)
    event_key, event_weight, inverse = _merge(key, weights, keep_inverse)
    if weights is not None:
        positive = event_weight > 0
        event_key, event_weight = event_key[positive], event_weight[positive]
        if inverse is not None:
            remap = np.cumsum(positive) - 1
            inverse = np.where(positive[inverse], remap[inverse], -1)
    row_key = event_key // n_categories
    event_category = event_key - row_key * n_categories
    new_row = np.empty(len(row_key), bool)
    new_row[:1] = True
    np.not_equal(row_key[1:], row_key[:-1], out=new_row[1:])
    starts = np.flatnonzero(new_row)
    event_row = np.cumsum(new_row) - 1
    parts = _split(row_key[starts], columns[:4], radices[:4])
    first, second, side_code, rater_code = parts
    counts = np.bincount(event_row * n_categories + event_category, event_weight,
                         len(starts) * n_categories).reshape(len(starts), n_categories)
    side_value = np.zeros(len(starts)) if side_code is None else side_code - 1.0
    return Rows(n_items=n_items, first=first, second=second, side=side_value,
                rater=rater_code, counts=counts, event_row=event_row,
                event_category=event_category, event_weight=event_weight,
                input_event=inverse)


def _combine(columns: tuple[np.ndarray | None, ...], radices: tuple[int, ...]) -> np.ndarray:
    """One int64 key per comparison; absent columns (None) take no room in it."""
    used = [(column, radix) for column, radix in zip(columns, radices, strict=True)
            if column is not None]
    if np.prod([float(radix) for _, radix in used]) >= 2.0**62:
        raise ValueError("too many items, raters and categories to index comparisons")
    key = used[0][0].astype(np.int64)
    for column, radix in used[1:]:
        key *= radix
        key += column
    return key


def _split(key: np.ndarray, columns: tuple[np.ndarray | None, ...],
           radices: tuple[int, ...]) -> list[np.ndarray | None]:
    parts: list[np.ndarray | None] = []
    for column, radix in zip(reversed(columns), reversed(radices), strict=True):
        if column is None:
            parts.append(None)
            continue
        quotient = key // radix
        parts.append(key - quotient * radix)
        key = quotient
    return parts[::-1]


def _merge(key: np.ndarray, weights: np.ndarray | None, keep_inverse: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if weights is None and not keep_inverse:
        ordered = np.sort(key)  # unit weights: run lengths of the sorted keys, no argsort
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        lengths = np.diff(np.r_[starts, len(ordered)]).astype(np.float64)
        return ordered[starts], lengths, None
    unique, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights, len(unique)) if weights is not None else \
        np.bincount(inverse, minlength=len(unique)).astype(np.float64)
    return unique, summed, inverse if keep_inverse else None


def components(rows: Rows) -> list[list[int]]:
    """Connected components of the comparison graph, largest first (items sorted)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = rows.n_items
    indptr = np.r_[0, np.cumsum(np.bincount(rows.first, minlength=n))]  # rows sorted by first
    graph = csr_matrix((np.ones(rows.n_rows), rows.second, indptr), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    return _groups(labels, count)


def _groups(labels: np.ndarray, count: int) -> list[list[int]]:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(count + 1))
    groups = [order[bounds[k]:bounds[k + 1]].tolist() for k in range(count)]
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def check_identified(rows: Rows, beats: np.ndarray, *, what: str = "scores"
                     ) -> list[list[int]]:
    """Raise :class:`NotIdentifiedError` when the ML scores are infinite or not unique.

    ``beats[r]`` (m, 2) says whether, in row r, i ever did at least as well as j
    (``beats[r, 0]``) and j at least as well as i (``beats[r, 1]``). The ML estimate is
    finite and unique iff this directed graph is strongly connected (Ford 1957; Hunter 2004).
    Returns the (weakly) connected components: one, when the check passes.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = rows.n_items
    src = np.r_[rows.first[beats[:, 0]], rows.second[beats[:, 1]]]
    dst = np.r_[rows.second[beats[:, 0]], rows.first[beats[:, 1]]]
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
    count, labels = connected_components(graph, directed=True, connection="strong")
    if count == 1:
        return [list(range(n))]
    parts = components(rows)
    if len(parts) > 1:
        raise NotIdentifiedError(
            f"the comparison graph has {len(parts)} disconnected components, so the "
            f"maximum-likelihood {what} are not identified (use a prior, alpha > 0)",
            components=parts)
    never_lose = np.setdiff1d(np.arange(n), dst)
    never_win = np.setdiff1d(np.arange(n), src)
    if len(never_lose) or len(never_win):
        problems = []
        if len(never_lose):
            problems.append(f"items {never_lose.tolist()} never lose")
        if len(never_win):
            problems.append(f"items {never_win.tolist()} never win")
        raise NotIdentifiedError(
            f"the maximum-likelihood {what} are infinite: {' and '.join(problems)} "
            "(use a prior, alpha > 0)", items=np.r_[never_lose, never_win].tolist(),
            components=_groups(labels, count))
    groups = _groups(labels, count)
    raise NotIdentifiedError(
        f"the maximum-likelihood {what} are infinite: the comparison graph is not strongly "
        f"connected ({count} groups, one of which always wins against another: {groups}); "
        "use a prior, alpha > 0", components=groups)
