"""The selection plan: the ranked tasks a fit wants judged next, with their probabilities.

:func:`plan_pairwise` turns what the latest fit knows into a plan of item pairs for one of
the strategies, toward one of the goals:

===============  =========================================================================
strategy         what the plan holds
===============  =========================================================================
``info_gain``    a diverse batch of the pairs with the highest expected information gain
                 (:mod:`~modeling.selection.gain`, :mod:`~modeling.selection.batch`);
                 for ``rank_sources`` the gain is over source pairs, each realised as two
                 items of a group that holds both sources
``best_arm``     duels drawn by Double Thompson Sampling (or RUCB) over items of a group
                 or over sources (:mod:`~modeling.selection.bandits`)
``fewest``       the pairs with the fewest judgments so far (random among ties)
``random``       nothing: uniform draws need no plan (the server draws them)
===============  =========================================================================

Each task is a distinct pair with ``slots`` (how many judgments the plan wants of it, at
most the room under the overlap), ranked in the order to serve; ``probability`` is its
share of the plan's slots, so the probabilities sum to 1. Pairs at their overlap are never
planned. Item indices are positions in the state's arrays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from modeling.selection.bandits import GaussianPreferences, duel_plan
from modeling.selection.batch import greedy_batch, spanning_tree_batch
from modeling.selection.candidates import EXACT_LIMIT, Candidates, Posterior, score_candidates

GOALS = ("rank_items", "rank_sources", "find_best")
STRATEGIES = ("random", "fewest", "info_gain", "best_arm", "uncertainty")
CANDIDATES_PER_TASK = 8  # candidates kept per planned task for the greedy batch


@dataclass(frozen=True)
class PairwiseState:
    """What the latest fit knows, over items 0..n-1.

    ``pair_left``/``pair_right``/``pair_count``: judgments so far per judged pair (those
    that count toward the overlap). ``source_mean``/``source_variance``: the source-level
    posterior, over source codes 0..s-1, when the goal is about sources.
    """

    item_group: np.ndarray
    item_source: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    pair_left: np.ndarray
    pair_right: np.ndarray
    pair_count: np.ndarray
    source_mean: np.ndarray | None = None
    source_variance: np.ndarray | None = None
    reliability: float = 1.0  # Crowd-BT eta of the raters expected to answer
    n_judgments: int = 0

    @classmethod
    def of(cls, *, item_group: ArrayLike, item_source: ArrayLike | None = None,
           mean: ArrayLike | None = None, variance: ArrayLike | None = None,
           pairs: ArrayLike | None = None, pair_count: ArrayLike | None = None,
           source_mean: ArrayLike | None = None, source_variance: ArrayLike | None = None,
           reliability: float = 1.0, n_judgments: int = 0, prior_variance: float = 1.0
           ) -> PairwiseState:
        group = np.asarray(item_group, dtype=np.int64)
        n = len(group)
        pair_array = np.asarray(pairs if pairs is not None else np.empty((0, 2)),
                                dtype=np.int64).reshape(-1, 2)
        return cls(
            item_group=group,
            item_source=np.zeros(n, np.int64) if item_source is None
            else np.asarray(item_source, dtype=np.int64),
            mean=np.zeros(n) if mean is None else np.asarray(mean, dtype=float),
            variance=np.full(n, prior_variance) if variance is None
            else np.asarray(variance, dtype=float),
            pair_left=np.minimum(pair_array[:, 0], pair_array[:, 1]),
            pair_right=np.maximum(pair_array[:, 0], pair_array[:, 1]),
            pair_count=np.ones(len(pair_array), np.int64) if pair_count is None
            else np.asarray(pair_count, dtype=np.int64),
            source_mean=None if source_mean is None else np.asarray(source_mean, dtype=float),
            source_variance=None if source_variance is None
            else np.asarray(source_variance, dtype=float),
            reliability=float(reliability), n_judgments=int(n_judgments))

    @property
    def n_items(self) -> int:
        return len(self.item_group)

    def posterior(self) -> Posterior:
        return Posterior.of(self.mean, self.variance, self.item_group)

    def counts_of(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Judgments so far of each (left < right) pair."""
        table = dict(zip((self.pair_left * self.n_items + self.pair_right).tolist(),
                         self.pair_count.tolist(), strict=True))
        keys = (left * self.n_items + right).tolist()
        return np.asarray([table.get(key, 0) for key in keys], dtype=np.int64)


