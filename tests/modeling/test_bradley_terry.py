"""Bradley-Terry: published numbers, a reference implementation, gradients, edge cases."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from modeling.bradley_terry import (
    DisconnectedGraphWarning,
    NotIdentifiedError,
    fit_bradley_terry,
    outcome_counts,
    predict_proba,
)
from tests.modeling.bt_support import variant_kwargs

PUDDING = Path(__file__).resolve().parents[1] / "data" / "pudding_davidson1970_ties" / "pudding.csv"


def random_comparisons(n: int, m: int, seed: int, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, spread, n)
    left = rng.integers(0, n, m)
    right = rng.integers(0, n - 1, m)
    right += right >= left
    p_left = 1 / (1 + np.exp(-(truth[left] - truth[right])))
    outcome = np.where(rng.random(m) < p_left, 1, -1)
    return left, right, outcome, truth


def pudding():
    left, right, outcome, weight = [], [], [], []
    with PUDDING.open() as stream:
        for row in csv.DictReader(stream):
            i, j = int(row["i"]) - 1, int(row["j"]) - 1
            for result, column in ((1, "w_ij"), (-1, "w_ji"), (0, "t_ij")):
                left.append(i)
                right.append(j)
                outcome.append(result)
                weight.append(float(row[column]))
    return np.array(left), np.array(right), np.array(outcome), np.array(weight)


# --- published numbers ------------------------------------------------------------------

def test_davidson_pudding_reproduces_published_fit():
    """Davidson (1970) Example 2, as refitted by PlackettLuce (see PROVENANCE.md)."""
    left, right, outcome, weight = pudding()
    assert weight.sum() == 745
    result = fit_bradley_terry(left, right, outcome, 6, weights=weight, ties="davidson",
                               alpha=0.0)
    assert result.converged
    log_worth_vs_brand1 = result.scores - result.scores[0]
    published = [0.0, 0.2202, 0.1530, 0.1753, 0.1339, 0.3771]  # 7-iteration vignette fit
    np.testing.assert_allclose(log_worth_vs_brand1, published, atol=3e-4)
    worths = np.exp(result.scores) / np.exp(result.scores).sum()
    np.testing.assert_allclose(worths, [0.1388005, 0.1729985, 0.1617420, 0.1653930,
                                        0.1586805, 0.2023855], atol=1e-4)
    assert result.tie_parameter == pytest.approx(0.7468147, abs=1e-4)
    assert -2 * result.log_likelihood == pytest.approx(1619.4, abs=0.05)  # residual deviance
    # standard errors of the mean-referenced log-worths (ref = NULL in PlackettLuce)
    np.testing.assert_allclose(result.se, [0.121949, 0.121818, 0.126823, 0.122003,
                                           0.127054, 0.126594], atol=2e-4)


# --- reference implementation: choix --------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maximum_likelihood_matches_choix(seed):
    import choix
    left, right, outcome, _ = random_comparisons(25, 600, seed)
    winners = np.where(outcome > 0, left, right)
    losers = np.where(outcome > 0, right, left)
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    reference = choix.opt_pairwise(25, data, alpha=0.0, tol=1e-12)
    result = fit_bradley_terry(left, right, outcome, 25, alpha=0.0)
    assert result.converged
    np.testing.assert_allclose(result.scores, reference - reference.mean(), atol=1e-6)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 5.0])
def test_map_matches_choix_with_the_same_prior(alpha):
    """choix's opt_pairwise penalises alpha * ||theta||^2 (its code; the docstring says a
    prior of variance 1/alpha): our Gaussian prior of precision a is choix's alpha = a / 2."""
    import choix
    left, right, outcome, _ = random_comparisons(30, 300, 7)
    data = [(w, lo) for w, lo in zip(np.where(outcome > 0, left, right).tolist(),
                                     np.where(outcome > 0, right, left).tolist(), strict=True)]
    reference = choix.opt_pairwise(30, data, alpha=alpha / 2, tol=1e-12)
    result = fit_bradley_terry(left, right, outcome, 30, alpha=alpha)
    np.testing.assert_allclose(result.scores, reference - reference.mean(), atol=1e-6)


