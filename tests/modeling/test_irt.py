"""Rasch and 2PL by marginal maximum likelihood: published LSAT numbers (ltm, mirt), an
independent numpy/scipy marginal likelihood, girth, parameter recovery with missing
responses, and edge cases."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling import irt
from modeling.irt import ExtremeItemsError, fit_2pl, fit_rasch, marginal_log_likelihood

DATA = Path(__file__).resolve().parent.parent / "data" / "lsat_rasch_irt"


def reference(dataset: str, model: str, param: str) -> np.ndarray:
    """Published estimates from reference_estimates.csv, in item order."""
    with (DATA / "reference_estimates.csv").open(newline="") as stream:
        rows = [row for row in csv.DictReader(stream)
                if (row["dataset"], row["model"], row["param"]) == (dataset, model, param)]
    assert rows, (dataset, model, param)
    return np.array([float(row["value"]) for row in rows])


def patterns(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Response patterns as long arrays (one 'person' per pattern) and the pattern counts."""
    table = np.loadtxt(DATA / name, delimiter=",", skiprows=1, dtype=np.int64)
    responses, counts = table[:, :-1], table[:, -1]
    persons, items = np.divmod(np.arange(responses.size), responses.shape[1])
    return persons, items, responses.ravel(), counts.astype(float)


def simulate(n_persons: int, n_items: int, *, missing: float, seed: int,
             two_pl: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_persons)
    a = rng.uniform(0.6, 2.0, n_items) if two_pl else np.ones(n_items)
    b = rng.uniform(-1.5, 1.5, n_items)
    persons, items = np.divmod(np.arange(n_persons * n_items), n_items)
    keep = rng.random(persons.size) >= missing
    persons, items = persons[keep], items[keep]
    p = 1 / (1 + np.exp(-a[items] * (theta[persons] - b[items])))
    correct = (rng.random(p.size) < p).astype(np.int64)
    return {"persons": persons, "items": items, "correct": correct, "a": a, "b": b,
            "theta": theta}


def numpy_log_likelihood(persons, items, correct, intercept, slope, weights=None,
                         n_quadrature=41):
    """Independent marginal log-likelihood: sum_p w_p log sum_q w_q prod_j P(y_pj | x_q)."""
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(n_quadrature)
    node_weights = node_weights / node_weights.sum()
    n_persons = persons.max() + 1
    logits = slope[items, None] * nodes[None, :] + intercept[items, None]
    log_p = np.where(correct[:, None] == 1, -np.logaddexp(0, -logits), -np.logaddexp(0, logits))
    order = np.argsort(persons, kind="stable")
    starts = np.flatnonzero(np.diff(persons[order], prepend=-1))
    per_person = np.zeros((n_persons, nodes.size))
    per_person[persons[order][starts]] = np.add.reduceat(log_p[order], starts, axis=0)
    marginal = np.log(np.exp(per_person) @ node_weights)
    weights = np.ones(n_persons) if weights is None else weights
    return float(weights @ marginal)


# ------------------------------------------------------------------------ LSAT: ltm, mirt


def test_lsat6_rasch_ltm_convention_matches_published_estimates() -> None:
    persons_matrix = np.loadtxt(DATA / "lsat6_persons_ltm.csv", delimiter=",", skiprows=1,
                                dtype=np.int64)
    persons, items = np.divmod(np.arange(persons_matrix.size), 5)
    fit = fit_rasch(persons, items, persons_matrix.ravel())
    assert fit.converged
    np.testing.assert_allclose(fit.difficulty, reference("LSAT6", "rasch_a1_var1", "b"),
                               atol=1e-3)
    assert fit.log_likelihood == pytest.approx(
        reference("LSAT6", "rasch_a1_var1", "loglik")[0], abs=1e-3)
    assert fit.latent_variance == 1.0
    assert np.all(fit.discrimination == 1.0)
    assert np.all(fit.difficulty_se > 0)
    assert np.all(np.isnan(fit.discrimination_se))


def test_pattern_weights_give_the_same_fit_as_expanded_persons() -> None:
    persons, items, correct, counts = patterns("lsat6_patterns_mirt.csv")
    weighted = fit_rasch(persons, items, correct, person_weights=counts)
    expanded_persons = np.repeat(np.arange(counts.size), counts.astype(int))
    matrix = correct.reshape(counts.size, 5)[expanded_persons]
    long_persons, long_items = np.divmod(np.arange(matrix.size), 5)
    expanded = fit_rasch(long_persons, long_items, matrix.ravel())
    np.testing.assert_allclose(weighted.difficulty, expanded.difficulty, atol=1e-8)
    np.testing.assert_allclose(weighted.difficulty_se, expanded.difficulty_se, rtol=1e-6)
    assert weighted.log_likelihood == pytest.approx(expanded.log_likelihood, abs=1e-6)


