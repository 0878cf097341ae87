"""Many-facet Rasch model: parameter recovery on simulated ratings, fit statistics of erratic
and muted raters, separation reliability, both threshold forms, agreement with a direct
scipy maximisation of the joint likelihood, severity-corrected scores, and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.facets import UnusedCategoryError, expected_rating, fit_facets

LOW, HIGH = 1, 5
THRESHOLDS = np.array([-1.5, -0.5, 0.5, 1.5])


def category_probabilities(eta: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """P(x = k), k = 0..K-1, with per-rating thresholds (ratings x K-1)."""
    tau = np.concatenate([np.zeros((len(eta), 1)), np.cumsum(thresholds, axis=1)], axis=1)
    logits = eta[:, None] * np.arange(tau.shape[1]) - tau
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def design(n_items: int, n_raters: int, per_item: tuple[int, int], n_criteria: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item rated by a few distinct raters, each on every criterion."""
    counts = rng.integers(per_item[0], per_item[1] + 1, n_items)
    raters = np.concatenate([rng.choice(n_raters, k, replace=False) for k in counts])
    items = np.repeat(np.arange(n_items), counts)
    return (np.repeat(items, n_criteria), np.repeat(raters, n_criteria),
            np.tile(np.arange(n_criteria), counts.sum()))


def simulate(n_items=1500, n_raters=200, per_item=(3, 5), n_criteria=3, *, seed=0, measure_sd=1.0,
             severity_sd=0.7, thresholds=None, partial_credit=False):
    rng = np.random.default_rng(seed)
    items, raters, criteria = design(n_items, n_raters, per_item, n_criteria, rng)
    truth = {"measure": rng.normal(0, measure_sd, n_items),
             "severity": rng.normal(0, severity_sd, n_raters),
             "difficulty": np.linspace(-0.4, 0.4, n_criteria)}
    truth["severity"] -= truth["severity"].mean()
    if thresholds is None:
        thresholds = np.tile(THRESHOLDS, (n_criteria, 1))
        if partial_credit:
            thresholds = thresholds + rng.normal(0, 0.4, thresholds.shape)
            thresholds -= thresholds.mean(axis=1, keepdims=True)
    truth["thresholds"] = thresholds
    eta = truth["measure"][items] - truth["severity"][raters] - truth["difficulty"][criteria]
    p = category_probabilities(eta, thresholds[criteria])
    ratings = (rng.random(len(eta))[:, None] > np.cumsum(p, axis=1)).sum(axis=1) + LOW
    return {"items": items, "raters": raters, "criteria": criteria, "ratings": ratings,
            "rng": rng, **truth}


def fit(data: dict, **options):
    return fit_facets(data["items"], data["raters"], data["criteria"], data["ratings"],
                      categories=(LOW, HIGH), **options)


def add_rater(data: dict, rater: int, n_items: int, rate) -> None:
    """Append ratings of ``n_items`` random items on every criterion by a new rater."""
    rng = data["rng"]
    n_criteria = data["difficulty"].size
    chosen = np.repeat(rng.choice(data["measure"].size, n_items, replace=False), n_criteria)
    criteria = np.tile(np.arange(n_criteria), n_items)
    data["items"] = np.concatenate([data["items"], chosen])
    data["raters"] = np.concatenate([data["raters"], np.full(chosen.size, rater)])
    data["criteria"] = np.concatenate([data["criteria"], criteria])
    data["ratings"] = np.concatenate([data["ratings"], rate(chosen.size, rng)])


# ------------------------------------------------------------------- parameter recovery


@pytest.fixture(scope="module")
def realistic() -> tuple[dict, object]:
    """1,500 items (measures N(0, 0.7^2)), each rated by 3-5 of 200 raters on 3 criteria, plus
    an erratic rater (uniformly random ratings) and a muted one (always the middle category).
    A muted rater's mean squares depend on the spread of the items it rates: the middle
    category fits items near the middle; with items N(0, 1) its infit is about 0.6."""
    data = simulate(seed=1, measure_sd=0.7)
    add_rater(data, 200, 100, lambda n, rng: rng.integers(LOW, HIGH + 1, n))
    add_rater(data, 201, 100, lambda n, rng: np.full(n, 3))
    return data, fit(data)