def test_recovers_true_strengths():
    left, right, outcome, truth = random_comparisons(40, 40_000, 3)
    result = fit_bradley_terry(left, right, outcome, 40, alpha=0.0)
    centred = truth - truth.mean()
    z = (result.scores - centred) / result.se
    assert np.abs(z).max() < 4
    assert np.mean(np.abs(z) < 1.96) >= 0.8  # 40 items: a loose check of the nominal 95 %


# --- solvers, backends, fallback --------------------------------------------------------

def test_dense_cg_and_sparse_direct_solvers_agree(monkeypatch):
    from modeling.bradley_terry import _linalg

    left, right, outcome, _ = random_comparisons(300, 6000, 4)
    base = fit_bradley_terry(left, right, outcome, 300, alpha=0.5)
    assert base.solver.endswith("cg")
    monkeypatch.setattr(_linalg, "DENSE_MAX", 1000)
    dense = fit_bradley_terry(left, right, outcome, 300, alpha=0.5)
    monkeypatch.setattr(_linalg, "DENSE_MAX", 10)
    monkeypatch.setattr(_linalg, "CG_PATIENCE", 2)
    direct = fit_bradley_terry(left, right, outcome, 300, alpha=0.5)
    assert dense.solver.endswith("dense")
    assert direct.solver.endswith("direct")
    np.testing.assert_allclose(dense.scores, base.scores, atol=1e-8)
    np.testing.assert_allclose(direct.scores, base.scores, atol=1e-8)


@pytest.mark.parametrize("options", [
    {}, {"ties": "davidson"}, {"position_bias": True}, {"strength": True},
    {"rater_reliability": True}, {"alpha": 0.0, "ties": "davidson", "position_bias": True},
])
def test_torch_backend_matches_numpy_backend(options):
    """The torch code path (used on CUDA) gives the numpy path's answer, here on the CPU."""
    rng = np.random.default_rng(5)
    m = 1000
    left, right, outcome, _ = random_comparisons(20, m, 5)
    outcome[rng.random(m) < 0.2] = 0
    kwargs = variant_kwargs(options, rng, m, n_strength_levels=3, n_raters=8)
    numpy_fit = fit_bradley_terry(left, right, outcome, 20, bootstrap=2, **kwargs)
    torch_fit = fit_bradley_terry(left, right, outcome, 20, bootstrap=2, device="cpu",
                                  backend="torch", **kwargs)
    assert numpy_fit.device == "cpu"
    assert torch_fit.device == "cpu"
    np.testing.assert_allclose(torch_fit.scores, numpy_fit.scores, atol=1e-8)
    np.testing.assert_allclose(torch_fit.se, numpy_fit.se, atol=1e-8)
    np.testing.assert_allclose(torch_fit.bootstrap_scores, numpy_fit.bootstrap_scores,
                               atol=1e-7)
    assert torch_fit.log_likelihood == pytest.approx(numpy_fit.log_likelihood, abs=1e-8)


def test_mm_fallback_reaches_the_newton_optimum(monkeypatch):
    from modeling.bradley_terry import _newton

    left, right, outcome, _ = random_comparisons(30, 2000, 6)
    newton = fit_bradley_terry(left, right, outcome, 30, alpha=0.2)
    monkeypatch.setattr(_newton, "_line_search", lambda *args: None)
    mm = fit_bradley_terry(left, right, outcome, 30, alpha=0.2)
    assert mm.converged
    assert mm.solver.startswith("mm")
    np.testing.assert_allclose(mm.scores, newton.scores, atol=1e-5)