def test_lsat6_rasch_with_estimated_variance_matches_mirt_and_ltm() -> None:
    persons, items, correct, counts = patterns("lsat6_patterns_mirt.csv")
    fit = fit_rasch(persons, items, correct, person_weights=counts,
                    latent_variance="estimated")
    assert fit.converged
    assert not fit.latent_variance_fixed
    # mirt itemtype = "Rasch": intercepts d and the latent variance (mirt's tolerance 1e-2)
    np.testing.assert_allclose(fit.intercept, reference("LSAT6", "rasch_a1_varfree", "d"),
                               atol=1e-2)
    assert fit.latent_variance == pytest.approx(
        reference("LSAT6", "rasch_a1_varfree", "latent_variance")[0], abs=1e-2)
    np.testing.assert_allclose(fit.difficulty, -fit.intercept)
    # the same model as ltm's rasch(LSAT): common slope sigma, theta ~ N(0, 1)
    sigma = np.sqrt(fit.latent_variance)
    assert sigma == pytest.approx(reference("LSAT6", "rasch_common_a", "a")[0], abs=1e-3)
    np.testing.assert_allclose(-fit.intercept / sigma, reference("LSAT6", "rasch_common_a", "b"),
                               atol=1e-3)
    assert fit.log_likelihood == pytest.approx(
        reference("LSAT6", "rasch_common_a", "loglik")[0], abs=1e-3)
    assert 0 < fit.latent_variance_se < 0.5


def test_lsat6_2pl_matches_ltm_log_likelihood_and_estimates() -> None:
    persons, items, correct, counts = patterns("lsat6_patterns_mirt.csv")
    fit = fit_2pl(persons, items, correct, person_weights=counts)
    assert fit.converged
    assert fit.log_likelihood == pytest.approx(reference("LSAT6", "2pl", "loglik")[0], abs=1e-3)
    # ltm stops its optimiser a little early on the flat item 5 (b = -3.12, SE 0.87): 2.3e-3
    np.testing.assert_allclose(fit.difficulty, reference("LSAT6", "2pl", "b"), atol=3e-3)
    np.testing.assert_allclose(fit.discrimination, reference("LSAT6", "2pl", "a"), atol=1e-3)
    assert np.all(fit.discrimination < 2)  # not the degenerate optimum with a -> 1e3


def test_lsat6_2pl_is_the_maximum_of_an_independent_marginal_likelihood() -> None:
    import scipy.optimize as scipy_optimize
    persons, items, correct, counts = patterns("lsat6_patterns_mirt.csv")
    fit = fit_2pl(persons, items, correct, person_weights=counts, tol=1e-9)

    def negative(params: np.ndarray) -> float:
        return -numpy_log_likelihood(persons, items, correct, params[:5], params[5:], counts)

    start = np.concatenate([-reference("LSAT6", "2pl", "a") * reference("LSAT6", "2pl", "b"),
                            reference("LSAT6", "2pl", "a")])
    best = scipy_optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-7})
    np.testing.assert_allclose(np.concatenate([fit.intercept, fit.discrimination]), best.x,
                               atol=2e-4)
    assert fit.log_likelihood == pytest.approx(-best.fun, abs=1e-7)
    assert fit.log_likelihood >= -best.fun - 1e-9


def test_lsat7_log_likelihoods_and_mirt_estimates() -> None:
    persons, items, correct, counts = patterns("lsat7_patterns_mirt.csv")
    rasch = fit_rasch(persons, items, correct, person_weights=counts,
                      latent_variance="estimated")
    assert rasch.log_likelihood == pytest.approx(
        reference("LSAT7", "rasch_a1_varfree", "loglik")[0], abs=1e-3)
    np.testing.assert_allclose(rasch.difficulty, reference("LSAT7", "rasch_a1_varfree", "b"),
                               atol=1e-3)
    two_pl = fit_2pl(persons, items, correct, person_weights=counts)
    assert two_pl.log_likelihood == pytest.approx(reference("LSAT7", "2pl", "loglik")[0],
                                                  abs=1e-3)
    np.testing.assert_allclose(two_pl.discrimination, reference("LSAT7", "2pl", "a"), atol=1e-2)
    np.testing.assert_allclose(two_pl.intercept, reference("LSAT7", "2pl", "d"), atol=1e-2)


# -------------------------------------------------------------- standard errors, girth