@dataclass(frozen=True)
class PairPlan:
    """Distinct pairs (``left < right``) in serving order, with the slots each takes."""

    left: np.ndarray
    right: np.ndarray
    gain: np.ndarray
    slots: np.ndarray
    probability: np.ndarray
    method: str
    n_candidates: int = 0
    exact: bool = True

    @property
    def size(self) -> int:
        return int(self.slots.sum())


def plan_pairwise(state: PairwiseState, *, goal: str, strategy: str, size: int, overlap: int,
                  best_arm_unit: str = "item", bandit: str = "dts", batch: str = "greedy",
                  seed: int = 0, device: str | None = None, exact_limit: int = EXACT_LIMIT
                  ) -> PairPlan:
    """A plan of about ``size`` judgments (see the module docstring)."""
    _check(goal, strategy, size, overlap)
    rng = np.random.default_rng(seed)
    if strategy == "random" or state.n_items < 2:
        return _empty("uniform")
    if strategy == "fewest":
        return _fewest(state, size, overlap, rng, exact_limit)
    if strategy == "best_arm" or (goal == "find_best" and strategy != "info_gain"):
        if goal == "rank_sources" or best_arm_unit == "source":
            return _source_duels(state, size, overlap, bandit, rng)
        return _item_duels(state, size, overlap, bandit, rng)
    if goal == "rank_sources" or (goal == "find_best" and best_arm_unit == "source"):
        return _source_gain(state, size, overlap, rng, batch)
    return _item_gain(state, size, overlap, batch, seed, device, exact_limit)


def full_pairs(state: PairwiseState, overlap: int) -> np.ndarray:
    """(m, 2) item pairs at their overlap: never planned."""
    full = state.pair_count >= overlap
    return np.stack([state.pair_left[full], state.pair_right[full]], axis=1)


def _check(goal: str, strategy: str, size: int, overlap: int) -> None:
    if goal not in GOALS:
        raise ValueError(f"unknown goal {goal!r}; known: {', '.join(GOALS)}")
    if strategy not in STRATEGIES or strategy == "uncertainty":
        raise ValueError(f"strategy {strategy!r} does not plan pairs; pairwise strategies: "
                         "random, fewest, info_gain, best_arm")
    if size < 1 or overlap < 1:
        raise ValueError("size and overlap must be at least 1")


def _item_gain(state: PairwiseState, size: int, overlap: int, batch: str, seed: int,
               device: str | None, exact_limit: int) -> PairPlan:
    posterior = state.posterior()
    candidates = score_candidates(posterior, keep=max(size * CANDIDATES_PER_TASK, 64),
                                  reliability=state.reliability,
                                  exclude=full_pairs(state, overlap), exact_limit=exact_limit,
                                  device=device, seed=seed)
    room = overlap - state.counts_of(candidates.left, candidates.right)
    if batch == "mst":
        picked = spanning_tree_batch(posterior, candidates, size,
                                     reliability=state.reliability)
        method = "info_gain/mst"
    else:
        picked = greedy_batch(posterior, candidates, size, reliability=state.reliability,
                              capacity=room)
        method = "info_gain/greedy"
    return _aggregate(picked.left, picked.right, picked.gain, method, candidates)


def _source_gain(state: PairwiseState, size: int, overlap: int, rng: np.random.Generator,
                 batch: str) -> PairPlan:
    sources = _SourceIndex(state)
    if state.source_mean is None or state.source_variance is None or not sources.pairs:
        return _empty("info_gain/sources")
    left, right = (np.asarray(side, dtype=np.int64) for side in zip(*sources.pairs,
                                                                     strict=True))
    posterior = Posterior.of(state.source_mean, state.source_variance)
    from modeling.selection.gain import pair_gain

    gain = pair_gain(posterior.mean[left], posterior.mean[right], posterior.variance[left],
                     posterior.variance[right], reliability=state.reliability)
    candidates = Candidates(left, right, gain, len(left), True)
    picked = greedy_batch(posterior, candidates, size, reliability=state.reliability,
                          capacity=np.full(len(left), size))
    return sources.realise(picked.left, picked.right, picked.gain, overlap, rng,
                           "info_gain/sources", len(left))