def test_newton_converges_in_few_iterations_on_an_ill_conditioned_design(monkeypatch):
    """Pairs only between near neighbours in strength (what active selection produces):
    the log-likelihood is flat long before the ranking settles. Newton with a sparse direct
    solve still converges in a few steps to the point where the gradient vanishes, the
    same point a dense solve reaches."""
    from scipy.stats import kendalltau

    from modeling.bradley_terry import _linalg

    rng = np.random.default_rng(8)
    n, m = 1200, 24_000
    truth = np.sort(rng.normal(0, 1, n))
    rank = rng.integers(0, n, m)
    partner = np.clip(rank + rng.integers(1, 6, m) * rng.choice([-1, 1], m), 0, n - 1)
    keep = partner != rank
    left, right = rank[keep], partner[keep]
    outcome = np.where(rng.random(keep.sum()) < 1 / (1 + np.exp(truth[right] - truth[left])),
                       1, -1)
    result = fit_bradley_terry(left, right, outcome, n, alpha=0.0, standard_errors=False)
    assert result.converged
    assert result.n_iter <= 15
    assert result.solver.endswith("direct")
    winner = np.where(outcome > 0, left, right)
    loser = np.where(outcome > 0, right, left)
    p_upset = 1 / (1 + np.exp(result.scores[winner] - result.scores[loser]))
    gradient = np.bincount(winner, p_upset, n) - np.bincount(loser, p_upset, n)
    assert np.abs(gradient).max() < 1e-8
    monkeypatch.setattr(_linalg, "DENSE_MAX", 5000)
    dense = fit_bradley_terry(left, right, outcome, n, alpha=0.0, standard_errors=False)
    np.testing.assert_allclose(result.scores, dense.scores, atol=1e-6)
    assert kendalltau(result.scores, dense.scores)[0] > 0.9999


# --- gradients --------------------------------------------------------------------------

def _model(**options):
    """A small model on the numpy backend, through the public fit's own set-up."""
    from modeling.bradley_terry import _fit
    from modeling.bradley_terry._backend import NumpyOps
    from modeling.bradley_terry._data import collapse

    rng = np.random.default_rng(9)
    left, right, outcome, _ = random_comparisons(6, 400, 9)
    outcome[rng.random(400) < 0.25] = 0
    data = {"left": left, "right": right, "outcome": outcome,
            "side": np.where(rng.random(400) < 0.5, 1, -1)}
    if options.get("strength"):
        data.update(strength=rng.integers(1, 4, 400), n_levels=3)
    ops = NumpyOps()
    family, _ = _fit._family(ops, data, options.get("ties", "half"))
    rows = collapse(left, right, family.category(outcome, data.get("strength")), 6,
                    family.n_categories, side=data["side"] if options.get("position") else None,
                    rater=rng.integers(0, 4, 400) if options.get("crowd") else None, n_raters=4)
    model = _fit._model(ops, rows, family, 0.3, bool(options.get("position")))
    phi = np.r_[0.2 * np.ones(model.position), family.initial_theta() + 0.1]
    return model, rows, rng.normal(0, 0.5, 6), phi


def _numeric_gradient(function, x, step=1e-6):
    gradient = np.zeros_like(x)
    for k in range(len(x)):
        up, down = x.copy(), x.copy()
        up[k] += step
        down[k] -= step
        gradient[k] = (function(up) - function(down)) / (2 * step)
    return gradient


@pytest.mark.parametrize("options", [
    {}, {"position": True}, {"ties": "davidson"}, {"ties": "davidson", "position": True},
    {"strength": True}, {"strength": True, "position": True},
])
def test_gradient_and_hessian_match_finite_differences(options):
    from modeling.bradley_terry._newton import covariance_dense, newton_system

    model, _, s, phi = _model(**options)
    n = model.n

    def objective(x):
        return float(model.objective(x[:n], x[n:]))

    x = np.r_[s, phi]
    system = newton_system(model, s, phi)
    analytic = np.r_[system.grad_s, system.grad_phi]
    np.testing.assert_allclose(analytic, _numeric_gradient(objective, x), atol=1e-6)
    # the negative Hessian, column by column from the analytic gradient
    def gradient(x):
        g = newton_system(model, x[:n], x[n:])
        return np.r_[g.grad_s, g.grad_phi]
    numeric_hessian = np.stack([_numeric_gradient(lambda y, k=k: gradient(y)[k], x)
                                for k in range(len(x))])
    model.alpha = 0.3
    inverse = covariance_dense(model, system)
    np.testing.assert_allclose(np.linalg.inv(inverse), -numeric_hessian, atol=1e-5)