@pytest.fixture(scope="module")
def numerical_covariance() -> tuple[dict, np.ndarray, np.ndarray]:
    """2PL data with missing responses, its fit, and the inverse of a central-difference
    Hessian of an independent numpy marginal log-likelihood at the fitted parameters."""
    data = simulate(1000, 6, missing=0.3, seed=3)
    fit = fit_2pl(data["persons"], data["items"], data["correct"], tol=1e-10, n_quadrature=21)
    params = np.concatenate([fit.intercept, fit.discrimination])

    def log_lik(values: np.ndarray) -> float:
        return numpy_log_likelihood(data["persons"], data["items"], data["correct"],
                                    values[:6], values[6:], n_quadrature=21)

    step, size = 1e-4, params.size
    hessian = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            shifts = [np.eye(size)[i] * step * si + np.eye(size)[j] * step * sj
                      for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            f = [log_lik(params + shift) for shift in shifts]
            hessian[i, j] = hessian[j, i] = (f[0] - f[1] - f[2] + f[3]) / (4 * step * step)
    return data, params, np.linalg.inv(-hessian)


@pytest.mark.parametrize(("dense", "by_pairs"), [(True, False), (True, True), (False, False),
                                                 (False, True)])
def test_covariance_is_the_inverse_numerical_hessian_with_missing_responses(
        numerical_covariance, dense: bool, by_pairs: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way of computing the Louis terms: dense matrices or sparse (CSR) with small
    person chunks, by person-chunk products or by item pairs."""
    data, params, expected = numerical_covariance
    monkeypatch.setattr(irt, "LOUIS_BY_PAIRS", by_pairs)
    if not dense:
        monkeypatch.setattr(irt, "DENSE_CELLS", 0)
        monkeypatch.setattr(irt, "CHUNK_CELLS", 1200)
        monkeypatch.setattr(irt, "CHUNK_PAIRS", 3000)
    fit = fit_2pl(data["persons"], data["items"], data["correct"], tol=1e-10, n_quadrature=21)
    np.testing.assert_allclose(np.concatenate([fit.intercept, fit.discrimination]), params,
                               atol=1e-7)
    np.testing.assert_allclose(fit.covariance, expected, rtol=2e-4, atol=1e-7)
    a, d = fit.discrimination, fit.intercept  # delta method for b = -d / a
    gradient = np.concatenate([np.diag(-1 / a), np.diag(d / a**2)], axis=1)
    np.testing.assert_allclose(fit.difficulty_se,
                               np.sqrt(np.diag(gradient @ expected @ gradient.T)), rtol=1e-3)


def test_reaches_at_least_girths_marginal_likelihood() -> None:
    import girth
    data = simulate(1500, 12, missing=0.0, seed=4)
    matrix = data["correct"].reshape(1500, 12)
    ours = fit_2pl(data["persons"], data["items"], data["correct"])
    theirs = girth.twopl_mml(matrix.T)
    theirs_ll = marginal_log_likelihood(data["persons"], data["items"], data["correct"],
                                        theirs["Difficulty"], theirs["Discrimination"])
    assert ours.log_likelihood >= theirs_ll - 1e-6
    np.testing.assert_allclose(ours.discrimination, theirs["Discrimination"], atol=0.1)
    rasch = fit_rasch(data["persons"], data["items"], data["correct"])
    girth_rasch = girth.rasch_mml(matrix.T)["Difficulty"]
    girth_ll = marginal_log_likelihood(data["persons"], data["items"], data["correct"],
                                       girth_rasch)
    assert rasch.log_likelihood >= girth_ll - 1e-6
    np.testing.assert_allclose(rasch.difficulty, girth_rasch, atol=0.05)


# ------------------------------------------------------------------- parameter recovery


def test_2pl_recovers_parameters_with_missing_responses() -> None:
    data = simulate(4000, 25, missing=0.5, seed=5)
    fit = fit_2pl(data["persons"], data["items"], data["correct"])
    assert fit.converged
    assert np.corrcoef(fit.discrimination, data["a"])[0, 1] > 0.9
    assert np.sqrt(np.mean((fit.difficulty - data["b"]) ** 2)) < 0.12
    assert np.sqrt(np.mean((fit.discrimination - data["a"]) ** 2)) < 0.2
    z_b = (fit.difficulty - data["b"]) / fit.difficulty_se  # SEs of the right size
    assert 0.5 < np.sqrt(np.mean(z_b**2)) < 1.6
    assert np.corrcoef(fit.ability, data["theta"])[0, 1] > 0.85


def test_rasch_recovers_difficulties_with_missing_responses_on_both_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = simulate(3000, 20, missing=0.6, seed=6, two_pl=False)
    dense = fit_rasch(data["persons"], data["items"], data["correct"])
    assert dense.converged
    assert np.sqrt(np.mean((dense.difficulty - data["b"]) ** 2)) < 0.1
    monkeypatch.setattr(irt, "DENSE_CELLS", 0)
    sparse = fit_rasch(data["persons"], data["items"], data["correct"])
    np.testing.assert_allclose(sparse.difficulty, dense.difficulty, atol=1e-7)
    np.testing.assert_allclose(sparse.difficulty_se, dense.difficulty_se, rtol=1e-6)
    np.testing.assert_allclose(sparse.ability, dense.ability, atol=1e-7)


def test_responses_in_any_order_give_the_same_fit() -> None:
    data = simulate(500, 8, missing=0.3, seed=7)
    order = np.random.default_rng(0).permutation(data["persons"].size)
    shuffled = fit_rasch(data["persons"][order], data["items"][order], data["correct"][order])
    ordered = fit_rasch(data["persons"], data["items"], data["correct"])
    np.testing.assert_allclose(shuffled.difficulty, ordered.difficulty, atol=1e-10)
    np.testing.assert_allclose(shuffled.ability, ordered.ability, atol=1e-10)


# --------------------------------------------------------------------------- edge cases


def test_persons_with_all_correct_or_all_wrong_get_finite_eap() -> None:
    data = simulate(400, 10, missing=0.0, seed=8)
    correct = data["correct"].reshape(400, 10)
    correct[0], correct[1] = 1, 0
    fit = fit_rasch(data["persons"], data["items"], correct.ravel())
    assert np.all(np.isfinite(fit.ability))
    assert np.all(fit.ability_sd > 0)
    assert fit.ability[0] == fit.ability.max()
    assert fit.ability[1] == fit.ability.min()
    assert fit.ability_sd[0] < 1
    assert fit.ability_sd[1] < 1


def test_person_without_responses_gets_the_prior() -> None:
    data = simulate(200, 6, missing=0.0, seed=9)
    fit = fit_rasch(data["persons"], data["items"], data["correct"], n_persons=201)
    assert fit.ability[200] == pytest.approx(0.0, abs=1e-12)
    assert fit.ability_sd[200] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(("value", "kind"), [(1, "all correct"), (0, "all incorrect")])
def test_item_answered_the_same_by_everyone_is_an_error_naming_it(value: int, kind: str) -> None:
    data = simulate(300, 6, missing=0.2, seed=10)
    correct = data["correct"].copy()
    correct[data["items"] == 4] = value
    with pytest.raises(ExtremeItemsError, match=f"item 4 \\({kind}\\)") as error:
        fit_2pl(data["persons"], data["items"], correct)
    assert error.value.items.tolist() == [4]


def test_item_without_responses_is_an_error() -> None:
    data = simulate(100, 4, missing=0.0, seed=11)
    with pytest.raises(ExtremeItemsError, match="item 4 \\(no responses\\)"):
        fit_rasch(data["persons"], data["items"], data["correct"], n_items=5)


@pytest.mark.parametrize(("persons", "items", "correct", "message"), [
    ([0, 1, 2], [0, 0, 0], [0, 2, 1], "only 0 and 1"),
    ([0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 1, 0], "more than once"),
    ([0, -1], [0, 1], [0, 1], "non-negative integer"),
    ([0.5, 1], [0, 1], [0, 1], "non-negative integer"),
    ([0, 1], [0], [0, 1], "equal length"),
])
def test_malformed_arrays_are_rejected(persons, items, correct, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_rasch(np.array(persons), np.array(items), np.array(correct))


def test_options_are_checked() -> None:
    data = simulate(100, 4, missing=0.0, seed=12)
    with pytest.raises(ValueError, match="latent_variance"):
        fit_rasch(data["persons"], data["items"], data["correct"], latent_variance="free")
    with pytest.raises(ValueError, match="n_quadrature"):
        fit_rasch(data["persons"], data["items"], data["correct"], n_quadrature=1)


def test_device_and_dtype_are_explicit() -> None:
    data = simulate(200, 5, missing=0.1, seed=13)
    fit = fit_rasch(data["persons"], data["items"], data["correct"], device="cpu")
    assert fit.device == "cpu"
    single = fit_rasch(data["persons"], data["items"], data["correct"], device="cpu",
                       dtype=torch.float32, tol=1e-4)
    np.testing.assert_allclose(single.difficulty, fit.difficulty, atol=1e-3)


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    data = simulate(2000, 15, missing=0.3, seed=14)
    cpu = fit_2pl(data["persons"], data["items"], data["correct"], device="cpu")
    gpu = fit_2pl(data["persons"], data["items"], data["correct"], device="cuda")
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.difficulty, cpu.difficulty, atol=1e-6)
    np.testing.assert_allclose(gpu.difficulty_se, cpu.difficulty_se, rtol=1e-5)