def _source_duels(state: PairwiseState, size: int, overlap: int, bandit: str,
                  rng: np.random.Generator) -> PairPlan:
    sources = _SourceIndex(state)
    if state.source_mean is None or state.source_variance is None or not sources.pairs:
        return _empty(f"best_arm/{bandit}/sources")
    model = GaussianPreferences(state.source_mean, state.source_variance)
    first, second, counts = duel_plan(model, max(state.n_judgments, 1), size,
                                      algorithm=bandit, rng=rng)
    allowed = [(a, b, n) for a, b, n in zip(first.tolist(), second.tolist(), counts.tolist(),
                                             strict=True) if (a, b) in sources.pair_set]
    left = np.repeat([a for a, _, _ in allowed], [n for _, _, n in allowed]).astype(np.int64)
    right = np.repeat([b for _, b, _ in allowed], [n for _, _, n in allowed]).astype(np.int64)
    return sources.realise(left, right, np.zeros(len(left)), overlap, rng,
                           f"best_arm/{bandit}/sources", len(sources.pairs))


def _item_duels(state: PairwiseState, size: int, overlap: int, bandit: str,
                rng: np.random.Generator) -> PairPlan:
    groups = [members for members in _members_by_group(state.item_group) if len(members) > 1]
    if not groups:
        return _empty(f"best_arm/{bandit}")
    share = rng.multinomial(size, np.full(len(groups), 1.0 / len(groups)))
    lefts, rights = [], []
    for members, draws in zip(groups, share.tolist(), strict=True):
        if draws == 0:
            continue
        model = GaussianPreferences(state.mean[members], state.variance[members])
        first, second, counts = duel_plan(model, max(state.n_judgments, 1), draws,
                                          algorithm=bandit, rng=rng)
        lefts.append(np.repeat(members[first], counts))
        rights.append(np.repeat(members[second], counts))
    left, right = np.concatenate(lefts), np.concatenate(rights)
    keep = _under_overlap(state, left, right, overlap)
    plan = _aggregate(left[keep], right[keep], np.zeros(int(keep.sum())),
                      f"best_arm/{bandit}", None)
    return _capped(plan, overlap - state.counts_of(plan.left, plan.right))


def _fewest(state: PairwiseState, size: int, overlap: int, rng: np.random.Generator,
            exact_limit: int) -> PairPlan:
    lefts, rights = [], []
    for members in _members_by_group(state.item_group):
        if len(members) < 2:
            continue
        if len(members) <= min(exact_limit, 2_000):
            first, second = np.triu_indices(len(members), 1)
            lefts.append(members[first])
            rights.append(members[second])
        else:
            draws = rng.choice(members, size=(8 * size, 2))
            distinct = draws[:, 0] != draws[:, 1]
            lefts.append(draws[distinct, 0])
            rights.append(draws[distinct, 1])
    if not lefts:
        return _empty("fewest")
    left, right = np.concatenate(lefts), np.concatenate(rights)
    left, right = np.minimum(left, right), np.maximum(left, right)
    keys = np.unique(left * state.n_items + right)
    left, right = keys // state.n_items, keys % state.n_items
    counts = state.counts_of(left, right)
    under = counts < overlap
    left, right, counts = left[under], right[under], counts[under]
    order = np.lexsort((rng.random(len(left)), counts))[:size]
    return PairPlan(left[order], right[order], -counts[order].astype(float),
                    np.ones(len(order), np.int64), np.full(len(order), 1.0 / max(len(order), 1)),
                    "fewest", len(left), True)


