"""Bradley-Terry extensions on simulated data: position bias, graded strength, Crowd-BT
raters, the bootstrap and the large-n standard errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from modeling.bradley_terry import fit_bradley_terry
from tests.modeling.bt_support import variant_kwargs


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def pairs(n: int, m: int, rng: np.random.Generator):
    left = rng.integers(0, n, m)
    right = rng.integers(0, n - 1, m)
    right += right >= left
    return left, right


def test_position_bias_recovered_with_an_interval_covering_it():
    rng = np.random.default_rng(20)
    n, m, gamma = 30, 20_000, 0.35
    truth = rng.normal(size=n)
    left, right = pairs(n, m, rng)
    shown = rng.random(m) < 0.5  # True: `left` displayed on the left
    margin = truth[left] - truth[right] + gamma * np.where(shown, 1, -1)
    outcome = np.where(rng.random(m) < sigmoid(margin), 1, -1)
    result = fit_bradley_terry(left, right, outcome, n, left_shown=shown, position_bias=True)
    assert result.converged
    low = result.position_bias - 1.96 * result.position_bias_se
    high = result.position_bias + 1.96 * result.position_bias_se
    assert low < gamma < high
    assert result.position_bias_se < 0.03
    assert np.abs(result.scores - (truth - truth.mean())).max() < 5 * result.se.max()


def test_position_bias_standard_error_matches_its_sampling_spread():
    rng = np.random.default_rng(21)
    n, m, gamma = 10, 2000, -0.3
    truth = rng.normal(size=n)
    estimates, errors = [], []
    for _ in range(30):
        left, right = pairs(n, m, rng)
        shown = rng.random(m) < 0.5
        margin = truth[left] - truth[right] + gamma * np.where(shown, 1, -1)
        outcome = np.where(rng.random(m) < sigmoid(margin), 1, -1)
        fit = fit_bradley_terry(left, right, outcome, n, left_shown=shown, position_bias=True,
                                alpha=0.0)
        estimates.append(fit.position_bias)
        errors.append(fit.position_bias_se)
    # 30 fits: the mean is within ~3 standard errors of the mean (0.01) plus ML's small bias
    assert np.mean(estimates) == pytest.approx(gamma, abs=0.04)
    assert np.std(estimates) == pytest.approx(np.mean(errors), rel=0.3)


def simulate_graded(rng, n, m, cuts, truth):
    """Cumulative-logit answers: |U| <= t0 tie, else strength k where t_{k-1} < |U| <= t_k."""
    left, right = pairs(n, m, rng)
    latent = truth[left] - truth[right] + rng.logistic(size=m)
    level = np.searchsorted(cuts, np.abs(latent))  # 0 = tie, 1..S
    outcome = np.where(level == 0, 0, np.sign(latent)).astype(int)
    return left, right, outcome, np.maximum(level, 1)


def test_graded_strength_recovers_cut_points_and_scores():
    rng = np.random.default_rng(22)
    n, cuts = 25, np.array([0.4, 1.2, 2.5])
    truth = rng.normal(size=n)
    left, right, outcome, strength = simulate_graded(rng, n, 30_000, cuts, truth)
    result = fit_bradley_terry(left, right, outcome, n, strength=strength,
                               n_strength_levels=3)
    assert result.converged
    np.testing.assert_allclose(result.thresholds, cuts, atol=0.06)
    assert np.abs(result.scores - (truth - truth.mean())).max() < 0.12
    # more information than the binary outcome alone: smaller standard errors
    binary = fit_bradley_terry(left, right, outcome, n)
    assert np.all(result.se < binary.se)


def test_graded_strength_without_ties_has_a_zero_first_cut():
    rng = np.random.default_rng(23)
    truth = rng.normal(size=15)
    cuts = np.array([0.0, 1.0])
    left, right, outcome, strength = simulate_graded(rng, 15, 8000, cuts, truth)
    assert not np.any(outcome == 0)
    result = fit_bradley_terry(left, right, outcome, 15, strength=strength)
    assert result.thresholds[0] == 0.0
    assert result.thresholds[1] == pytest.approx(1.0, abs=0.08)


def simulate_crowd(rng, n, m, n_raters, share_random):
    truth = rng.normal(size=n)
    n_random = round(share_random * n_raters)
    eta = np.r_[np.full(n_random, 0.5), rng.uniform(0.85, 0.98, n_raters - n_random)]
    rater = rng.integers(0, n_raters, m)
    left, right = pairs(n, m, rng)
    honest = np.where(rng.random(m) < sigmoid(truth[left] - truth[right]), 1, -1)
    outcome = np.where(rng.random(m) < eta[rater], honest, -honest)
    return left, right, outcome, rater, truth, eta, n_random


def test_crowd_bt_beats_plain_bt_and_flags_random_raters():
    """30 % of raters answer at random (Chen et al. 2013's spammers)."""
    rng = np.random.default_rng(24)
    n, n_raters = 40, 30
    left, right, outcome, rater, truth, eta, n_random = simulate_crowd(rng, n, 6000, n_raters,
                                                                       0.3)
    crowd = fit_bradley_terry(left, right, outcome, n, rater=rater, n_raters=n_raters,
                              rater_reliability=True)
    plain = fit_bradley_terry(left, right, outcome, n)
    assert crowd.converged
    assert kendalltau(crowd.scores, truth)[0] > kendalltau(plain.scores, truth)[0]
    reliability = crowd.rater_reliability
    assert np.all(np.abs(reliability[:n_random] - 0.5) < 0.15)
    flagged = reliability < 0.7
    np.testing.assert_array_equal(flagged, np.arange(n_raters) < n_random)
    assert np.abs(reliability[n_random:] - eta[n_random:]).mean() < 0.06


def test_crowd_bt_spots_an_adversarial_rater():
    rng = np.random.default_rng(25)
    left, right, outcome, rater, _, _, _ = simulate_crowd(rng, 20, 4000, 10, 0.0)
    outcome = np.where(rater == 3, -outcome, outcome)  # rater 3 flips every answer
    crowd = fit_bradley_terry(left, right, outcome, 20, rater=rater, n_raters=10,
                              rater_reliability=True)
    assert crowd.rater_reliability[3] < 0.2
    assert np.all(np.delete(crowd.rater_reliability, 3) > 0.75)


def test_bootstrap_intervals_cover_the_truth_at_roughly_the_nominal_rate():
    rng = np.random.default_rng(26)
    n = 40
    truth = rng.normal(size=n)
    left, right = pairs(n, 4000, rng)
    outcome = np.where(rng.random(4000) < sigmoid(truth[left] - truth[right]), 1, -1)
    result = fit_bradley_terry(left, right, outcome, n, alpha=0.0, bootstrap=300, seed=1)
    assert result.bootstrap_scores.shape == (300, n)
    lower, upper = np.percentile(result.bootstrap_scores, [2.5, 97.5], axis=0)
    centred = truth - truth.mean()
    coverage = np.mean((lower <= centred) & (centred <= upper))
    assert 0.8 <= coverage <= 1.0
    # bootstrap spread agrees with the Hessian standard errors
    np.testing.assert_allclose(result.bootstrap_scores.std(axis=0), result.se, rtol=0.25)


@pytest.mark.parametrize("options", [
    {}, {"ties": "davidson", "position_bias": True}, {"strength": True, "alpha": 0.5},
    {"rater_reliability": True},
])
def test_batched_bootstrap_equals_fitting_replicates_one_by_one(options):
    rng = np.random.default_rng(27)
    n, m = 12, 800
    truth = rng.normal(size=n)
    left, right = pairs(n, m, rng)
    outcome = np.where(rng.random(m) < sigmoid(truth[left] - truth[right]), 1, -1)
    outcome[rng.random(m) < 0.2] = 0
    kwargs = variant_kwargs(options, rng, m, n_strength_levels=2, n_raters=5)
    replicates = rng.multinomial(m, np.full(m, 1 / m), size=4).astype(float)
    batched = fit_bradley_terry(left, right, outcome, n, replicate_weights=replicates, **kwargs)
    full = fit_bradley_terry(left, right, outcome, n, **kwargs)
    for b, weights in enumerate(replicates):
        if kwargs.get("rater_reliability"):  # replicates keep the full-data reliabilities
            single = _fit_fixed_eta(left, right, outcome, n, weights, full, kwargs)
        else:
            single = fit_bradley_terry(left, right, outcome, n, weights=weights,
                                       **kwargs).scores
        np.testing.assert_allclose(batched.bootstrap_scores[b], single, atol=1e-6)


def _fit_fixed_eta(left, right, outcome, n, weights, full, kwargs):
    """A replicate with eta fixed: every comparison of rater k is a mixture with eta_k."""
    from modeling.bradley_terry import _fit
    from modeling.bradley_terry._backend import NumpyOps
    from modeling.bradley_terry._data import collapse
    from modeling.bradley_terry._linalg import SolverPlan
    from modeling.bradley_terry._newton import newton

    ops = NumpyOps()
    family, _ = _fit._family(ops, {"outcome": outcome}, "half")
    rows = collapse(left, right, family.category(outcome, None), n, 3, weights=weights,
                    rater=kwargs["rater"], n_raters=5)
    model = _fit._model(ops, rows, family, 1.0, False)
    model.eta = full.rater_reliability[rows.rater]
    fit = newton(model, np.zeros(n), np.zeros(0), max_iter=100, tol=1e-12,
                 plan=SolverPlan.initial(ops, n))
    return fit.s - fit.s.mean()


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(28)
    left, right = pairs(10, 300, rng)
    outcome = rng.choice([-1, 1], 300)
    first = fit_bradley_terry(left, right, outcome, 10, bootstrap=5, seed=3)
    again = fit_bradley_terry(left, right, outcome, 10, bootstrap=5, seed=3)
    other = fit_bradley_terry(left, right, outcome, 10, bootstrap=5, seed=4)
    np.testing.assert_array_equal(first.bootstrap_scores, again.bootstrap_scores)
    assert not np.allclose(first.bootstrap_scores, other.bootstrap_scores)


@pytest.mark.parametrize("design", ["uniform", "near"])
def test_large_n_standard_errors_agree_with_the_exact_ones(monkeypatch, design):
    """Above DENSE_SE_MAX the SEs are a Neumann series (well-connected designs) or a
    randomized sketch (badly conditioned ones); compare both with the exact inverse."""
    from modeling.bradley_terry import _linalg, _uncertainty

    rng = np.random.default_rng(29)
    n, m = 300, 30_000
    truth = np.sort(rng.normal(size=n))
    if design == "uniform":
        left, right = pairs(n, m, rng)
    else:
        left = rng.integers(0, n, m)
        right = np.clip(left + rng.integers(1, 8, m) * rng.choice([-1, 1], m), 0, n - 1)
        keep = left != right
        left, right = left[keep], right[keep]
        monkeypatch.setattr(_linalg, "CG_PATIENCE", 5)  # force the sparse direct solver
    outcome = np.where(rng.random(len(left)) < sigmoid(truth[left] - truth[right]), 1, -1)
    exact = fit_bradley_terry(left, right, outcome, n, alpha=0.0)
    monkeypatch.setattr(_uncertainty, "DENSE_SE_MAX", 10)
    approximate = fit_bradley_terry(left, right, outcome, n, alpha=0.0)
    assert exact.se_method == "exact"
    assert approximate.se_method == ("neumann" if design == "uniform" else "sketch")
    relative = approximate.se / exact.se - 1
    assert np.abs(relative).mean() < 0.05
    assert np.abs(relative).max() < 0.2


def test_bootstrap_draws_have_the_multinomial_moments():
    """Resampling weight units (the fast path for whole-number weights) is the multinomial
    over unique comparisons: mean total * p and variance total * p * (1 - p)."""
    from modeling.bradley_terry._uncertainty import _event_units, _resample_units

    weights = np.array([1.0, 2.0, 3.0, 4.0])
    units = _event_units(weights)
    draws = _resample_units(np.random.default_rng(0), units, 40_000, len(weights))
    p, total = weights / weights.sum(), weights.sum()
    assert (draws.sum(axis=1) == total).all()
    np.testing.assert_allclose(draws.mean(axis=0), total * p, rtol=0.02)
    np.testing.assert_allclose(draws.var(axis=0), total * p * (1 - p), rtol=0.05)
    assert _event_units(np.array([1.0, 0.5])) is None  # fractional weights: multinomial
