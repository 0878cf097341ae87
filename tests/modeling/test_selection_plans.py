"""Dueling bandits, plans for every strategy, fine-grained uncertainty, stopping estimates
and the simulation helpers (modeling.selection)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from modeling.selection.bandits import (
    EmpiricalPreferences,
    GaussianPreferences,
    condorcet_winner,
    confidence_bounds,
    copeland_scores,
    copeland_winners,
    cumulative_regret,
    dts_duel,
    duel_plan,
    duel_regret,
    rucb_duel,
    uniform_duel,
)
from modeling.selection.fine_grained import (
    adaptive_open,
    confident_items,
    item_entropy,
    plan_items,
    posterior_entropy,
)
from modeling.selection.plan import PairwiseState, full_pairs, plan_pairwise
from modeling.selection.simulation import (
    SimulatedRater,
    confusion_rater,
    hidden_strengths,
    kendall_tau,
    rater_panel,
    simulate_label,
)
from modeling.selection.stopping import stopping_estimate, top_probability

# A Condorcet winner (arm 0) and known gaps: Delta = P[0, k] - 1/2 = 0, 0.1, 0.3, 0.4.
PREFERENCE = np.array([[0.5, 0.6, 0.8, 0.9],
                       [0.4, 0.5, 0.7, 0.8],
                       [0.2, 0.3, 0.5, 0.6],
                       [0.1, 0.2, 0.4, 0.5]])


def play(algorithm: str, preference: np.ndarray, duels: int, seed: int,
         allow_self: bool = True) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    k = len(preference)
    wins = np.zeros((k, k))
    hypothesis = None
    firsts, seconds = [], []
    for t in range(1, duels + 1):
        model = EmpiricalPreferences(wins)
        if algorithm == "dts":
            a, b = dts_duel(model, t, rng=rng, allow_self=allow_self)
        elif algorithm == "rucb":
            a, b, hypothesis = rucb_duel(model, t, rng=rng, hypothesis=hypothesis,
                                         allow_self=allow_self)
        else:
            a, b = uniform_duel(k, rng=rng, allow_self=allow_self)
        firsts.append(a)
        seconds.append(b)
        if a != b:
            winner, loser = (a, b) if rng.random() < preference[a, b] else (b, a)
            wins[winner, loser] += 1
    return firsts, seconds


def test_regret_of_single_duels_by_hand():
    average, weak, strong = duel_regret(PREFERENCE, [0, 1, 2], [0, 3, 2])
    np.testing.assert_allclose(average, [0.0, (0.1 + 0.4) / 2, 0.3])
    np.testing.assert_allclose(weak, [0.0, 0.1, 0.3])
    np.testing.assert_allclose(strong, [0.0, 0.4, 0.3])
    totals = cumulative_regret(PREFERENCE, [0, 1, 2], [0, 3, 2])
    assert totals.average == pytest.approx(0.55)
    assert totals.weak == pytest.approx(0.4)
    assert totals.strong == pytest.approx(0.7)


def test_copeland_winner_when_no_condorcet_winner_exists():
    cycle = np.array([[0.5, 0.9, 0.2, 0.8],   # 0 beats 1 and 3; loses to 2
                      [0.1, 0.5, 0.9, 0.7],   # 1 beats 2 and 3
                      [0.8, 0.1, 0.5, 0.6],   # 2 beats 0 and 3
                      [0.2, 0.3, 0.4, 0.5]])
    assert condorcet_winner(cycle) is None
    np.testing.assert_allclose(copeland_scores(cycle), [2 / 3, 2 / 3, 2 / 3, 0.0])
    assert copeland_winners(cycle).tolist() == [0, 1, 2]
    average, _, _ = duel_regret(cycle, [3], [0])
    assert float(average[0]) == pytest.approx(2 / 3 - (0 + 2 / 3) / 2)
    assert condorcet_winner(PREFERENCE) == 0


def test_confidence_bounds_by_hand():
    wins = np.array([[0.0, 3.0], [1.0, 0.0]])
    upper, lower = confidence_bounds(wins, t=10, alpha=0.51)
    radius = math.sqrt(0.51 * math.log(10) / 4)
    assert upper[0, 1] == pytest.approx(min(0.75 + radius, 1.0))
    assert lower[0, 1] == pytest.approx(0.75 - radius)
    assert upper[0, 0] == lower[0, 0] == 0.5
    fresh_upper, fresh_lower = confidence_bounds(np.zeros((2, 2)), t=1)
    assert fresh_upper[0, 1] == 1.0
    assert fresh_lower[0, 1] == 0.0


def test_bandits_on_a_seeded_preference_matrix_beat_uniform_duels():
    regrets = {}
    for algorithm in ("dts", "rucb", "uniform"):
        totals = [cumulative_regret(PREFERENCE, *play(algorithm, PREFERENCE, 600, seed))
                  for seed in range(3)]
        regrets[algorithm] = np.mean([total.average for total in totals])
    # uniform duels cost the mean gap per arm: (0 + 0.1 + 0.3 + 0.4) / 4 = 0.2 per duel
    assert regrets["uniform"] == pytest.approx(600 * 0.2, rel=0.1)
    assert regrets["dts"] < regrets["rucb"] < regrets["uniform"]
    assert regrets["dts"] < 0.4 * regrets["uniform"]


def test_without_self_duels_every_duel_has_two_arms():
    firsts, seconds = play("dts", PREFERENCE, 200, seed=1, allow_self=False)
    assert all(a != b for a, b in zip(firsts, seconds, strict=True))
    firsts, seconds = play("rucb", PREFERENCE, 200, seed=1, allow_self=False)
    assert all(a != b for a, b in zip(firsts, seconds, strict=True))
    # the best arm and its closest rival end up dueling most
    pairs = [tuple(sorted(pair)) for pair in zip(firsts[-100:], seconds[-100:], strict=True)]
    assert max(set(pairs), key=pairs.count) == (0, 1)


def test_gaussian_preferences_find_the_best_of_a_fitted_posterior():
    model = GaussianPreferences(np.array([1.0, 0.0, -1.0, 2.5]), np.full(4, 0.01))
    rng = np.random.default_rng(0)
    first, second, counts = duel_plan(model, 100, 50, algorithm="dts", rng=rng)
    top = int(np.argmax(counts))
    assert {int(first[top]), int(second[top])} == {3, 0}
    assert counts.sum() == 50
    with pytest.raises(ValueError, match="unknown bandit"):
        duel_plan(model, 1, 1, algorithm="exp3", rng=rng)


def state_for(n: int = 6, **overrides) -> PairwiseState:
    rng = np.random.default_rng(7)
    defaults = {"item_group": np.repeat([0, 1], [n - 2, 2]),
                "item_source": np.arange(n) % 3, "mean": rng.normal(size=n),
                "variance": rng.uniform(0.2, 1.0, n), "source_mean": np.array([0.3, 0.0, -0.3]),
                "source_variance": np.array([0.2, 0.2, 0.2]), "n_judgments": 40}
    return PairwiseState.of(**{**defaults, **overrides})


@pytest.mark.parametrize(("goal", "strategy"), [
    ("rank_items", "info_gain"), ("rank_items", "fewest"), ("rank_items", "best_arm"),
    ("rank_sources", "info_gain"), ("rank_sources", "best_arm"), ("find_best", "best_arm"),
    ("find_best", "info_gain")])
def test_plan_probabilities_sum_to_one_and_respect_the_overlap(goal, strategy):
    state = state_for(pairs=np.array([[0, 1], [2, 3]]), pair_count=np.array([2, 1]))
    plan = plan_pairwise(state, goal=goal, strategy=strategy, size=12, overlap=2)
    assert plan.size > 0
    assert plan.probability.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(plan.probability, plan.slots / plan.slots.sum())
    assert (plan.left < plan.right).all()
    assert all(state.item_group[a] == state.item_group[b]
               for a, b in zip(plan.left, plan.right, strict=True))
    pairs = list(zip(plan.left.tolist(), plan.right.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs)
    assert (0, 1) not in pairs  # at its overlap
    room = 2 - state.counts_of(plan.left, plan.right)
    assert (plan.slots <= room).all()


def test_source_plans_pair_two_sources_present_in_one_group():
    group = np.repeat(np.arange(4), 3)  # four groups, each with sources 0, 1, 2
    state = state_for(12, item_group=group, item_source=np.tile([0, 1, 2], 4),
                      mean=np.zeros(12), variance=np.ones(12),
                      source_mean=np.array([0.0, 0.05, 3.0]),
                      source_variance=np.array([0.5, 0.5, 0.01]))
    plan = plan_pairwise(state, goal="rank_sources", strategy="info_gain", size=10, overlap=3)
    sources = [tuple(sorted((state.item_source[a], state.item_source[b])))
               for a, b in zip(plan.left, plan.right, strict=True)]
    assert all(a != b for a, b in sources)
    assert sources[0] == (0, 1)  # the two close sources teach the most


def test_random_plans_are_empty_and_bad_arguments_are_named():
    state = state_for()
    assert plan_pairwise(state, goal="rank_items", strategy="random", size=5,
                         overlap=1).size == 0
    with pytest.raises(ValueError, match="unknown goal"):
        plan_pairwise(state, goal="rank_all", strategy="random", size=5, overlap=1)
    with pytest.raises(ValueError, match="does not plan pairs"):
        plan_pairwise(state, goal="rank_items", strategy="uncertainty", size=5, overlap=1)
    assert full_pairs(state_for(pairs=np.array([[1, 0]]), pair_count=np.array([3])), 3
                      ).tolist() == [[0, 1]]


def test_fewest_plans_the_least_judged_pairs_first():
    state = state_for(4, item_group=np.zeros(4), pairs=np.array([[0, 1], [0, 2], [1, 2]]),
                      pair_count=np.array([2, 1, 1]))
    plan = plan_pairwise(state, goal="rank_items", strategy="fewest", size=6, overlap=3)
    counts = state.counts_of(plan.left, plan.right)
    assert counts.tolist() == sorted(counts.tolist())
    assert counts[:3].tolist() == [0, 0, 0]


def test_uncertainty_plan_and_adaptive_overlap():
    posteriors = np.array([[0.99, 0.01], [0.55, 0.45], [0.7, 0.3], [0.5, 0.5]])
    task_item = np.array([0, 1, 2, 3])
    uncertainty = item_entropy(task_item, posteriors, 5)
    assert np.isnan(uncertainty[4])
    confident = confident_items(task_item, posteriors, 5, confidence=0.95)
    counts = np.array([3, 3, 5, 1, 0])
    open_items = adaptive_open(counts, confident, min_overlap=2, max_overlap=5)
    assert open_items.tolist() == [False, True, False, True, True]
    plan = plan_items(uncertainty=uncertainty, counts=counts, open_items=open_items, size=4,
                      min_overlap=2, max_overlap=5)
    assert plan.items.tolist() == [4, 3, 1]  # unannotated first, then the least certain
    assert plan.slots.tolist() == [2, 1, 1]
    assert plan.probability.sum() == pytest.approx(1.0)
    assert posterior_entropy(np.array([[0.5, 0.5]]))[0] == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="min_overlap"):
        adaptive_open(counts, confident, min_overlap=3, max_overlap=2)


def test_stopping_estimate_for_two_items_matches_the_normal_probability():
    mean, variance = np.array([0.5, 0.0]), np.array([0.04, 0.05])
    exact = float(ndtr(0.5 / math.sqrt(0.09)))
    assert top_probability(mean, variance, draws=200_000) == pytest.approx(exact, abs=0.01)
    estimate = stopping_estimate(mean, variance, n_judgments=100)
    assert estimate.separated_share == 0.0  # 0.5 < 1.96 (0.2 + 0.224)
    growth = (1.959963984540054 * (0.2 + math.sqrt(0.05)) / 0.5) ** 2
    assert estimate.more_judgments == math.ceil(100 * (growth - 1))
    closer = stopping_estimate(np.array([0.3, 0.0]), variance, n_judgments=100)
    factor = (1.6448536269514722 * 0.3 / 0.3) ** 2  # one-sided 95 % over sd 0.3
    assert closer.more_for_top == math.ceil(100 * (factor - 1))
    settled = stopping_estimate(np.array([3.0, 0.0, -3.0]), np.full(3, 0.01), n_judgments=50)
    assert (settled.separated_share, settled.more_judgments, settled.more_for_top) == (1.0, 0, 0)
    assert stopping_estimate(np.zeros(3), np.ones(3), n_judgments=0).more_judgments is None


def test_simulated_raters_answer_by_the_model_or_at_random():
    rng = np.random.default_rng(0)
    reliable, clicker = SimulatedRater(1.0), SimulatedRater(0.0)
    p = 1 / (1 + math.exp(-1.0))
    assert np.mean([reliable.answer(1.0, 0.0, rng) == 1 for _ in range(4_000)]) == (
        pytest.approx(p, abs=0.025))
    assert np.mean([clicker.answer(5.0, 0.0, rng) == 1 for _ in range(4_000)]) == (
        pytest.approx(0.5, abs=0.025))
    panel = rater_panel(10, random_share=0.2, rng=rng)
    assert sum(rater.is_random_clicker for rater in panel) == 2
    truth = hidden_strengths(100, sd=1.5, rng=rng)
    assert np.std(truth) == pytest.approx(1.5, rel=0.2)
    assert kendall_tau(truth, truth) == 1.0
    assert kendall_tau(truth, -truth) == -1.0
    confusion = confusion_rater(3, 0.8)
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    labels = [simulate_label(confusion, 2, rng) for _ in range(2_000)]
    assert np.mean(np.array(labels) == 2) == pytest.approx(0.8, abs=0.03)