def test_recovers_rater_severities_at_realistic_sparsity(realistic) -> None:
    data, result = realistic
    assert result.converged
    assert np.corrcoef(result.rater_severity[:200], data["severity"])[0, 1] > 0.95
    # 9-15 ratings per item of N(0, 0.7^2) measures: reliability ~0.8, so corr ~ sqrt(0.8)
    assert np.corrcoef(result.item_measure, data["measure"])[0, 1] > 0.85
    np.testing.assert_allclose(result.criterion_difficulty, data["difficulty"], atol=0.1)
    z = (result.rater_severity[:200] - data["severity"]) / result.rater_se[:200]
    assert 0.7 < np.sqrt(np.mean(z**2)) < 1.5  # model SEs of the right size
    assert result.n_subsets == 1


def test_fit_statistics_near_one_and_misfitting_raters_flagged(realistic) -> None:
    _, result = realistic
    good_infit, good_outfit = result.rater_infit[:200], result.rater_outfit[:200]
    assert abs(np.median(good_infit) - 1) < 0.1
    assert abs(np.median(good_outfit) - 1) < 0.1
    assert result.rater_misfit[:200].mean() < 0.03
    erratic, muted = 200, 201
    assert result.rater_infit[erratic] > 1.5
    assert result.rater_outfit[erratic] > 1.5
    assert result.rater_infit[muted] < 0.5
    assert result.rater_outfit[muted] < 0.5
    assert result.rater_misfit[erratic]
    assert result.rater_misfit[muted]
    assert abs(np.nanmedian(result.item_infit) - 1) < 0.15
    assert result.fit_bounds == (0.5, 1.5)


def test_fit_bounds_are_configurable(realistic) -> None:
    data, _ = realistic
    strict = fit(data, fit_bounds=(0.95, 1.05))
    assert strict.rater_misfit.sum() > 20
    assert strict.fit_bounds == (0.95, 1.05)


def test_separation_reliability_is_high_when_severities_vary(realistic) -> None:
    _, result = realistic
    assert result.rater_reliability > 0.9
    assert result.rater_separation > 3
    assert result.item_reliability > 0.75
    alike = fit(simulate(n_items=600, n_raters=60, seed=2, severity_sd=0.0))
    assert alike.rater_reliability < 0.5
    assert alike.rater_separation < 1


@pytest.mark.parametrize("form", ["rating-scale", "partial-credit"])
def test_both_forms_recover_thresholds(form: str) -> None:
    partial = form == "partial-credit"
    data = simulate(n_items=600, n_raters=60, per_item=(5, 5), n_criteria=6, seed=3,
                    partial_credit=partial)
    result = fit(data, form=form)
    assert result.converged
    expected = data["thresholds"] if partial else data["thresholds"][:1]
    assert result.thresholds.shape == expected.shape
    np.testing.assert_allclose(result.thresholds, expected, atol=0.25 if partial else 0.15)
    assert np.all(result.threshold_se > 0)
    assert np.corrcoef(result.rater_severity, data["severity"])[0, 1] > 0.95


def test_identification_centres_raters_criteria_and_thresholds(realistic) -> None:
    _, result = realistic
    assert result.rater_severity[result.rater_extreme == 0].mean() == pytest.approx(0, abs=1e-9)
    assert result.criterion_difficulty.mean() == pytest.approx(0, abs=1e-9)
    assert result.thresholds.sum() == pytest.approx(0, abs=1e-9)
    pcm = fit(simulate(n_items=300, n_raters=30, seed=4, partial_credit=True),
              form="partial-credit")
    np.testing.assert_allclose(pcm.thresholds.sum(axis=1), 0, atol=1e-9)


def test_matches_a_direct_maximisation_of_the_joint_likelihood() -> None:
    import scipy.optimize as scipy_optimize
    data = simulate(n_items=40, n_raters=6, per_item=(3, 4), n_criteria=2, seed=5)
    result = fit(data, tol=1e-10)
    assert not np.any(result.item_extreme)
    n_items, n_raters = 40, 6

    def unpack(params):
        measure = params[:n_items]
        severity = np.append(params[n_items:n_items + 5], -params[n_items:n_items + 5].sum())
        difficulty = np.array([params[n_items + 5], -params[n_items + 5]])
        thresholds = np.append(params[-3:], -params[-3:].sum())
        return measure, severity, difficulty, thresholds

    def negative_log_likelihood(params):
        measure, severity, difficulty, thresholds = unpack(params)
        eta = measure[data["items"]] - severity[data["raters"]] - difficulty[data["criteria"]]
        p = category_probabilities(eta, np.tile(thresholds, (eta.size, 1)))
        return -np.log(p[np.arange(eta.size), data["ratings"] - LOW]).sum()

    best = scipy_optimize.minimize(negative_log_likelihood, np.zeros(n_items + n_raters - 1 + 4),
                                   method="BFGS", options={"gtol": 1e-8})
    measure, severity, difficulty, thresholds = unpack(best.x)
    np.testing.assert_allclose(result.item_measure, measure, atol=1e-4)
    np.testing.assert_allclose(result.rater_severity, severity, atol=1e-4)
    np.testing.assert_allclose(result.criterion_difficulty, difficulty, atol=1e-4)
    np.testing.assert_allclose(result.thresholds[0], thresholds, atol=1e-4)
    assert result.log_likelihood == pytest.approx(-best.fun, abs=1e-6)