class _SourceIndex:
    """Which groups hold which sources, to turn source pairs into item pairs."""

    def __init__(self, state: PairwiseState) -> None:
        self.state = state
        self.items: dict[tuple[int, int], np.ndarray] = {}
        by_key: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, (group, source) in enumerate(zip(state.item_group.tolist(),
                                                    state.item_source.tolist(), strict=True)):
            by_key[(group, source)].append(index)
        self.groups_of: dict[tuple[int, int], list[int]] = defaultdict(list)
        sources_in: dict[int, list[int]] = defaultdict(list)
        for (group, source), members in by_key.items():
            self.items[(group, source)] = np.asarray(members, dtype=np.int64)
            sources_in[group].append(source)
        for group, present in sources_in.items():
            present.sort()
            for position, a in enumerate(present):
                for b in present[position + 1:]:
                    self.groups_of[(a, b)].append(group)
        self.pairs = sorted(self.groups_of)
        self.pair_set = set(self.pairs)

    def realise(self, left: np.ndarray, right: np.ndarray, gain: np.ndarray, overlap: int,
                rng: np.random.Generator, method: str, n_candidates: int) -> PairPlan:
        """One item pair per source pair: a random group holding both, a random item of
        each source there, under the overlap (a few tries)."""
        items_left, items_right, gains = [], [], []
        counts = self._count_table()
        for a, b, value in zip(left.tolist(), right.tolist(), gain.tolist(), strict=True):
            pair = self._items_for(min(a, b), max(a, b), counts, overlap, rng)
            if pair is not None:
                items_left.append(pair[0])
                items_right.append(pair[1])
                gains.append(value)
                key = pair[0] * self.state.n_items + pair[1]
                counts[key] = counts.get(key, 0) + 1
        plan = _aggregate(np.asarray(items_left, dtype=np.int64),
                          np.asarray(items_right, dtype=np.int64), np.asarray(gains), method,
                          None)
        return PairPlan(plan.left, plan.right, plan.gain, plan.slots, plan.probability,
                        method, n_candidates, True)

    def _count_table(self) -> dict[int, int]:
        state = self.state
        return dict(zip((state.pair_left * state.n_items + state.pair_right).tolist(),
                        state.pair_count.tolist(), strict=True))

    def _items_for(self, a: int, b: int, counts: dict[int, int], overlap: int,
                   rng: np.random.Generator) -> tuple[int, int] | None:
        groups = self.groups_of.get((a, b))
        if not groups:
            return None
        for _ in range(8):
            group = groups[int(rng.integers(len(groups)))]
            first = int(rng.choice(self.items[(group, a)]))
            second = int(rng.choice(self.items[(group, b)]))
            low, high = min(first, second), max(first, second)
            if counts.get(low * self.state.n_items + high, 0) < overlap:
                return low, high
        return None


def _members_by_group(group: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(group, kind="stable")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    return np.split(order, cuts)


def _under_overlap(state: PairwiseState, left: np.ndarray, right: np.ndarray, overlap: int
                   ) -> np.ndarray:
    low, high = np.minimum(left, right), np.maximum(left, right)
    return (low != high) & (state.counts_of(low, high) < overlap)


def _capped(plan: PairPlan, room: np.ndarray) -> PairPlan:
    """The plan with each pair's slots capped by its room under the overlap."""
    slots = np.minimum(plan.slots, np.maximum(room, 0))
    keep = slots > 0
    total = max(int(slots[keep].sum()), 1)
    return PairPlan(plan.left[keep], plan.right[keep], plan.gain[keep], slots[keep],
                    slots[keep] / total, plan.method, plan.n_candidates, plan.exact)


def _aggregate(left: np.ndarray, right: np.ndarray, gain: np.ndarray, method: str,
               candidates: Candidates | None) -> PairPlan:
    """Distinct pairs in order of first appearance, with their number of appearances as
    slots (their best gain kept)."""
    low, high = np.minimum(left, right), np.maximum(left, right)
    order: dict[tuple[int, int], list[float]] = {}
    for a, b, value in zip(low.tolist(), high.tolist(), np.asarray(gain).tolist(),
                           strict=True):
        order.setdefault((a, b), []).append(value)
    pairs = list(order)
    slots = np.asarray([len(order[pair]) for pair in pairs], dtype=np.int64)
    total = max(int(slots.sum()), 1)
    n_candidates = len(candidates.left) if candidates is not None else len(pairs)
    exact = candidates.exact if candidates is not None else True
    return PairPlan(np.asarray([a for a, _ in pairs], dtype=np.int64),
                    np.asarray([b for _, b in pairs], dtype=np.int64),
                    np.asarray([max(order[pair]) for pair in pairs]), slots, slots / total,
                    method, n_candidates, exact)


def _empty(method: str) -> PairPlan:
    empty = np.empty(0, dtype=np.int64)
    return PairPlan(empty, empty, np.empty(0), empty, np.empty(0), method, 0, True)
