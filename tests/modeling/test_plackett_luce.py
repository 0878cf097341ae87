"""Plackett-Luce: published NASCAR numbers, agreement with choix, recovery and edge cases."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from modeling.errors import ModelError
from modeling.plackett_luce import (
    fit_plackett_luce,
    plackett_luce_log_likelihood,
    simulate_rankings,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "nascar2002_pl"


def _driver_names() -> dict[int, str]:
    with open(DATA / "drivers.csv", newline="") as stream:
        return {int(row["driver_id"]): row["name"] for row in csv.DictReader(stream)}


NAMES = _driver_names()
ID = {name: driver for driver, name in NAMES.items()}


@pytest.fixture(scope="module")
def hunter_rankings() -> list[np.ndarray]:
    """Hunter's 83-driver file, one finishing order per race, 0-based ids (id - 1)."""
    table = np.loadtxt(DATA / "nascar2002_hunter_83drivers.txt", skiprows=1, dtype=np.int64)
    races = []
    for race in np.unique(table[:, 1]):
        rows = table[table[:, 1] == race]
        races.append(rows[np.argsort(rows[:, 2]), 0] - 1)
    return races


@pytest.fixture(scope="module")
def all_rankings() -> list[np.ndarray]:
    """All 87 drivers (PlackettLuce's ``nascar`` orderings), 0-based ids."""
    with open(DATA / "nascar2002_orderings_87drivers.csv", newline="") as stream:
        rows = list(csv.reader(stream))[1:]
    return [np.array([int(cell) for cell in row[1:] if cell]) - 1 for row in rows]


@pytest.fixture(scope="module")
def hunter_fit(hunter_rankings):
    return fit_plackett_luce(hunter_rankings, 83)


def test_nascar_mle_reproduces_hunter_2004_log_worths(hunter_fit):
    # Turner et al. (2020) vignette, npseudo = 0, reference Austin Cameron (id 1)
    published = {"PJ Jones": 4.15, "Scott Pruett": 3.62, "Mark Martin": 2.08,
                 "Dave Marcis": 0.03, "Dick Trickle": -0.31, "Joe Varde": -0.15}
    assert hunter_fit.converged
    assert hunter_fit.method == "newton"
    relative, se = hunter_fit.relative_to(ID["Austin Cameron"] - 1)
    for name, value in published.items():
        assert round(relative[ID[name] - 1], 2) == pytest.approx(value, abs=1e-9), name
    assert se[ID["Austin Cameron"] - 1] == 0.0
    assert np.all(se[np.arange(83) != 0] > 0)


def test_nascar_worths_match_erdman_mm_output(hunter_fit):
    with open(DATA / "reference_erdman_mm_worths.csv", newline="") as stream:
        reference = {int(row["driver_id"]): float(row["worth_sum_normalized"])
                     for row in csv.DictReader(stream)}
    worths = np.exp(hunter_fit.log_worths) / np.exp(hunter_fit.log_worths).sum()
    for driver, worth in reference.items():
        assert worths[driver - 1] == pytest.approx(worth, abs=6e-5), driver


def test_nascar_matches_choix_ilsr_and_mm(hunter_rankings, hunter_fit):
    import choix
    data = [tuple(int(item) for item in ranking) for ranking in hunter_rankings]
    for reference in (choix.ilsr_rankings(83, data, tol=1e-12, max_iter=1000),
                      choix.mm_rankings(83, data, tol=1e-12)):
        centred = reference - reference.mean()
        np.testing.assert_allclose(hunter_fit.log_worths, centred, atol=1e-6)


def test_mm_method_reaches_the_newton_optimum(hunter_rankings, hunter_fit):
    result = fit_plackett_luce(hunter_rankings, 83, method="mm")
    assert result.method == "mm"
    assert result.converged
    np.testing.assert_allclose(result.log_worths, hunter_fit.log_worths, atol=1e-7)
    np.testing.assert_allclose(result.se, hunter_fit.se, rtol=1e-6)
    assert result.log_likelihood == pytest.approx(hunter_fit.log_likelihood, abs=1e-8)


