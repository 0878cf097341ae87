"""Expected information gain, candidates and diverse batches (modeling.selection)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate

from modeling.selection import candidates as candidates_module
from modeling.selection.batch import greedy_batch, spanning_tree_batch
from modeling.selection.candidates import Posterior, score_candidates
from modeling.selection.gain import (
    binary_entropy,
    expected_information,
    pair_gain,
    sigmoid,
    variances_after,
)
from modeling.selection.plan import PairwiseState, plan_pairwise


def quadrature_gain(mu: float, v: float, eta: float = 1.0) -> float:
    """I = H(E q) - E H(q) for d ~ N(mu, v), by adaptive quadrature (the hand computation)."""
    sd = math.sqrt(v)

    def density(z: float) -> float:
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def answer(z: float) -> float:
        p = 1 / (1 + math.exp(-(mu + sd * z)))
        return eta * p + (1 - eta) * (1 - p)

    def entropy(q: float) -> float:
        return -(q * math.log(q) + (1 - q) * math.log(1 - q))

    mean_answer = integrate.quad(lambda z: answer(z) * density(z), -12, 12)[0]
    mean_entropy = integrate.quad(lambda z: entropy(answer(z)) * density(z), -12, 12)[0]
    return entropy(mean_answer) - mean_entropy


@pytest.mark.parametrize(("mu", "v", "eta"), [(0.0, 1.0, 1.0), (1.0, 2.0, 1.0),
                                              (3.0, 0.5, 1.0), (0.0, 4.0, 0.8),
                                              (-0.5, 0.1, 0.6)])
def test_gauss_hermite_gain_is_the_mutual_information(mu, v, eta):
    gain = pair_gain(mu, 0.0, v / 2, v / 2, reliability=eta)
    assert float(gain) == pytest.approx(quadrature_gain(mu, v, eta), rel=1e-4, abs=1e-9)


def test_closed_form_and_expected_kl_track_the_exact_gain():
    mu = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    v = np.array([0.5, 1.0, 2.0, 1.0, 4.0])
    exact = pair_gain(mu, 0.0, v / 2, v / 2)
    closed = pair_gain(mu, 0.0, v / 2, v / 2, method="closed_form")
    kl = pair_gain(mu, 0.0, v / 2, v / 2, method="expected_kl")
    np.testing.assert_allclose(closed, exact, rtol=0.25)
    assert (np.argsort(closed) == np.argsort(exact)).all()
    assert (kl > 0).all()
    assert np.corrcoef(kl, exact)[0, 1] > 0.9


def test_random_clicker_teaches_nothing_and_reliability_scales_the_gain():
    for method in ("gauss_hermite", "expected_kl"):
        assert float(pair_gain(0.3, 0.0, 1.0, 1.0, reliability=0.5, method=method)) == (
            pytest.approx(0.0, abs=1e-12))
    gains = [float(pair_gain(0.3, 0.0, 1.0, 1.0, reliability=eta))
             for eta in (0.5, 0.7, 0.9, 1.0)]
    assert gains == sorted(gains)
    with pytest.raises(ValueError, match="reliable raters"):
        pair_gain(0.0, 0.0, 1.0, 1.0, reliability=0.9, method="closed_form")
    with pytest.raises(ValueError, match="between 0 and 1"):
        pair_gain(0.0, 0.0, 1.0, 1.0, reliability=1.5)


def test_gain_is_symmetric_in_the_sides_and_grows_with_uncertainty():
    assert float(pair_gain(0.4, -0.2, 0.3, 0.7)) == pytest.approx(
        float(pair_gain(-0.2, 0.4, 0.7, 0.3)))
    mu = np.full(50, 1.0)
    v = np.linspace(0.01, 9.0, 50)
    assert (np.diff(pair_gain(mu, 0.0, v / 2, v / 2)) > 0).all()
    assert float(pair_gain(0.0, 0.0, 0.0, 0.0)) == pytest.approx(0.0, abs=1e-12)


def test_expected_information_of_a_certain_pair_is_p_times_one_minus_p():
    mu = np.array([0.0, 1.0, -2.0])
    p = sigmoid(mu)
    np.testing.assert_allclose(expected_information(mu, np.zeros(3)), p * (1 - p))
    assert float(expected_information(np.array(0.0), np.array(0.0), reliability=np.array(0.5))
                 ) == pytest.approx(0.0)


def test_rank_one_update_matches_sherman_morrison_on_the_full_covariance():
    covariance = np.array([[0.8, 0.1, 0.0], [0.1, 0.5, 0.05], [0.0, 0.05, 0.3]])
    x = np.array([1.0, -1.0, 0.0])
    h = 0.2
    updated = np.linalg.inv(np.linalg.inv(covariance) + h * np.outer(x, x))
    left, right = variances_after(covariance[0, 0], covariance[1, 1], h, covariance[0, 1])
    assert float(left) == pytest.approx(updated[0, 0])
    assert float(right) == pytest.approx(updated[1, 1])


def test_the_first_planned_pair_has_the_highest_hand_computed_gain():
    mean = np.array([0.0, 0.1, 1.5, -1.0, 0.6])
    variance = np.array([0.2, 1.5, 0.9, 0.4, 2.0])
    expected = max(itertools.combinations(range(5), 2), key=lambda pair: quadrature_gain(
        mean[pair[0]] - mean[pair[1]], variance[pair[0]] + variance[pair[1]]))
    state = PairwiseState.of(item_group=np.zeros(5), mean=mean, variance=variance)
    plan = plan_pairwise(state, goal="rank_items", strategy="info_gain", size=1, overlap=3)
    assert (int(plan.left[0]), int(plan.right[0])) == expected
    assert plan.probability.sum() == pytest.approx(1.0)


def test_rater_reliability_changes_the_gain_but_not_a_clear_choice():
    mean, variance = np.array([0.0, 0.0, 3.0]), np.array([1.0, 1.0, 1.0])
    state = PairwiseState.of(item_group=np.zeros(3), mean=mean, variance=variance,
                             reliability=0.7)
    plan = plan_pairwise(state, goal="rank_items", strategy="info_gain", size=1, overlap=1)
    assert (int(plan.left[0]), int(plan.right[0])) == (0, 1)
    assert plan.gain[0] == pytest.approx(quadrature_gain(0.0, 2.0, 0.7), rel=1e-5)


def test_greedy_batch_spreads_over_items_when_all_pairs_look_alike():
    posterior = Posterior.of(np.zeros(10), np.ones(10))
    candidates = score_candidates(posterior, keep=45)
    batch = greedy_batch(posterior, candidates, 5)
    covered = set(batch.left.tolist()) | set(batch.right.tolist())
    assert len(covered) == 10  # a perfect matching: nobody is asked about twice
    assert (np.diff(batch.gain) <= 1e-12).all()  # gains fall as the batch fills
    assert (batch.variance < 1.0).all()


def test_greedy_batch_repeats_a_pair_only_within_its_capacity():
    posterior = Posterior.of(np.array([0.0, 0.0, 4.0]), np.array([3.0, 3.0, 0.01]))
    candidates = score_candidates(posterior, keep=3)
    capacity = np.where((candidates.left == 0) & (candidates.right == 1), 2, 1)
    batch = greedy_batch(posterior, candidates, 6, capacity=capacity)
    pairs = list(zip(batch.left.tolist(), batch.right.tolist(), strict=True))
    assert pairs[:2] == [(0, 1), (0, 1)]
    assert pairs.count((0, 1)) == 2
    assert len(pairs) == 4  # every capacity used up


def test_spanning_tree_batch_connects_each_group():
    posterior = Posterior.of(np.linspace(-1, 1, 8), np.full(8, 0.5),
                             np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    candidates = score_candidates(posterior, keep=100)
    batch = spanning_tree_batch(posterior, candidates, 6)
    assert len(batch.left) == 6  # a spanning forest: 3 + 3 edges
    for group in ((0, 1, 2, 3), (4, 5, 6, 7)):
        reached, frontier = {group[0]}, [group[0]]
        edges = list(zip(batch.left.tolist(), batch.right.tolist(), strict=True))
        while frontier:
            node = frontier.pop()
            for a, b in edges:
                for here, there in ((a, b), (b, a)):
                    if here == node and there not in reached:
                        reached.add(there)
                        frontier.append(there)
        assert reached == set(group)


def test_candidates_stay_within_groups_and_never_include_excluded_pairs():
    group = np.repeat([0, 1, 2], [4, 3, 1])
    posterior = Posterior.of(np.zeros(8), np.ones(8), group)
    found = score_candidates(posterior, keep=100, exclude=np.array([[1, 0], [4, 5]]))
    pairs = set(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert len(pairs) == 6 + 3 - 2
    assert (0, 1) not in pairs
    assert (4, 5) not in pairs
    assert all(group[a] == group[b] for a, b in pairs)
    assert found.exact


def test_a_fresh_group_breaks_ties_at_random():
    posterior = Posterior.of(np.zeros(60), np.ones(60))
    first_items = set()
    for seed in range(5):
        found = score_candidates(posterior, keep=5, seed=seed)
        first_items |= set(found.left.tolist()) | set(found.right.tolist())
    assert len(first_items) > 20


def test_large_groups_are_pruned_not_enumerated():
    rng = np.random.default_rng(3)
    n = 3_000
    posterior = Posterior.of(rng.normal(size=n), rng.uniform(0.1, 1.0, n))
    found = score_candidates(posterior, keep=200, exact_limit=1_000)
    assert not found.exact
    assert found.n_scored < 40 * n  # O(n) candidates, not n^2 / 2 = 4.5 million
    assert (found.left < found.right).all()
    # pruning keeps score neighbours, where the gain is highest
    gaps = np.abs(posterior.mean[found.left] - posterior.mean[found.right])
    assert np.median(gaps) < 0.2


def test_block_screening_in_torch_finds_the_same_best_pairs(monkeypatch):
    rng = np.random.default_rng(4)
    posterior = Posterior.of(rng.normal(size=300), rng.uniform(0.1, 2.0, 300))
    explicit = score_candidates(posterior, keep=50)
    monkeypatch.setattr(candidates_module, "_EXPLICIT_PAIRS", 10)
    monkeypatch.setattr(candidates_module, "_BLOCK_ELEMENTS", 30_000)
    blocked = score_candidates(posterior, keep=50)
    assert blocked.n_scored == 300 * 299 // 2
    overlap = set(zip(explicit.left.tolist(), explicit.right.tolist(), strict=True)) & set(
        zip(blocked.left.tolist(), blocked.right.tolist(), strict=True))
    assert len(overlap) >= 45  # float32 screening may swap near-ties at the margin
    np.testing.assert_allclose(blocked.gain[:10], explicit.gain[:10], rtol=1e-6)


def test_binary_entropy_edges():
    np.testing.assert_allclose(binary_entropy(np.array([0.0, 0.5, 1.0])),
                               [0.0, math.log(2), 0.0], atol=1e-9)