def test_converges_quickly_when_raters_are_weakly_linked() -> None:
    """Raters in rotating shifts: item i is rated by raters s, s + 37, s + 74 (mod 120), so
    raters are linked only through long chains. Alternating per-facet updates (Facets'
    JMLE) crawl here; the joint Newton step does not."""
    rng = np.random.default_rng(14)
    n_items, n_raters = 1200, 120
    start = rng.integers(0, n_raters, n_items)
    raters = ((start[:, None] + 37 * np.arange(3)) % n_raters).ravel()
    items = np.repeat(np.arange(n_items), 3)
    measure, severity = rng.normal(0, 1, n_items), rng.normal(0, 0.7, n_raters)
    eta = measure[items] - severity[raters]
    p = category_probabilities(eta, np.tile(THRESHOLDS, (eta.size, 1)))
    ratings = (rng.random(eta.size)[:, None] > np.cumsum(p, axis=1)).sum(axis=1) + LOW
    result = fit_facets(items, raters, np.zeros_like(items), ratings, categories=(LOW, HIGH))
    assert result.converged
    assert result.n_iter <= 15
    assert result.n_subsets == 1
    # at the joint ML estimate each rater's expected score equals the observed one
    active = result.item_extreme[items] == 0
    eta = result.item_measure[items] - result.rater_severity[raters]
    expected = category_probabilities(eta, np.tile(result.thresholds[0], (eta.size, 1)))
    residual = (ratings - LOW) - expected @ np.arange(5)
    assert np.abs(np.bincount(raters[active], residual[active])).max() < 1e-4
    # weak linking leaves the severities less determined than a random design would
    assert np.corrcoef(result.rater_severity, severity)[0, 1] > 0.6


def test_corrected_scores_remove_rater_severity() -> None:
    """Items rated only by harsh or only by lenient raters: the raw mean carries the raters'
    severity, the corrected mean (average rater, average criterion) does not."""
    rng = np.random.default_rng(6)
    n_items, n_raters = 400, 40
    severity = np.where(np.arange(n_raters) < 20, -1.0, 1.0) + rng.normal(0, 0.2, n_raters)
    severity -= severity.mean()
    pool = [np.arange(20), np.arange(20, 40)]
    raters = np.concatenate([rng.choice(pool[i % 2], 4, replace=False) for i in range(n_items)])
    raters[::37] = rng.integers(0, n_raters, raters[::37].size)  # links between the two pools
    items = np.repeat(np.arange(n_items), 4)
    measure = rng.normal(0, 1, n_items)
    eta = measure[items] - severity[raters]
    p = category_probabilities(eta, np.tile(THRESHOLDS, (eta.size, 1)))
    ratings = (rng.random(eta.size)[:, None] > np.cumsum(p, axis=1)).sum(axis=1) + LOW
    result = fit_facets(items, raters, np.zeros_like(items), ratings, categories=(LOW, HIGH))
    truth = category_probabilities(measure, np.tile(THRESHOLDS, (n_items, 1))) @ np.arange(5)
    truth = truth + LOW
    keep = result.item_extreme == 0
    raw_error = np.sqrt(np.mean((result.item_raw_mean - truth)[keep] ** 2))
    corrected_error = np.sqrt(np.mean((result.item_corrected_mean - truth)[keep] ** 2))
    assert corrected_error < 0.6 * raw_error
    covered = (result.item_corrected_low <= truth) & (truth <= result.item_corrected_high)
    assert covered[keep].mean() > 0.85
    assert np.all(result.item_corrected_low <= result.item_corrected_mean)
    assert np.all(result.item_corrected_mean <= result.item_corrected_high)
    assert np.all((result.item_corrected_mean >= LOW) & (result.item_corrected_mean <= HIGH))


# --------------------------------------------------------------------------- edge cases


