"""Many-facet Rasch model (Linacre) for ratings: item measure, rater severity, criterion
difficulty and category thresholds, by joint maximum likelihood as the Facets program does.

A rating ``x`` in categories ``0..K-1`` (``K = highest - lowest + 1`` of the rating scale) of
item ``i`` by rater ``r`` on criterion ``c`` has

    log P(x = k) / P(x = k - 1) = B_i - C_r - D_c - F_k        (rating-scale form)
    log P(x = k) / P(x = k - 1) = B_i - C_r - D_c - F_ck       (partial-credit form)

with item measure ``B`` (higher = more of the rated quality), rater severity ``C`` (higher =
harsher), criterion difficulty ``D`` and Rasch-Andrich thresholds ``F`` (one set, or one set
per criterion).

Identification: rater severities and criterion difficulties are centred at 0 (over raters and
criteria with non-extreme scores), thresholds sum to 0 (per criterion in the partial-credit
form); item measures are free.

Estimation: joint maximum likelihood (JMLE), as Facets does, but by Newton's method on all
measures at once rather than Facets' alternating per-element updates: the item block of the
information is diagonal and is eliminated; the remaining rater / criterion / threshold system
(a weighted graph Laplacian over raters linked through shared items, plus a few dense
columns) is solved by Jacobi-preconditioned conjugate gradients, with the item steps by back
substitution. Each step is re-centred (the identification above; this also drops the
components along the likelihood-invariant shifts), capped at ``MAX_STEP`` logits and halved
while the log-likelihood would drop. It converges quadratically in a handful of iterations,
also for weakly linked designs (e.g. raters in rotating shifts) where alternating per-facet
steps need hundreds of sweeps. Converged when no measure moves more than ``tol`` logits. No
JMLE bias correction is applied (as Facets by default): with ``L`` ratings per element,
measures are stretched by roughly ``L / (L - 1)`` (Wright & Douglas 1977); with about 12
ratings per item the thresholds come out some 15% wider than the generating ones, with 50
about 2-4%.

Extreme scores: elements (items, raters) whose ratings are all in the lowest or all in the
highest category have no finite estimate. As Facets does, they are dropped (iteratively: an
element can become extreme once others are dropped), the remaining data are estimated, and
then each extreme element gets the measure whose expected score is its raw score moved 0.3
score points inward (``extreme_adjustment``), with the other measures held fixed. Their fit
statistics are reported as NaN and they are left out of the separation statistics.

Standard errors are the model SEs ``1 / sqrt(information)`` of each element given the others
(Facets' "Model S.E."). Fit: outfit = mean squared standardized residual, infit =
information-weighted mean square (Wright & Masters 1982); expected value 1, misfit outside
``fit_bounds`` (0.5-1.5 by default, Linacre's "productive for measurement" range).
Separation reliability per facet = (observed variance - mean error variance) / observed
variance of the measures (population variances), as in Facets' "Model" rows.

The severity-corrected item score is the expected rating of the item from an average rater
(severity 0) on an average criterion (difficulty 0; partial-credit form: the thresholds
averaged over criteria), on the original rating scale, next to the raw mean; the interval is
that expectation at the measure +/- 1.96 SE.

References
----------
Linacre, J. M. (1989). Many-Facet Rasch Measurement. MESA Press.
Andrich, D. (1978). A rating formulation for ordered response categories. Psychometrika 43.
Masters, G. N. (1982). A Rasch model for partial credit scoring. Psychometrika 47.
Wright, B. D. & Masters, G. N. (1982). Rating Scale Analysis. MESA Press.
Wright, B. D. & Douglas, G. A. (1977). Best procedures for sample-free item analysis.
    Applied Psychological Measurement 1, 281-295.
Kennedy, C. J., Bacon, G., Sahn, A. & von Vacano, C. (2020). Constructing interval variables
    via faceted Rasch measurement and multitask deep learning: a hate speech application.
    arXiv:2009.10277.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> items, raters = rng.integers(0, 200, 4000), rng.integers(0, 20, 4000)
>>> severity = np.linspace(-1, 1, 20)
>>> latent = rng.normal(size=200)[items] - severity[raters] + rng.logistic(size=4000)
>>> ratings = np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) + 1
>>> fit = fit_facets(items, raters, np.zeros(4000, dtype=int), ratings, categories=(1, 5))
>>> bool(np.corrcoef(fit.rater_severity, severity)[0, 1] > 0.95)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from modeling.device import default_dtype, resolve_device
from modeling.errors import ModelError

FORMS = ("rating-scale", "partial-credit")
MAX_STEP = 1.0  # logits per Newton step and element
Z_95 = 1.959963984540054


class UnusedCategoryError(ModelError):
    """A category (or a criterion's category, partial-credit form) is never used."""


@dataclass(frozen=True)
class FacetsResult:
    """A many-facet Rasch fit. Arrays are indexed by item / rater / criterion code.

    Elements with no ratings have NaN measures. ``*_extreme`` is -1 / +1 for elements rated
    only in the lowest / highest category (measure from the extreme-score adjustment), else 0.
    ``thresholds`` has shape (1, K-1) in the rating-scale form, (n_criteria, K-1) in the
    partial-credit form. Means are on the original rating scale.
    """

    form: str
    categories: tuple[int, int]
    item_measure: np.ndarray
    item_se: np.ndarray
    item_infit: np.ndarray
    item_outfit: np.ndarray
    item_n: np.ndarray
    item_extreme: np.ndarray
    item_raw_mean: np.ndarray
    item_corrected_mean: np.ndarray
    item_corrected_low: np.ndarray
    item_corrected_high: np.ndarray
    rater_severity: np.ndarray
    rater_se: np.ndarray
    rater_infit: np.ndarray
    rater_outfit: np.ndarray
    rater_n: np.ndarray
    rater_extreme: np.ndarray
    rater_misfit: np.ndarray
    criterion_difficulty: np.ndarray
    criterion_se: np.ndarray
    criterion_infit: np.ndarray
    criterion_outfit: np.ndarray
    criterion_n: np.ndarray
    thresholds: np.ndarray
    threshold_se: np.ndarray
    item_separation: float
    item_reliability: float
    rater_separation: float
    rater_reliability: float
    log_likelihood: float
    n_iter: int
    converged: bool
    n_subsets: int
    fit_bounds: tuple[float, float]
    device: str


@dataclass(frozen=True)
class _Ratings:
    """Ratings on the device (one row per rating)."""

    item: torch.Tensor
    rater: torch.Tensor
    criterion: torch.Tensor
    group: torch.Tensor  # threshold set: 0 (rating scale) or the criterion (partial credit)
    code: torch.Tensor  # category 0..K-1 as float
    scores: torch.Tensor  # 0..K-1 as float, the category values
    group_bounds: list[tuple[int, int]]  # rows of each threshold set (sorted by group)

    def subset(self, mask: torch.Tensor) -> _Ratings:
        group = self.group[mask]
        return _Ratings(self.item[mask], self.rater[mask], self.criterion[mask], group,
                        self.code[mask], self.scores, _bounds(group))


def _bounds(group: torch.Tensor) -> list[tuple[int, int]]:
    """Row ranges of each group in a group-sorted array (empty groups included)."""
    n_groups = int(group.max()) + 1 if group.numel() else 0
    ends = torch.cumsum(torch.bincount(group, minlength=n_groups), 0).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


@dataclass
class _Measures:
    item: torch.Tensor
    rater: torch.Tensor
    criterion: torch.Tensor
    thresholds: torch.Tensor  # groups x (K-1)


# ---------------------------------------------------------------------------- public API


def fit_facets(items: np.ndarray, raters: np.ndarray, criteria: np.ndarray,
               ratings: np.ndarray, *, n_items: int | None = None,
               n_raters: int | None = None, n_criteria: int | None = None,
               categories: tuple[int, int] | None = None, form: str = "rating-scale",
               extreme_adjustment: float = 0.3, fit_bounds: tuple[float, float] = (0.5, 1.5),
               max_iter: int = 500, tol: float = 1e-5,
               device: str | torch.device | None = None,
               dtype: torch.dtype | None = None) -> FacetsResult:
    """Fit the many-facet Rasch model by joint maximum likelihood.

    Parameters
    ----------
    items, raters, criteria : int arrays, one entry per rating (0-based codes); criteria may
        be all zeros (one criterion)
    ratings : int array, the rating on the scale ``categories = (lowest, highest)``
        (default: the observed range)
    n_items, n_raters, n_criteria : sizes (default: largest code + 1)
    form : "rating-scale" (one threshold set) or "partial-credit" (one per criterion)
    extreme_adjustment : score points by which extreme raw scores are moved inward
    fit_bounds : infit/outfit mean-square range outside which a rater is flagged as misfitting
    max_iter, tol : Newton iterations, and the largest change in logits that counts as converged
    device, dtype : torch device ("cpu", "cuda", None = CUDA if present) and dtype
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}")
    codes, sizes, categories = _validate(items, raters, criteria, ratings, n_items, n_raters,
                                         n_criteria, categories)
    torch_device = resolve_device(None if device is None else str(device))
    torch_dtype = dtype or default_dtype(torch_device)
    data = _to_device(items, raters, criteria, codes, categories, form, torch_device,
                      torch_dtype)
    n_categories = categories[1] - categories[0] + 1
    item_extreme, rater_extreme, active = _find_extremes(data, sizes, n_categories)
    active_data = data.subset(active)
    _check_categories(active_data, sizes[2], n_categories, form)
    measures = _start(active_data, sizes, n_categories, form)
    measures, n_iter, converged = _estimate(active_data, measures, sizes, max_iter, tol)
    measures = _estimate_extremes(data, measures, item_extreme, rater_extreme,
                                  extreme_adjustment, max_iter, tol)
    return _result(data, active_data, measures, sizes, categories, form, item_extreme,
                   rater_extreme, fit_bounds, n_iter, converged)


def expected_rating(measure: np.ndarray, thresholds: np.ndarray,
                    categories: tuple[int, int]) -> np.ndarray:
    """Expected rating on the original scale at ``measure - severity - difficulty``
    (a logit array) under one set of Rasch-Andrich thresholds."""
    eta = torch.as_tensor(np.asarray(measure, dtype=float))
    tau = _cumulative(torch.as_tensor(np.asarray(thresholds, dtype=float)).reshape(1, -1))[0]
    scores = torch.arange(tau.numel(), dtype=eta.dtype)
    prob = torch.softmax(eta.reshape(-1, 1) * scores - tau, dim=1)
    return (prob @ scores).reshape(eta.shape).numpy() + categories[0]


# ---------------------------------------------------------------------- preparing input


def _validate(items, raters, criteria, ratings, n_items, n_raters, n_criteria, categories):
    arrays = [np.asarray(a) for a in (items, raters, criteria, ratings)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        raise ValueError("items, raters, criteria and ratings must be non-empty 1-d arrays "
                         "of equal length")
    for name, codes in zip(("items", "raters", "criteria", "ratings"), arrays, strict=True):
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"{name} must be integers")
    sizes = []
    for name, codes, size in zip(("items", "raters", "criteria"), arrays[:3],
                                 (n_items, n_raters, n_criteria), strict=True):
        size = int(codes.max()) + 1 if size is None else int(size)
        if codes.min() < 0 or codes.max() >= size:
            raise ValueError(f"{name} codes must be in 0..{size - 1}")
        sizes.append(size)
    ratings = arrays[3]
    lowest, highest = ((int(ratings.min()), int(ratings.max())) if categories is None
                       else (int(categories[0]), int(categories[1])))
    if highest <= lowest:
        raise ValueError(f"the rating scale needs at least two categories, got "
                         f"{lowest}..{highest}")
    outside = np.flatnonzero((ratings < lowest) | (ratings > highest))
    if outside.size:
        raise ValueError(f"rating {ratings[outside[0]]} (position {outside[0]}) is off the "
                         f"scale {lowest}..{highest}")
    return ratings.astype(np.int64) - lowest, tuple(sizes), (lowest, highest)


def _to_device(items, raters, criteria, codes, categories, form, device, dtype) -> _Ratings:
    """Ratings on the device, sorted by criterion (so each threshold set is one slice)."""
    order = np.argsort(np.asarray(criteria), kind="stable") if form == "partial-credit" \
        else slice(None)
    long = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64)[order], device=device)  # noqa: E731
    criterion = long(criteria)
    group = criterion if form == "partial-credit" else torch.zeros_like(criterion)
    n_categories = categories[1] - categories[0] + 1
    return _Ratings(long(items), long(raters), criterion, group,
                    torch.as_tensor(codes[order], dtype=dtype, device=device),
                    torch.arange(n_categories, dtype=dtype, device=device), _bounds(group))


def _find_extremes(data: _Ratings, sizes, n_categories):
    """Drop elements rated only in the lowest or highest category, repeatedly (dropping
    one can make another extreme). Returns -1/0/+1 per item and per rater, and the mask of
    ratings left for the main estimation."""
    top = n_categories - 1
    extreme = [torch.zeros(size, dtype=torch.long, device=data.code.device)
               for size in sizes[:2]]
    active = torch.ones_like(data.code, dtype=torch.bool)
    while True:
        changed = False
        for facet, index in enumerate((data.item, data.rater)):
            count = torch.bincount(index[active], minlength=sizes[facet])
            score = torch.bincount(index[active], weights=data.code[active],
                                   minlength=sizes[facet])
            low = (count > 0) & (score == 0)
            high = (count > 0) & (score == top * count)
            new = (low | high) & (extreme[facet] == 0)
            if bool(new.any()):
                extreme[facet] = torch.where(low & new, -1, torch.where(high & new, 1,
                                                                         extreme[facet]))
                changed = True
        active = (_take(extreme[0], data.item) == 0) & (_take(extreme[1], data.rater) == 0)
        if not changed:
            return extreme[0], extreme[1], active


def _check_categories(data: _Ratings, n_criteria: int, n_categories: int, form: str) -> None:
    if data.code.numel() == 0:
        raise ModelError("every item or rater has an extreme score (all ratings in the lowest "
                         "or the highest category): nothing left to estimate")
    n_groups = n_criteria if form == "partial-credit" else 1
    counts = torch.zeros(n_groups * n_categories, dtype=torch.long, device=data.code.device)
    counts.index_add_(0, data.group * n_categories + data.code.long(),
                      torch.ones_like(data.group))
    counts = counts.reshape(n_groups, n_categories)
    rated = torch.bincount(data.group, minlength=n_groups) > 0
    missing = ((counts == 0) & rated[:, None]).nonzero()
    if missing.numel():
        group, category = (int(v) for v in missing[0])
        where = f" on criterion {group}" if form == "partial-credit" else ""
        raise UnusedCategoryError(
            f"category {category} (0-based) is never used{where} among non-extreme ratings: "
            f"its threshold has no finite estimate; merge categories or use the other form")


def _start(data: _Ratings, sizes, n_categories, form) -> _Measures:
    """Thresholds from adjacent category frequencies, items from their mean rating."""
    n_groups = sizes[2] if form == "partial-credit" else 1
    counts = torch.zeros(n_groups, n_categories, dtype=data.code.dtype, device=data.code.device)
    counts.index_put_((data.group, data.code.long()), torch.ones_like(data.code),
                      accumulate=True)
    thresholds = torch.log((counts[:, :-1] + 0.5) / (counts[:, 1:] + 0.5))
    thresholds = thresholds - thresholds.mean(dim=1, keepdim=True)
    n = torch.zeros(sizes[0], dtype=data.code.dtype, device=data.code.device)
    score = torch.zeros_like(n)
    n.index_add_(0, data.item, torch.ones_like(data.code))
    score.index_add_(0, data.item, data.code)
    top = n_categories - 1
    item = torch.log((score + 0.5) / (top * n - score + 0.5))
    zeros = lambda size: torch.zeros(size, dtype=data.code.dtype, device=data.code.device)  # noqa: E731
    return _Measures(item, zeros(sizes[1]), zeros(sizes[2]), thresholds)


# --------------------------------------------------------------------------- estimation


def _cumulative(thresholds: torch.Tensor) -> torch.Tensor:
    """tau_k = F_1 + ... + F_k with tau_0 = 0: groups x K."""
    return torch.cat([thresholds.new_zeros(thresholds.shape[0], 1),
                      torch.cumsum(thresholds, dim=1)], dim=1)


def _linear_predictor(data: _Ratings, m: _Measures) -> torch.Tensor:
    return (_take(m.item, data.item) - _take(m.rater, data.rater)
            - _take(m.criterion, data.criterion))


def _probabilities(data: _Ratings, m: _Measures, eta: torch.Tensor | None = None):
    """Category probabilities of every rating: K x ratings (categories along dim 0 keep the
    per-rating work vectorised over the long dimension)."""
    eta = _linear_predictor(data, m) if eta is None else eta
    tau = _cumulative(m.thresholds)
    offsets = tau[0][:, None] if tau.shape[0] == 1 else torch.index_select(tau.T, 1, data.group)
    prob = torch.addcmul(-offsets, data.scores[:, None], eta[None, :])
    prob.sub_(prob.amax(dim=0)).exp_()
    return prob.div_(prob.sum(dim=0))


def _moments(data: _Ratings, prob: torch.Tensor):
    """Expected rating and its variance for every rating."""
    expected, second = torch.stack([data.scores, data.scores * data.scores]) @ prob
    return expected, (second - expected * expected).clamp_min(0)


def _facet_step(data, m, eta, index, size, sign, offset=None, update=None) -> torch.Tensor:
    """Diagonal Newton step for one facet given the others: (observed - expected score, moved
    by ``offset`` for extreme elements) / information; ``sign`` is d eta / d measure."""
    expected, variance = _moments(data, _probabilities(data, m, eta))
    residual = torch.zeros(size, dtype=expected.dtype, device=expected.device)
    info = torch.zeros_like(residual)
    residual.index_add_(0, index, data.code - expected)
    info.index_add_(0, index, variance)
    if offset is not None:
        residual += offset
    step = torch.where(info > 0, sign * residual / info.clamp_min(1e-300), 0.0)
    step = step.clamp(-MAX_STEP, MAX_STEP)
    return step if update is None else torch.where(update, step, 0.0)


def _upper_tails(prob: torch.Tensor) -> torch.Tensor:
    """P(X >= h) for h = 1..K-1: (K-1) x ratings."""
    return 1.0 - prob[:-1].cumsum(dim=0)


def _normalize(m: _Measures, raters_rated: torch.Tensor,
               criteria_rated: torch.Tensor) -> None:
    """Likelihood-preserving re-centring: thresholds sum to 0 per set (the shift goes to the
    criteria), criterion difficulties and rater severities average 0 (the shifts go to the
    items)."""
    shift = m.thresholds.mean(dim=1)
    m.thresholds -= shift[:, None]
    m.criterion += shift[0] if shift.numel() == 1 else shift
    mean_difficulty = m.criterion[criteria_rated].mean()
    m.criterion -= mean_difficulty
    m.item -= mean_difficulty
    mean_severity = m.rater[raters_rated].mean()
    m.rater -= mean_severity
    m.item -= mean_severity


@dataclass(frozen=True)
class _Pairs:
    """Distinct (item, rater) pairs of the ratings, and each rating's pair."""

    item: torch.Tensor
    rater: torch.Tensor
    of_rating: torch.Tensor

    @classmethod
    def of(cls, data: _Ratings, n_raters: int) -> _Pairs:
        keys, of_rating = torch.unique(data.item * n_raters + data.rater, return_inverse=True)
        return cls(keys // n_raters, keys % n_raters, of_rating)


def _estimate(data: _Ratings, m: _Measures, sizes, max_iter: int, tol: float):
    """Newton iterations on all measures at once (see :func:`_newton_step`), re-centred after
    each step, with step halving whenever the log-likelihood would drop. Converged when no
    re-centred measure moves more than ``tol``."""
    rated = (torch.bincount(data.rater, minlength=sizes[1]) > 0,
             torch.bincount(data.criterion, minlength=sizes[2]) > 0)
    pairs = _Pairs.of(data, sizes[1])
    _normalize(m, *rated)
    previous, step, log_lik = None, None, -math.inf
    for sweep in range(1, max_iter + 1):
        prob = _probabilities(data, m)
        new_log_lik = float(torch.log(prob.gather(0, data.code.long()[None, :])).sum())
        if previous is not None and new_log_lik < log_lik - 1e-12 * abs(log_lik):
            step = [part / 2 for part in step]  # overshoot: halve the last step
            m = _moved(previous, step)
            if _largest(step) < tol:
                return previous, sweep, True
            continue
        log_lik, previous = new_log_lik, m
        step = _newton_step(data, m, prob, pairs, sizes, tol)
        # drop the components along likelihood-invariant shifts, then cap the step
        step = _difference(_moved(m, step, rated), m)
        step = [part * min(1.0, MAX_STEP / max(_largest(step), 1e-300)) for part in step]
        m = _moved(m, step)
        if _largest(step) < tol:
            return m, sweep, True
    return m, max_iter, False


def _moved(m: _Measures, step, rated=None) -> _Measures:
    moved = _Measures(m.item + step[0], m.rater + step[1], m.criterion + step[2],
                      m.thresholds + step[3])
    if rated is not None:
        _normalize(moved, *rated)
    return moved


def _difference(a: _Measures, b: _Measures) -> list[torch.Tensor]:
    return [a.item - b.item, a.rater - b.rater, a.criterion - b.criterion,
            a.thresholds - b.thresholds]


def _largest(step) -> float:
    return max(float(part.abs().max()) for part in step)


def _newton_step(data: _Ratings, m: _Measures, prob: torch.Tensor, pairs: _Pairs, sizes,
                 tol: float):
    """One Newton step for items, raters, criteria and thresholds together.

    With eta = B_i - C_r - D_c and F the thresholds, a rating's information is Var(X) on
    eta, -Cov(X, [X >= h]) between eta and F_h, and Cov([X >= h], [X >= h']) on F. The item
    block is diagonal, so the items are eliminated; the rest (the rater block: a weighted
    graph Laplacian over raters linked through shared items; criteria and thresholds: a few
    dense columns) is solved by Jacobi-preconditioned conjugate gradients. This converges in
    a few iterations however weakly raters are linked, where alternating per-facet steps
    (Facets' JMLE) can take hundreds of sweeps."""
    system = _information(data, prob, pairs, sizes)
    g_item, g_rest = system.gradient[0], torch.cat(system.gradient[1:])
    h_item = system.h_item
    rhs = _without_shifts(g_rest + system.to_rest(g_item / h_item), system)
    rest = _conjugate_gradients(lambda v: system.rest_product(v) - system.to_rest(
        system.to_items(v) / h_item), rhs, system.diagonal(h_item), tol / 100)
    item_step = (g_item + system.to_items(rest)) / h_item
    n_raters, n_criteria = sizes[1], sizes[2]
    return [item_step, rest[:n_raters], rest[n_raters:n_raters + n_criteria],
            rest[n_raters + n_criteria:].reshape(m.thresholds.shape)]


def _without_shifts(rhs: torch.Tensor, system: _Information) -> torch.Tensor:
    """Project out of the reduced right-hand side its rounding-level components along the
    likelihood-invariant shifts (all raters; all criteria; a threshold set against its
    criteria), which conjugate gradients could never reduce."""
    n_raters, n_criteria = system.h_rater.numel(), system.h_criterion.numel()
    groups, size = system.threshold_block.shape[:2]
    shifts = rhs.new_zeros(rhs.numel(), 2 + groups)
    shifts[:n_raters, 0] = (system.h_rater > 0).to(rhs.dtype)
    shifts[n_raters:n_raters + n_criteria, 1] = (system.h_criterion > 0).to(rhs.dtype)
    for group in range(groups):
        rows = slice(n_raters + n_criteria + group * size,
                     n_raters + n_criteria + (group + 1) * size)
        shifts[rows, 2 + group] = 1.0
        if groups == 1:
            shifts[n_raters:n_raters + n_criteria, 2] = -shifts[n_raters:n_raters + n_criteria, 1]
        else:
            shifts[n_raters + group, 2 + group] = -1.0
    basis, triangle = torch.linalg.qr(shifts)
    basis = basis[:, torch.diagonal(triangle).abs() > 1e-9]
    return rhs - basis @ (basis.T @ rhs)


@dataclass(frozen=True)
class _Information:
    """Gradient and information of the joint log-likelihood, by facet blocks. ``pair_w``:
    summed Var(X) per (item, rater) pair; ``item_criterion``, ``item_threshold``: item
    columns of the criteria and thresholds; ``rest``: the rater/criterion/threshold block."""

    gradient: list[torch.Tensor]
    h_item: torch.Tensor
    pairs: _Pairs
    pair_w: torch.Tensor
    item_criterion: torch.Tensor
    item_threshold: torch.Tensor
    h_rater: torch.Tensor
    rater_criterion: torch.Tensor
    rater_threshold: torch.Tensor
    h_criterion: torch.Tensor
    criterion_threshold: torch.Tensor
    threshold_block: torch.Tensor  # groups x T x T

    def to_items(self, v: torch.Tensor) -> torch.Tensor:
        """-(information between items and the rest) @ v."""
        n_raters, n_criteria = self.h_rater.numel(), self.h_criterion.numel()
        v_rater, v_criterion = v[:n_raters], v[n_raters:n_raters + n_criteria]
        by_pair = self.pair_w * _take(v_rater, self.pairs.rater)
        return (_sum_by(self.pairs.item, by_pair, self.h_item.numel())
                + self.item_criterion @ v_criterion + self.item_threshold @ v[n_raters
                                                                              + n_criteria:])

    def to_rest(self, u: torch.Tensor) -> torch.Tensor:
        """-(information between the rest and items) @ u."""
        by_pair = self.pair_w * _take(u, self.pairs.item)
        return torch.cat([_sum_by(self.pairs.rater, by_pair, self.h_rater.numel()),
                          self.item_criterion.T @ u, self.item_threshold.T @ u])

    def rest_product(self, v: torch.Tensor) -> torch.Tensor:
        n_raters, n_criteria = self.h_rater.numel(), self.h_criterion.numel()
        v_rater, v_criterion = v[:n_raters], v[n_raters:n_raters + n_criteria]
        v_threshold = v[n_raters + n_criteria:]
        groups, size = self.threshold_block.shape[:2]
        blocks = torch.bmm(self.threshold_block, v_threshold.reshape(groups, size, 1))
        return torch.cat([
            self.h_rater * v_rater + self.rater_criterion @ v_criterion
            + self.rater_threshold @ v_threshold,
            self.rater_criterion.T @ v_rater + self.h_criterion * v_criterion
            + self.criterion_threshold @ v_threshold,
            self.rater_threshold.T @ v_rater + self.criterion_threshold.T @ v_criterion
            + blocks.reshape(-1)])

    def diagonal(self, h_item: torch.Tensor) -> torch.Tensor:
        """Diagonal of the reduced (Schur complement) system, for the preconditioner."""
        inverse = 1 / h_item
        rater = self.h_rater - _sum_by(self.pairs.rater,
                                       self.pair_w**2 * _take(inverse, self.pairs.item),
                                       self.h_rater.numel())
        criterion = self.h_criterion - inverse @ self.item_criterion**2
        own = torch.diagonal(self.threshold_block, dim1=1, dim2=2).reshape(-1)
        threshold = own - inverse @ self.item_threshold**2
        reduced = torch.cat([rater, criterion, threshold])
        # an element whose information is all explained by its items (e.g. the only
        # criterion) lies along a shift: zero, not a rounding residue to divide by
        unreduced = torch.cat([self.h_rater, self.h_criterion, own])
        return torch.where(reduced > 1e-9 * unreduced, reduced, 0.0)


def _information(data: _Ratings, prob: torch.Tensor, pairs: _Pairs, sizes) -> _Information:
    n_items, n_raters, n_criteria = sizes
    expected, variance = _moments(data, prob)
    residual = data.code - expected
    tail = _upper_tails(prob)  # P(X >= h): T x ratings
    # Cov(X, [X >= h]) = E[X [X >= h]] - E[X] P(X >= h)
    covariance = (expected - (data.scores[:-1, None] * prob[:-1]).cumsum(0)) - expected * tail
    n_thr, groups = tail.shape[0], len(data.group_bounds)
    reached = torch.stack([torch.bincount(data.code[a:b].long(), minlength=n_thr + 1)
                           .flip(0).cumsum(0).flip(0)[1:] for a, b in data.group_bounds])
    tail_sums = torch.stack([tail[:, a:b].sum(1) for a, b in data.group_bounds])
    grid = torch.arange(n_thr, device=tail.device)
    later = torch.maximum(grid[:, None], grid[None, :])
    block = torch.stack([tail_sums[g][later] - tail[:, a:b] @ tail[:, a:b].T
                         for g, (a, b) in enumerate(data.group_bounds)])

    def columns(index, size, values, n_columns):  # per-element sums into columns
        return torch.zeros(size * n_columns, *values.shape[1:], dtype=values.dtype,
                           device=values.device).index_add_(0, index, values)

    item_threshold = columns(data.item * groups + data.group, n_items, covariance.T, groups)
    rater_threshold = columns(data.rater * groups + data.group, n_raters, covariance.T, groups)
    criterion_threshold = columns(data.criterion * groups + data.group, n_criteria,
                                  covariance.T, groups)
    return _Information(
        gradient=[_sum_by(data.item, residual, n_items), -_sum_by(data.rater, residual, n_raters),
                  -_sum_by(data.criterion, residual, n_criteria),
                  (tail_sums - reached.to(tail.dtype)).reshape(-1)],
        h_item=_sum_by(data.item, variance, n_items).clamp_min(1e-12), pairs=pairs,
        pair_w=_sum_by(pairs.of_rating, variance, pairs.item.numel()),
        item_criterion=columns(data.item * n_criteria + data.criterion, n_items, variance,
                               n_criteria).reshape(n_items, n_criteria),
        item_threshold=item_threshold.reshape(n_items, groups * n_thr),
        h_rater=_sum_by(data.rater, variance, n_raters),
        rater_criterion=columns(data.rater * n_criteria + data.criterion, n_raters, variance,
                                n_criteria).reshape(n_raters, n_criteria),
        rater_threshold=rater_threshold.reshape(n_raters, groups * n_thr),
        h_criterion=_sum_by(data.criterion, variance, n_criteria),
        criterion_threshold=criterion_threshold.reshape(n_criteria, groups * n_thr),
        threshold_block=block)


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[index] along dim 0 (index_select: several times faster than indexing)."""
    return torch.index_select(values, 0, index)


def _sum_by(index: torch.Tensor, values: torch.Tensor, size: int) -> torch.Tensor:
    return torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(
        0, index, values)


def _conjugate_gradients(matvec, rhs: torch.Tensor, diagonal: torch.Tensor,
                         step_tol: float, max_iter: int = 2000) -> torch.Tensor:
    """Jacobi-preconditioned CG for a positive semi-definite system whose right-hand side
    is consistent up to rounding (singular along the shifts that the re-centring removes).
    Stops when the preconditioned residual (the Jacobi estimate of the step still missing,
    in logits) is below ``step_tol`` or a millionth of its start."""
    inverse = torch.where(diagonal > 1e-12, 1.0 / diagonal.clamp_min(1e-12), 0.0)
    solution = torch.zeros_like(rhs)
    residual = rhs.clone()
    preconditioned = inverse * residual
    direction = preconditioned
    rz = float(residual @ preconditioned)
    limit = max(step_tol, 1e-6 * float(preconditioned.abs().max()))
    for _ in range(max_iter):
        if float(preconditioned.abs().max()) <= limit or rz <= 0:
            break
        product = matvec(direction)
        alpha = rz / float(direction @ product)
        solution += alpha * direction
        residual -= alpha * product
        preconditioned = inverse * residual
        rz, previous = float(residual @ preconditioned), rz
        direction = preconditioned + (rz / previous) * direction
    return solution


def _estimate_extremes(data: _Ratings, m: _Measures, item_extreme, rater_extreme,
                       adjustment: float, max_iter: int, tol: float) -> _Measures:
    """Measures of extreme elements: the expected score equals the raw score moved
    ``adjustment`` points inward, the non-extreme measures held fixed."""
    involved = (_take(item_extreme, data.item) != 0) | (_take(rater_extreme, data.rater) != 0)
    if not bool(involved.any()):
        return m
    data = data.subset(involved)
    dtype = m.item.dtype
    item_offset, rater_offset = -adjustment * item_extreme.to(dtype), \
        -adjustment * rater_extreme.to(dtype)
    for _ in range(max_iter):
        item_step = _facet_step(data, m, None, data.item, m.item.numel(), 1.0, item_offset,
                                item_extreme != 0)
        m.item = m.item + item_step
        rater_step = _facet_step(data, m, None, data.rater, m.rater.numel(), -1.0,
                                 rater_offset, rater_extreme != 0)
        m.rater = m.rater + rater_step
        if max(float(item_step.abs().max()), float(rater_step.abs().max())) < tol:
            break
    return m


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class _ElementStats:
    n: np.ndarray
    se: np.ndarray
    infit: np.ndarray
    outfit: np.ndarray
    raw_mean: np.ndarray


def _element_stats(index, size, code, expected, variance, extreme=None) -> _ElementStats:
    """Count, model SE, infit and outfit mean-squares and mean rating per element."""
    def total(values):
        return torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(
            0, index, values)

    residual2 = (code - expected) ** 2
    n = total(torch.ones_like(code))
    info = total(variance)
    infit = total(residual2) / info
    outfit = total(residual2 / variance.clamp_min(1e-12)) / n
    stats = [n, 1 / info.sqrt(), infit, outfit, total(code) / n]
    stats = [value.cpu().numpy() for value in stats]
    for value in stats[1:]:
        value[stats[0] == 0] = np.nan
    if extreme is not None:
        for value in stats[2:4]:
            value[extreme.cpu().numpy() != 0] = np.nan
    return _ElementStats(stats[0].astype(np.int64), *stats[1:])


def _separation(measure: np.ndarray, se: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """Separation index and reliability (Wright & Masters 1982): true variance = observed
    variance of the measures - mean error variance (population variances)."""
    if keep.sum() < 2:
        return math.nan, math.nan
    observed = float(np.var(measure[keep]))
    error = float(np.mean(se[keep] ** 2))
    true = max(observed - error, 0.0)
    reliability = true / observed if observed > 0 else math.nan
    return math.sqrt(true / error) if error > 0 else math.inf, reliability


def _threshold_se(data: _Ratings, m: _Measures) -> np.ndarray:
    tail = _upper_tails(_probabilities(data, m))
    variances = [(tail[:, a:b] * (1 - tail[:, a:b])).sum(1) for a, b in data.group_bounds]
    return (1 / torch.stack(variances).sqrt()).cpu().numpy()


def _count_subsets(data: _Ratings, n_items: int) -> int:
    """Connected components of the item-rater graph of the estimated ratings: measures in
    different subsets are not comparable (Facets' "subset" warning). Label propagation by
    hooking roots and pointer jumping (Shiloach & Vishkin 1982)."""
    if data.item.numel() == 0:
        return 0
    n_nodes = n_items + int(data.rater.max()) + 1
    edges = torch.unique(data.item * n_nodes + data.rater + n_items)
    node_a, node_b = edges // n_nodes, edges % n_nodes
    parent = torch.arange(n_nodes, device=edges.device)
    while True:
        root_a, root_b = parent[node_a], parent[node_b]
        low = torch.minimum(root_a, root_b)
        hooked = parent.scatter_reduce(0, root_a, low, "amin").scatter_reduce(
            0, root_b, low, "amin")
        while not torch.equal(hooked[hooked], hooked):
            hooked = hooked[hooked]
        if torch.equal(hooked, parent):
            break
        parent = hooked
    used = torch.zeros(n_nodes, dtype=torch.bool, device=edges.device)
    used[node_a] = True
    used[node_b] = True
    return int(torch.unique(parent[used]).numel())


def _result(data, active_data, m, sizes, categories, form, item_extreme, rater_extreme,
            fit_bounds, n_iter, converged) -> FacetsResult:
    prob = _probabilities(data, m)
    expected, variance = _moments(data, prob)
    log_lik = float(torch.log(prob.gather(0, data.code.long()[None, :])).sum())
    item = _element_stats(data.item, sizes[0], data.code, expected, variance, item_extreme)
    rater = _element_stats(data.rater, sizes[1], data.code, expected, variance, rater_extreme)
    criterion = _element_stats(data.criterion, sizes[2], data.code, expected, variance)
    as_numpy = lambda t, n: np.where(n > 0, t.cpu().numpy(), np.nan)  # noqa: E731
    item_measure, rater_severity = as_numpy(m.item, item.n), as_numpy(m.rater, rater.n)
    item_extreme_np, rater_extreme_np = item_extreme.cpu().numpy(), rater_extreme.cpu().numpy()
    thresholds = m.thresholds.cpu().numpy()
    mean_thresholds = thresholds.mean(axis=0)
    low, high = fit_bounds
    misfit = ((rater.infit < low) | (rater.infit > high) | (rater.outfit < low)
              | (rater.outfit > high))
    item_sep = _separation(item_measure, item.se, (item.n > 0) & (item_extreme_np == 0))
    rater_sep = _separation(rater_severity, rater.se, (rater.n > 0) & (rater_extreme_np == 0))
    return FacetsResult(
        form=form, categories=categories,
        item_measure=item_measure, item_se=item.se, item_infit=item.infit,
        item_outfit=item.outfit, item_n=item.n, item_extreme=item_extreme_np,
        item_raw_mean=item.raw_mean + categories[0],
        item_corrected_mean=expected_rating(item_measure, mean_thresholds, categories),
        item_corrected_low=expected_rating(item_measure - Z_95 * item.se, mean_thresholds,
                                           categories),
        item_corrected_high=expected_rating(item_measure + Z_95 * item.se, mean_thresholds,
                                            categories),
        rater_severity=rater_severity, rater_se=rater.se, rater_infit=rater.infit,
        rater_outfit=rater.outfit, rater_n=rater.n, rater_extreme=rater_extreme_np,
        rater_misfit=misfit,
        criterion_difficulty=as_numpy(m.criterion, criterion.n), criterion_se=criterion.se,
        criterion_infit=criterion.infit, criterion_outfit=criterion.outfit,
        criterion_n=criterion.n, thresholds=thresholds,
        threshold_se=_threshold_se(active_data, m),
        item_separation=item_sep[0], item_reliability=item_sep[1],
        rater_separation=rater_sep[0], rater_reliability=rater_sep[1],
        log_likelihood=log_lik, n_iter=n_iter, converged=converged,
        n_subsets=_count_subsets(active_data, sizes[0]), fit_bounds=(low, high),
        device=str(m.item.device))