def test_crowd_bt_gradients_match_finite_differences():
    """Chen et al. (2013): p = eta sigma(d) + (1 - eta) sigma(-d); d/ds and d/deta."""
    from modeling.bradley_terry._crowd import log_likelihood
    from modeling.bradley_terry._newton import newton_system

    model, rows, s, phi = _model(crowd=True, position=True)
    raters = rows.rater
    eta = np.array([0.9, 0.6, 0.3, 0.75])
    n = model.n

    def total(x):
        return log_likelihood(model, x[:n], x[n:n + 1], x[n + 1:], raters) \
            + float(model.log_prior(x[:n], x[n:n + 1]))

    x = np.r_[s, phi, eta]
    numeric = _numeric_gradient(total, x)
    model.eta = eta[raters]
    system = newton_system(model, s, phi)
    grad_eta_rows, _ = model.family.eta_derivatives(model.delta(s, phi), model.counts,
                                                    model.eta)
    grad_eta = np.bincount(raters, grad_eta_rows, 4)
    np.testing.assert_allclose(np.r_[system.grad_s, system.grad_phi, grad_eta], numeric,
                               atol=1e-6)


# --- edge cases -------------------------------------------------------------------------

def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no comparisons"):
        fit_bradley_terry([], [], [], 3)


def test_one_item_cannot_be_compared():
    with pytest.raises(ValueError, match="compared with itself"):
        fit_bradley_terry([0], [0], [1], 1)
    with pytest.raises(ValueError, match="no comparisons"):
        fit_bradley_terry([], [], [], 1)


def test_two_items_closed_form():
    """a beats b 3 times of 4: ML log-odds log 3; var(delta) = 1 / (n p (1 - p))."""
    result = fit_bradley_terry([0, 0, 0, 1], [1, 1, 1, 0], [1, 1, 1, 1], 2, alpha=0.0)
    np.testing.assert_allclose(result.scores, [np.log(3) / 2, -np.log(3) / 2], atol=1e-9)
    se_delta = np.sqrt(1 / (4 * 0.75 * 0.25))
    np.testing.assert_allclose(result.se, [se_delta / 2, se_delta / 2], atol=1e-9)


def test_all_ties():
    left, right, _, _ = random_comparisons(5, 50, 10)
    ties = np.zeros(50, dtype=int)
    half = fit_bradley_terry(left, right, ties, 5, alpha=0.0)
    np.testing.assert_allclose(half.scores, 0.0, atol=1e-9)
    davidson = fit_bradley_terry(left, right, ties, 5, ties="davidson", alpha=1.0)
    np.testing.assert_allclose(davidson.scores, 0.0, atol=1e-8)
    assert davidson.tie_parameter > 10  # only the weak prior on log d keeps it finite
    with pytest.raises(NotIdentifiedError, match="every comparison is a tie"):
        fit_bradley_terry(left, right, ties, 5, ties="davidson", alpha=0.0)


def test_davidson_without_ties_is_bradley_terry_with_d_zero():
    left, right, outcome, _ = random_comparisons(8, 200, 11)
    davidson = fit_bradley_terry(left, right, outcome, 8, ties="davidson")
    plain = fit_bradley_terry(left, right, outcome, 8)
    assert davidson.tie_parameter == 0.0
    np.testing.assert_allclose(davidson.scores, plain.scores)


def test_disconnected_graph_warns_and_stays_finite_with_a_prior():
    left = np.array([0, 1, 0, 2, 3, 4, 3])
    right = np.array([1, 0, 1, 3, 4, 2, 4])
    outcome = np.array([1, 1, 1, 1, 1, 1, -1])
    with pytest.warns(DisconnectedGraphWarning, match=r"2 connected components.*\[2, 3, 4\]"):
        result = fit_bradley_terry(left, right, outcome, 5, alpha=1.0)
    assert np.all(np.isfinite(result.scores))
    assert np.all(np.isfinite(result.se))
    assert result.components == [[2, 3, 4], [0, 1]]
    with pytest.raises(NotIdentifiedError, match="2 disconnected components") as error:
        fit_bradley_terry(left, right, outcome, 5, alpha=0.0)
    assert error.value.components == [[2, 3, 4], [0, 1]]