def test_items_rated_only_in_an_extreme_category_get_the_adjusted_finite_measure() -> None:
    data = simulate(n_items=300, n_raters=30, per_item=(4, 4), n_criteria=1, seed=7)
    top, bottom = data["items"] == 0, data["items"] == 1
    data["ratings"][top], data["ratings"][bottom] = HIGH, LOW
    result = fit(data)
    assert result.item_extreme[0] == 1
    assert result.item_extreme[1] == -1
    assert np.isfinite(result.item_measure[:2]).all()
    others = result.item_measure[result.item_extreme == 0]
    assert result.item_measure[0] > np.percentile(others, 95)
    assert result.item_measure[1] < np.percentile(others, 5)
    for item, target in ((0, 4 * (HIGH - LOW) - 0.3), (1, 0.3)):
        mask = data["items"] == item
        eta = result.item_measure[item] - result.rater_severity[data["raters"][mask]]
        p = category_probabilities(eta, np.tile(result.thresholds[0], (eta.size, 1)))
        assert (p @ np.arange(5)).sum() == pytest.approx(target, abs=1e-4)
    assert np.isnan(result.item_infit[:2]).all()
    assert np.isfinite(result.item_se[:2]).all()
    assert result.item_raw_mean[0] == HIGH
    assert result.item_raw_mean[1] == LOW


def test_single_criterion_and_a_rater_who_rated_one_item() -> None:
    data = simulate(n_items=400, n_raters=40, per_item=(3, 4), n_criteria=1, seed=8)
    for rater, rating in ((40, 3), (41, HIGH)):
        data["items"] = np.append(data["items"], 5)
        data["raters"] = np.append(data["raters"], rater)
        data["criteria"] = np.append(data["criteria"], 0)
        data["ratings"] = np.append(data["ratings"], rating)
    result = fit(data)
    assert result.criterion_difficulty.tolist() == [0.0]
    assert result.thresholds.shape == (1, 4)
    assert result.rater_n[40] == 1
    assert np.isfinite(result.rater_severity[40])
    assert result.rater_se[40] > 1  # one rating says little
    assert result.rater_extreme[41] == 1  # one top rating: an extreme score
    assert np.isfinite(result.rater_severity[41])
    assert result.rater_severity[41] < result.rater_severity[40]  # lenient


def test_unrated_elements_are_nan_and_subsets_are_counted() -> None:
    first = simulate(n_items=100, n_raters=10, seed=9)
    second = simulate(n_items=100, n_raters=10, seed=10)
    items = np.concatenate([first["items"], second["items"] + 100])
    raters = np.concatenate([first["raters"], second["raters"] + 10])
    criteria = np.concatenate([first["criteria"], second["criteria"]])
    ratings = np.concatenate([first["ratings"], second["ratings"]])
    result = fit_facets(items, raters, criteria, ratings, n_raters=21, categories=(LOW, HIGH))
    assert result.n_subsets == 2
    assert np.isnan(result.rater_severity[20])
    assert result.rater_n[20] == 0
    assert not result.rater_misfit[20]


@pytest.mark.parametrize(("ratings", "options", "message"), [
    (np.array([1, 2, 6]), {"categories": (1, 5)}, "rating 6 .* off the scale 1..5"),
    (np.array([1.0, 2.0, 3.0]), {}, "ratings must be integers"),
    (np.array([1, 2, 3]), {"categories": (3, 3)}, "at least two categories"),
    (np.array([1, 2, 3]), {"form": "graded"}, "form must be one of"),
])
def test_malformed_ratings_are_rejected(ratings, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_facets(np.array([0, 1, 2]), np.array([0, 0, 1]), np.zeros(3, dtype=int), ratings,
                   **options)


def test_an_unused_category_is_an_error() -> None:
    data = simulate(n_items=200, n_raters=20, seed=11)
    data["ratings"][data["ratings"] == 2] = 3
    with pytest.raises(UnusedCategoryError, match=r"category 1 .* never used"):
        fit(data)


def test_expected_rating_is_monotone_on_the_scale() -> None:
    grid = np.linspace(-6, 6, 25)
    values = expected_rating(grid, THRESHOLDS, (LOW, HIGH))
    assert np.all(np.diff(values) > 0)
    assert values[0] > LOW
    assert values[-1] < HIGH
    assert expected_rating(np.array([0.0]), THRESHOLDS, (LOW, HIGH))[0] == pytest.approx(3.0)


def test_device_is_explicit() -> None:
    result = fit(simulate(n_items=100, n_raters=10, seed=12), device="cpu")
    assert result.device == "cpu"


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    data = simulate(n_items=500, n_raters=50, seed=13)
    cpu, gpu = fit(data, device="cpu"), fit(data, device="cuda")
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.rater_severity, cpu.rater_severity, atol=1e-6)
    np.testing.assert_allclose(gpu.rater_infit, cpu.rater_infit, atol=1e-6)