def test_nascar_87_drivers_with_pseudo_rankings_reproduces_plackettluce(all_rankings):
    result = fit_plackett_luce(all_rankings, 87, npseudo=0.5, covariance="likelihood")
    relative, se = result.relative_to(ID["Austin Cameron"] - 1)
    rounded = {"PJ Jones": 3.20, "Scott Pruett": 2.77, "Mark Martin": 1.91,
               "Dave Marcis": 0.02, "Dick Trickle": -0.38, "Joe Varde": -0.12}
    for name, value in rounded.items():
        assert round(relative[ID[name] - 1], 2) == pytest.approx(value, abs=1e-9), name
    printed = {"Andy Hillenburg": (-2.171065, 1.812994), "Gary Bradberry": (-1.744754, 1.855365),
               "Jason Hedlesky": (-1.590764, 1.881708), "Randy Renfrow": (-1.768629, 1.904871)}
    for name, (estimate, error) in printed.items():
        assert relative[ID[name] - 1] == pytest.approx(estimate, abs=2e-6), name
        assert se[ID[name] - 1] == pytest.approx(error, abs=2e-6), name


def test_always_last_drivers_are_named_without_a_prior(all_rankings):
    names = [NAMES[driver] for driver in range(1, 88)]
    with pytest.raises(ModelError, match="Andy Hillenburg, Gary Bradberry, Jason Hedlesky, "
                                         "Randy Renfrow are never ranked above another item"):
        fit_plackett_luce(all_rankings, 87, item_names=names)


def test_always_last_item_is_finite_with_a_prior():
    rankings = [[0, 1, 2], [1, 0, 2], [0, 2], [1, 2]]
    with pytest.raises(ModelError, match=r"item\(s\) 2 are never ranked above"):
        fit_plackett_luce(rankings, 3)
    for options in ({"alpha": 1.0}, {"npseudo": 0.5}):
        result = fit_plackett_luce(rankings, 3, **options)
        assert result.converged
        assert np.all(np.isfinite(result.log_worths))
        assert np.all(np.isfinite(result.se))
        assert result.log_worths[2] == result.log_worths.min()


def test_always_first_and_split_networks_are_errors():
    with pytest.raises(ModelError, match="never ranked below another item"):
        fit_plackett_luce([[0, 1, 2], [0, 2, 1]], 3)
    # {0, 1} and {2, 3} each strongly connected; 1 above 2 once, never the reverse
    split = [[0, 1], [1, 0], [2, 3], [3, 2], [1, 2]]
    with pytest.raises(ModelError, match="not strongly connected"):
        fit_plackett_luce(split, 4)
    with pytest.raises(ModelError, match=r"item\(s\) 3 appear in no ranking"):
        fit_plackett_luce([[0, 1, 2], [2, 1, 0]], 4)
    assert fit_plackett_luce(split, 4, alpha=0.1).converged


def test_two_items_have_the_closed_form_estimate():
    # 7 wins of item 0 and 3 of item 1: theta_0 - theta_1 = log(7 / 3), var = 1/7 + 1/3
    rankings = [[0, 1]] * 7 + [[1, 0]] * 3
    result = fit_plackett_luce(rankings, 2)
    difference, se = result.relative_to(1)
    assert difference[0] == pytest.approx(np.log(7 / 3), abs=1e-10)
    assert se[0] == pytest.approx(np.sqrt(1 / 7 + 1 / 3), rel=1e-9)


def test_covariance_can_be_skipped_for_large_item_sets():
    rankings = [[0, 1, 2], [2, 1, 0], [1, 0, 2]]
    full = fit_plackett_luce(rankings, 3)
    bare = fit_plackett_luce(rankings, 3, covariance="none", method="mm")
    assert bare.covariance is None
    assert np.isnan(bare.se).all()
    np.testing.assert_allclose(bare.log_worths, full.log_worths, atol=1e-8)
    with pytest.raises(ValueError, match="no covariance"):
        bare.relative_to(0)
    with pytest.raises(ValueError, match="covariance must be"):
        fit_plackett_luce(rankings, 3, covariance="sandwich")


def test_weights_equal_repeated_rankings():
    repeated = fit_plackett_luce([[0, 1, 2]] * 3 + [[2, 1, 0]] * 2 + [[1, 2]], 3)
    weighted = fit_plackett_luce([[0, 1, 2], [2, 1, 0], [1, 2]], 3, weights=[3, 2, 1])
    np.testing.assert_allclose(weighted.log_worths, repeated.log_worths, atol=1e-10)
    np.testing.assert_allclose(weighted.se, repeated.se, rtol=1e-9)