def test_item_that_never_loses():
    left = np.array([0, 0, 1, 2, 1])
    right = np.array([1, 2, 2, 1, 0])
    outcome = np.array([1, 1, 1, 1, -1])  # item 0 beats everyone
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit_bradley_terry(left, right, outcome, 3, alpha=1.0)
    assert np.all(np.isfinite(result.scores))
    assert result.scores.argmax() == 0
    with pytest.raises(NotIdentifiedError, match=r"items \[0\] never lose") as error:
        fit_bradley_terry(left, right, outcome, 3, alpha=0.0)
    assert error.value.items == [0]


def test_not_strongly_connected_is_named():
    # {0, 1} always beat {2, 3}, but each group is internally balanced
    left = np.array([0, 1, 2, 3, 0, 1])
    right = np.array([1, 0, 3, 2, 2, 3])
    outcome = np.ones(6, dtype=int)
    with pytest.raises(NotIdentifiedError, match="not strongly connected") as error:
        fit_bradley_terry(left, right, outcome, 4, alpha=0.0)
    assert sorted(map(sorted, error.value.components)) == [[0, 1], [2, 3]]


def test_duplicate_rows_are_collapsed_into_weights():
    left, right, outcome, _ = random_comparisons(10, 100, 12)
    once = fit_bradley_terry(left, right, outcome, 10, weights=np.full(100, 3.0))
    thrice = fit_bradley_terry(np.tile(left, 3), np.tile(right, 3), np.tile(outcome, 3), 10)
    np.testing.assert_allclose(once.scores, thrice.scores, atol=1e-10)
    # mirrored duplicates (b vs a, right wins) are the same comparison
    mirrored = fit_bradley_terry(np.r_[left, right], np.r_[right, left], np.r_[outcome, -outcome],
                                 10)
    doubled = fit_bradley_terry(left, right, outcome, 10, weights=np.full(100, 2.0))
    np.testing.assert_allclose(mirrored.scores, doubled.scores, atol=1e-10)


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="outcome must be"):
        fit_bradley_terry([0], [1], [2], 2)
    with pytest.raises(ValueError, match="item indices"):
        fit_bradley_terry([0], [5], [1], 2)
    with pytest.raises(ValueError, match="position_bias needs left_shown"):
        fit_bradley_terry([0], [1], [1], 2, position_bias=True)
    with pytest.raises(ValueError, match="half-win model only"):
        fit_bradley_terry([0], [1], [1], 2, rater=[0], rater_reliability=True, ties="davidson")


# --- helpers ----------------------------------------------------------------------------

def test_predict_proba_shapes_and_values():
    left, right, outcome, weight = pudding()
    davidson = fit_bradley_terry(left, right, outcome, 6, weights=weight, ties="davidson",
                                 alpha=0.0)
    probabilities = predict_proba(davidson, [0, 5], [5, 0])
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    a = np.exp(davidson.scores)
    d = davidson.tie_parameter
    tie = d * np.sqrt(a[0] * a[5]) / (a[0] + a[5] + d * np.sqrt(a[0] * a[5]))
    assert probabilities[0, 1] == pytest.approx(tie)
    assert probabilities[0, 0] == pytest.approx(probabilities[1, 2])
    plain = fit_bradley_terry(left, right, outcome, 6, weights=weight)
    p = predict_proba(plain, [0], [5])
    assert p[0, 1] == 0.0
    assert p[0, 0] == pytest.approx(1 / (1 + np.exp(plain.scores[5] - plain.scores[0])))


def test_outcome_counts():
    wins, losses, ties = outcome_counts([0, 1, 2, 0], [1, 2, 0, 2], [1, -1, 0, 1], 3)
    np.testing.assert_array_equal(wins, [2, 0, 1])
    np.testing.assert_array_equal(losses, [0, 2, 1])
    np.testing.assert_array_equal(ties, [1, 0, 1])


def test_result_is_frozen_and_reports_device():
    result = fit_bradley_terry([0, 1], [1, 0], [1, 1], 2)
    assert result.device == "cpu"
    assert result.seconds > 0
    with pytest.raises(AttributeError):
        result.scores = None  # type: ignore[misc]