def test_single_item_rankings_are_ignored_and_counted():
    base = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2]]
    result = fit_plackett_luce([*base, [1], []], 3)
    assert result.n_ignored == 2
    assert result.n_rankings == 4
    np.testing.assert_allclose(result.log_worths, fit_plackett_luce(base, 3).log_worths)


@pytest.mark.parametrize(("rankings", "n_items", "message"), [
    ([], 3, "no rankings were given"),
    ([[0], [1]], 2, "no ranking orders two or more items"),
    ([[0]], 1, "no ranking orders two or more items"),
    ([[0, 1, 0]], 2, "ranking 0 lists an item more than once"),
    ([[0, 1], [1, 5]], 3, "ranking 1 has item 5, outside 0..2"),
    ([[0, -1]], 3, "ranking 0 has item -1"),
])
def test_malformed_input_is_rejected(rankings, n_items, message):
    with pytest.raises(ValueError, match=message):
        fit_plackett_luce(rankings, n_items)


def test_top_k_likelihood_sums_over_the_unranked_orders():
    theta = np.array([0.3, -1.0, 0.8, 0.1, -0.4])
    top, rest = [2, 0], [4, 1, 3]
    full = [np.logaddexp.reduce([
        plackett_luce_log_likelihood(theta, [[*top, *order]])
        for order in itertools.permutations(rest)])]
    partial = plackett_luce_log_likelihood(theta, [top], unranked=[rest])
    assert partial == pytest.approx(full[0], abs=1e-12)


def test_top_k_rankings_recover_the_worths():
    truth = np.linspace(-1.5, 1.5, 12)
    full = simulate_rankings(truth, 3000, ranking_length=6, seed=3)
    result = fit_plackett_luce(full[:, :2], 12, unranked=full[:, 2:])
    assert result.converged
    z = (result.log_worths - (truth - truth.mean())) / result.se
    assert np.sqrt(np.mean(z**2)) < 2.0
    assert np.corrcoef(result.log_worths, truth)[0, 1] > 0.97


def test_parameter_recovery_and_calibrated_standard_errors():
    rng = np.random.default_rng(7)
    truth = rng.normal(0.0, 1.0, 40)
    ragged = [row for length in (2, 3, 4, 5)  # sub-rankings of random subsets, ragged
              for row in simulate_rankings(truth, 625, ranking_length=length, seed=length)]
    result = fit_plackett_luce(ragged, 40)
    assert result.converged
    assert result.n_iter < 20
    z = (result.log_worths - (truth - truth.mean())) / result.se
    assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5  # standard errors have the right size
    assert np.corrcoef(result.log_worths, truth)[0, 1] > 0.97


def test_ragged_rankings_match_choix():
    import choix
    truth = np.linspace(-1.0, 1.0, 15)
    ragged = [tuple(int(i) for i in row) for length in (2, 4, 6)
              for row in simulate_rankings(truth, 150, ranking_length=length, seed=length)]
    ours = fit_plackett_luce(ragged, 15).log_worths
    theirs = choix.ilsr_rankings(15, ragged, tol=1e-12, max_iter=1000)
    np.testing.assert_allclose(ours, theirs - theirs.mean(), atol=1e-6)


def test_standard_errors_are_the_inverse_observed_information():
    import torch
    rankings = [[0, 1, 2, 3], [3, 2, 0], [1, 3, 0, 2], [2, 1], [0, 3], [2, 0, 3, 1]]
    result = fit_plackett_luce(rankings, 4, alpha=0.5)

    def negative_log_posterior(theta):
        total = 0.5 * 0.5 * (theta * theta).sum()
        for ranking in rankings:
            for stage in range(len(ranking) - 1):
                total = total - theta[ranking[stage]] + torch.logsumexp(
                    theta[list(ranking[stage:])], 0)
        return total

    theta = torch.as_tensor(result.log_worths, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(negative_log_posterior, theta).numpy()
    centring = np.eye(4) - 1 / 4
    np.testing.assert_allclose(result.covariance, centring @ np.linalg.inv(hessian) @ centring,
                               atol=1e-10)
    gradient = torch.autograd.functional.jacobian(negative_log_posterior, theta).numpy()
    assert np.abs(gradient).max() < 1e-8


@pytest.mark.gpu
def test_cuda_agrees_with_cpu(hunter_rankings, hunter_fit):
    result = fit_plackett_luce(hunter_rankings, 83, device="cuda")
    assert result.device.startswith("cuda")
    np.testing.assert_allclose(result.log_worths, hunter_fit.log_worths, atol=1e-9)
