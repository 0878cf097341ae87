"""How well a pairwise model predicts judgments it has not seen: cross-validated metrics.

Comparisons are split at random (seeded) into K folds; each variant of the model is fitted
on K - 1 folds with :func:`modeling.bradley_terry.fit_bradley_terry` and the caller's
options, and predicts the held-out fold. Items never seen in training get score 0 from the
prior (use ``alpha > 0``); raters never seen in training are treated as fully reliable.

Scoring a held-out comparison (outcome +1 left wins, -1 right wins, 0 tie):

* the target is ``y = 1, 0, 0.5`` and the prediction the model's **expected score**
  ``q = P(left wins) + P(tie) / 2``. For models without a tie probability (the half-win
  convention) ``P(tie) = 0`` and ``q = P(left wins)``; so every variant is scored on the same
  scale and a tie counts as half a win, as in the half-win fit itself.
* **log-loss**: binary cross-entropy ``-[y log q + (1 - y) log(1 - q)]`` (nats; a constant
  0.5 scores ln 2 = 0.693). A tie costs at least ln 2 under any model.
* **outcome log-loss**: ``-log P(observed outcome)`` for models that predict ties (Davidson
  and ordinal models with ties); ``None`` for a model without tie probabilities when the
  held-out data contain ties (it would be infinite).
* **accuracy**: over decisive comparisons only (ties excluded); a prediction of exactly 0.5
  counts as half right.
* **Brier score**: ``(q - y)^2`` over all comparisons.
* **calibration**: reliability-diagram bins of ``q`` (equal width on [0, 1]) with the mean
  prediction, the observed mean of ``y`` and the weight in each bin, and the expected
  calibration error ``ECE = sum_b (n_b / n) |mean q_b - mean y_b|`` (Guo et al. 2017).
  Comparisons are scored in the orientation they were stored (left item first).

References
----------
Chen, X., Bennett, P. N., Collins-Thompson, K. & Horvitz, E. (2013). Pairwise ranking
aggregation in a crowdsourced setting. WSDM 2013.
Guo, C., Pleiss, G., Sun, Y. & Weinberger, K. Q. (2017). On calibration of modern neural
networks. ICML 2017.

Examples
--------
>>> metrics = pairwise_metrics(np.array([0.8, 0.3, 0.6]), np.array([1, -1, 0]))
>>> round(metrics.log_loss, 3), metrics.accuracy, round(metrics.brier, 3)
(0.431, 1.0, 0.047)

A side-by-side of model variants on the same folds (fits with ``fit_bradley_terry``)::

    rows = compare_models(left, right, outcome, n_items, left_shown=shown, rater=rater,
                          alpha=1.0)  # constant 0.5, Bradley-Terry, position bias, Crowd-BT
    for row in rows:
        print(row.name, row.log_loss, row.log_loss_se, row.accuracy, row.brier)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PER_COMPARISON = ("weights", "rater", "left_shown", "strength")
_CLIP = 1e-15


@dataclass(frozen=True)
class CalibrationBin:
    """One reliability-diagram bin: predictions in ``[lower, upper)`` (the last bin closed)."""

    lower: float
    upper: float
    mean_predicted: float
    observed: float
    count: float


@dataclass(frozen=True)
class Calibration:
    bins: list[CalibrationBin]
    expected_calibration_error: float


@dataclass(frozen=True)
class HeldOutMetrics:
    """Scores of predictions for one set of comparisons (weights count as multiplicities)."""

    log_loss: float
    outcome_log_loss: float | None
    accuracy: float
    brier: float
    n: float
    n_decisive: float
    calibration: Calibration


@dataclass(frozen=True)
class CrossValidationResult:
    """Cross-validated metrics of one model variant.

    The headline metrics are computed on all out-of-fold predictions pooled; ``*_se`` are
    the standard deviations of the per-fold values divided by ``sqrt(n_folds)``.
    """

    name: str
    options: dict[str, Any]
    n_folds: int
    log_loss: float
    log_loss_se: float
    outcome_log_loss: float | None
    accuracy: float
    accuracy_se: float
    brier: float
    expected_calibration_error: float
    calibration: Calibration
    folds: list[HeldOutMetrics]
    expected_score: np.ndarray
    seconds: float


@dataclass(frozen=True)
class LearningCurvePoint:
    """Held-out metrics when training on ``fraction`` of each training split."""

    fraction: float
    n_train: float
    log_loss: float
    log_loss_se: float
    accuracy: float
    brier: float


def calibration_bins(predicted: np.ndarray, observed: np.ndarray, *, n_bins: int = 10,
                     weights: np.ndarray | None = None) -> Calibration:
    """Reliability diagram of predicted probabilities against observed outcomes in [0, 1]."""
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    weight = np.ones_like(predicted) if weights is None else np.asarray(weights, np.float64)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(index, weights=weight, minlength=n_bins)
    total_predicted = np.bincount(index, weights=weight * predicted, minlength=n_bins)
    total_observed = np.bincount(index, weights=weight * observed, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(count > 0, total_predicted / count, np.nan)
        mean_observed = np.where(count > 0, total_observed / count, np.nan)
    filled = count > 0
    gap = np.abs(mean_predicted[filled] - mean_observed[filled])
    ece = float((count[filled] * gap).sum() / count.sum()) if count.sum() > 0 else math.nan
    bins = [CalibrationBin(lower=float(edges[b]), upper=float(edges[b + 1]),
                           mean_predicted=float(mean_predicted[b]),
                           observed=float(mean_observed[b]), count=float(count[b]))
            for b in range(n_bins)]
    return Calibration(bins=bins, expected_calibration_error=ece)


def pairwise_metrics(p_left: np.ndarray, outcome: np.ndarray, *, p_tie: np.ndarray | None = None,
                     weights: np.ndarray | None = None, n_bins: int = 10) -> HeldOutMetrics:
    """Score predicted outcome probabilities against observed outcomes (see module notes).

    ``p_left``: probability that the left item wins outright; ``p_tie``: probability of a
    tie (None for models without one); the right item wins with the rest.
    """
    outcome = np.asarray(outcome)
    p_left = np.asarray(p_left, dtype=np.float64)
    tie = np.zeros_like(p_left) if p_tie is None else np.asarray(p_tie, dtype=np.float64)
    weight = np.ones_like(p_left) if weights is None else np.asarray(weights, np.float64)
    target = np.where(outcome > 0, 1.0, np.where(outcome < 0, 0.0, 0.5))
    expected = np.clip(p_left + tie / 2.0, _CLIP, 1.0 - _CLIP)
    total = weight.sum()
    cross_entropy = -(target * np.log(expected) + (1 - target) * np.log1p(-expected))
    decisive = outcome != 0
    right = np.where(expected == 0.5, 0.5, (expected > 0.5) == (outcome > 0))
    n_decisive = weight[decisive].sum()
    return HeldOutMetrics(
        log_loss=_mean(cross_entropy, weight),
        outcome_log_loss=_outcome_log_loss(p_left, p_tie, outcome, weight),
        accuracy=float((weight * right)[decisive].sum() / n_decisive) if n_decisive else math.nan,
        brier=_mean((expected - target) ** 2, weight), n=float(total),
        n_decisive=float(n_decisive),
        calibration=calibration_bins(expected, target, n_bins=n_bins, weights=weight))


def _mean(values: np.ndarray, weight: np.ndarray) -> float:
    total = weight.sum()
    return float((values * weight).sum() / total) if total > 0 else math.nan


def _outcome_log_loss(p_left: np.ndarray, p_tie: np.ndarray | None, outcome: np.ndarray,
                      weight: np.ndarray) -> float | None:
    if p_tie is None and np.any(outcome == 0):
        return None
    tie = np.zeros_like(p_left) if p_tie is None else p_tie
    chosen = np.where(outcome > 0, p_left, np.where(outcome < 0, 1.0 - p_left - tie, tie))
    return _mean(-np.log(np.clip(chosen, _CLIP, 1.0)), weight)


def fold_assignment(n_comparisons: int, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold index (0..n_folds-1) of every comparison: a seeded random, near-equal split."""
    if not 2 <= n_folds <= n_comparisons:
        raise ValueError(f"n_folds must be between 2 and the number of comparisons "
                         f"({n_comparisons}), got {n_folds}")
    order = np.random.default_rng(seed).permutation(n_comparisons)
    folds = np.empty(n_comparisons, dtype=np.int64)
    folds[order] = np.arange(n_comparisons) % n_folds
    return folds


@dataclass(frozen=True)
class _Comparisons:
    """The comparisons and their per-comparison columns (None when absent)."""

    left: np.ndarray
    right: np.ndarray
    outcome: np.ndarray
    columns: dict[str, np.ndarray]
    n_raters: int | None

    @classmethod
    def build(cls, left: np.ndarray, right: np.ndarray, outcome: np.ndarray,
              n_raters: int | None, **columns: np.ndarray | None) -> _Comparisons:
        left = np.asarray(left, dtype=np.int64).reshape(-1)
        right = np.asarray(right, dtype=np.int64).reshape(-1)
        outcome = np.asarray(outcome, dtype=np.int64).reshape(-1)
        if not len(left) == len(right) == len(outcome):
            raise ValueError("left, right and outcome must have the same length")
        present = {}
        for name, values in columns.items():
            if values is None:
                continue
            present[name] = np.asarray(values).reshape(-1)
            if len(present[name]) != len(left):
                raise ValueError(f"{name} has {len(present[name])} entries for "
                                 f"{len(left)} comparisons")
        if "rater" in present and n_raters is None:
            n_raters = int(present["rater"].max()) + 1
        return cls(left, right, outcome, present, n_raters)

    def fit_arguments(self, index: np.ndarray) -> tuple[tuple[np.ndarray, ...], dict]:
        options = {name: values[index] for name, values in self.columns.items()}
        if self.n_raters is not None:
            options["n_raters"] = self.n_raters
        return (self.left[index], self.right[index], self.outcome[index]), options

    def weight(self, index: np.ndarray) -> np.ndarray | None:
        weights = self.columns.get("weights")
        return None if weights is None else weights[index].astype(np.float64)


@dataclass(frozen=True)
class _Predictions:
    p_left: np.ndarray
    p_tie: np.ndarray | None


def predict_outcomes(result: Any, left: np.ndarray, right: np.ndarray, *,
                     left_shown: np.ndarray | None = None, rater: np.ndarray | None = None,
                     predict: Callable[..., np.ndarray] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(P(left wins), P(tie) or None)`` of a fitted Bradley-Terry model for comparisons.

    Uses :func:`modeling.bradley_terry.predict_proba` (position bias applied with
    ``left_shown``). For a Crowd-BT fit and known ``rater``, the prediction is that rater's
    answer: ``eta p + (1 - eta)(1 - p)`` (Chen et al. 2013); raters beyond the fitted ones
    count as fully reliable. ``P(tie)`` is None for models without a tie outcome.
    """
    if predict is None:
        from modeling.bradley_terry import predict_proba as predict
    probabilities = np.asarray(predict(result, left, right, left_shown=left_shown))
    p_left, p_tie = probabilities[:, 0], probabilities[:, 1]
    reliability = getattr(result, "rater_reliability", None)
    if reliability is not None and rater is not None:
        rater = np.asarray(rater, dtype=np.int64)
        eta = np.ones(len(rater))
        known = rater < len(reliability)
        eta[known] = np.asarray(reliability)[rater[known]]
        p_left = eta * p_left + (1.0 - eta) * (1.0 - p_left - p_tie)
    thresholds = getattr(result, "thresholds", None)
    predicts_ties = (getattr(result, "tie_parameter", None) is not None
                     or (thresholds is not None and thresholds[0] > 0))
    return p_left, (p_tie if predicts_ties else None)


def _fit_and_predict(data: _Comparisons, train: np.ndarray, test: np.ndarray, n_items: int,
                     fit: Callable[..., Any], predict: Callable[..., np.ndarray] | None,
                     options: Mapping[str, Any]) -> _Predictions:
    arrays, columns = data.fit_arguments(train)
    with warnings.catch_warnings():  # folds often split the graph; the prior ties it
        warnings.filterwarnings("ignore", message="the comparison graph has")
        result = fit(*arrays, n_items, **columns, **options)
    shown = data.columns.get("left_shown")
    rater = data.columns.get("rater")
    p_left, p_tie = predict_outcomes(
        result, data.left[test], data.right[test],
        left_shown=None if shown is None else shown[test],
        rater=None if rater is None else rater[test], predict=predict)
    return _Predictions(p_left, p_tie)


def _default_fit(fit: Callable[..., Any] | None) -> Callable[..., Any]:
    if fit is not None:
        return fit
    from modeling.bradley_terry import fit_bradley_terry

    return fit_bradley_terry


def _summarise(name: str, options: Mapping[str, Any], folds: np.ndarray, data: _Comparisons,
               p_left: np.ndarray, p_tie: np.ndarray | None, n_bins: int,
               started: float) -> CrossValidationResult:
    per_fold = []
    n_folds = int(folds.max()) + 1
    for k in range(n_folds):
        test = np.flatnonzero(folds == k)
        per_fold.append(pairwise_metrics(
            p_left[test], data.outcome[test], p_tie=None if p_tie is None else p_tie[test],
            weights=data.weight(test), n_bins=n_bins))
    pooled = pairwise_metrics(p_left, data.outcome, p_tie=p_tie,
                              weights=data.weight(np.arange(len(folds))), n_bins=n_bins)
    tie_term = None if p_tie is None else p_tie
    return CrossValidationResult(
        name=name, options=dict(options), n_folds=n_folds, log_loss=pooled.log_loss,
        log_loss_se=_fold_se([m.log_loss for m in per_fold]),
        outcome_log_loss=pooled.outcome_log_loss, accuracy=pooled.accuracy,
        accuracy_se=_fold_se([m.accuracy for m in per_fold]), brier=pooled.brier,
        expected_calibration_error=pooled.calibration.expected_calibration_error,
        calibration=pooled.calibration, folds=per_fold,
        expected_score=p_left + (0.0 if tie_term is None else tie_term / 2.0),
        seconds=time.perf_counter() - started)


def _fold_se(values: Sequence[float]) -> float:
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if len(finite) < 2:
        return math.nan
    return float(finite.std(ddof=1) / math.sqrt(len(finite)))


def cross_validate(left: np.ndarray, right: np.ndarray, outcome: np.ndarray, n_items: int, *,
                   n_folds: int = 5, seed: int = 0, n_bins: int = 10, name: str = "model",
                   weights: np.ndarray | None = None, rater: np.ndarray | None = None,
                   n_raters: int | None = None, left_shown: np.ndarray | None = None,
                   strength: np.ndarray | None = None, fit: Callable[..., Any] | None = None,
                   predict: Callable[..., np.ndarray] | None = None,
                   **fit_options: Any) -> CrossValidationResult:
    """K-fold cross-validated held-out log-loss, accuracy, Brier score and calibration.

    Parameters
    ----------
    left, right, outcome : comparisons (outcome +1 left wins, -1 right wins, 0 tie).
    n_items : number of items; items missing from a training split get the prior's 0.
    n_folds, seed : the random split of comparisons (:func:`fold_assignment`).
    weights, rater, n_raters, left_shown, strength : per-comparison data, split with the
        comparisons and passed to ``fit`` (and ``left_shown`` / ``rater`` to prediction).
    fit : defaults to :func:`modeling.bradley_terry.fit_bradley_terry`, called as
        ``fit(left, right, outcome, n_items, **per_comparison, **fit_options)``.
    predict : defaults to :func:`modeling.bradley_terry.predict_proba`.
    **fit_options : model options, e.g. ``alpha=1.0, position_bias=True, ties="davidson"``.
    """
    started = time.perf_counter()
    data = _Comparisons.build(left, right, outcome, n_raters, weights=weights, rater=rater,
                              left_shown=left_shown, strength=strength)
    options = _strength_levels(data, fit_options)
    folds = fold_assignment(len(data.left), n_folds, seed)
    p_left, p_tie = _out_of_fold(data, folds, n_items, _default_fit(fit), predict, options)
    return _summarise(name, fit_options, folds, data, p_left, p_tie, n_bins, started)


def _strength_levels(data: _Comparisons, options: Mapping[str, Any]) -> dict[str, Any]:
    """Fix the number of strength levels from all data, so every fold fits the same model."""
    options = dict(options)
    strength = data.columns.get("strength")
    if strength is not None and "n_strength_levels" not in options:
        options["n_strength_levels"] = int(strength[data.outcome != 0].max(initial=1))
    return options


def _out_of_fold(data: _Comparisons, folds: np.ndarray, n_items: int,
                 fit: Callable[..., Any], predict: Callable[..., np.ndarray] | None,
                 options: Mapping[str, Any], subset: Callable[[np.ndarray, int], np.ndarray]
                 | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    p_left = np.empty(len(folds))
    p_tie = np.zeros(len(folds))
    any_ties = False
    for k in range(int(folds.max()) + 1):
        train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        if subset is not None:
            train = subset(train, k)
        predictions = _fit_and_predict(data, train, test, n_items, fit, predict, options)
        p_left[test] = predictions.p_left
        if predictions.p_tie is not None:
            p_tie[test] = predictions.p_tie
            any_ties = True
    return p_left, (p_tie if any_ties else None)


def default_variants(*, left_shown: bool, rater: bool, ties: bool) -> dict[str, dict[str, Any]]:
    """The richer models worth trying on these data: position bias needs ``left_shown``,
    Crowd-BT needs raters, Davidson needs ties."""
    variants: dict[str, dict[str, Any]] = {"Bradley-Terry": {}}
    if left_shown:
        variants["position bias"] = {"position_bias": True}
    if rater:
        variants["Crowd-BT"] = {"rater_reliability": True}
    if ties:
        variants["Davidson ties"] = {"ties": "davidson"}
    return variants


def compare_models(left: np.ndarray, right: np.ndarray, outcome: np.ndarray, n_items: int,
                   variants: Mapping[str, Mapping[str, Any]] | None = None, *,
                   n_folds: int = 5, seed: int = 0, n_bins: int = 10,
                   weights: np.ndarray | None = None, rater: np.ndarray | None = None,
                   n_raters: int | None = None, left_shown: np.ndarray | None = None,
                   strength: np.ndarray | None = None, fit: Callable[..., Any] | None = None,
                   predict: Callable[..., np.ndarray] | None = None, baseline: bool = True,
                   **common_options: Any) -> list[CrossValidationResult]:
    """Cross-validate several model variants on the same folds, for a side-by-side table.

    ``variants`` maps a display name to options added to ``common_options`` (default:
    :func:`default_variants` for the data given). With ``baseline`` the first row is the
    constant predictor ``P(left wins) = 0.5`` (log-loss ln 2). Use
    :func:`log_loss_difference` for the paired fold-by-fold difference of two rows.
    """
    started = time.perf_counter()
    data = _Comparisons.build(left, right, outcome, n_raters, weights=weights, rater=rater,
                              left_shown=left_shown, strength=strength)
    folds = fold_assignment(len(data.left), n_folds, seed)
    if variants is None:
        variants = default_variants(left_shown=left_shown is not None,
                                    rater=rater is not None, ties=bool(np.any(data.outcome == 0)))
    rows = []
    if baseline:
        constant = np.full(len(data.left), 0.5)
        rows.append(_summarise("constant 0.5", {}, folds, data, constant, None, n_bins, started))
    fit = _default_fit(fit)
    for name, options in variants.items():
        started = time.perf_counter()
        merged = {**common_options, **options}
        p_left, p_tie = _out_of_fold(data, folds, n_items, fit, predict,
                                     _strength_levels(data, merged))
        rows.append(_summarise(name, merged, folds, data, p_left, p_tie, n_bins, started))
    return rows


def log_loss_difference(first: CrossValidationResult,
                        second: CrossValidationResult) -> tuple[float, float]:
    """Mean over folds of ``first.log_loss - second.log_loss`` and its standard error (the
    two must come from the same folds, e.g. one :func:`compare_models` call)."""
    if first.n_folds != second.n_folds:
        raise ValueError("the two results were not computed on the same folds")
    difference = np.array([a.log_loss - b.log_loss
                           for a, b in zip(first.folds, second.folds, strict=True)])
    return float(difference.mean()), float(difference.std(ddof=1) / math.sqrt(len(difference)))


def learning_curve(left: np.ndarray, right: np.ndarray, outcome: np.ndarray, n_items: int, *,
                   fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0), n_folds: int = 5,
                   seed: int = 0, n_bins: int = 10, weights: np.ndarray | None = None,
                   rater: np.ndarray | None = None, n_raters: int | None = None,
                   left_shown: np.ndarray | None = None, strength: np.ndarray | None = None,
                   fit: Callable[..., Any] | None = None,
                   predict: Callable[..., np.ndarray] | None = None,
                   **fit_options: Any) -> list[LearningCurvePoint]:
    """Held-out metrics when training on growing fractions of each training split.

    The test folds stay fixed; the training subsets are nested (each fraction extends the
    previous one, a seeded random order per fold). A curve still falling at 100 % says more
    judgments would help; a flat one says the model, not the data, is the limit.
    """
    data = _Comparisons.build(left, right, outcome, n_raters, weights=weights, rater=rater,
                              left_shown=left_shown, strength=strength)
    options = _strength_levels(data, fit_options)
    folds = fold_assignment(len(data.left), n_folds, seed)
    fit = _default_fit(fit)
    points = []
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
        started = time.perf_counter()
        sizes: list[int] = []

        def subset(train: np.ndarray, fold: int, fraction: float = fraction,
                   sizes: list[int] = sizes) -> np.ndarray:
            order = np.random.default_rng([seed, fold]).permutation(train)
            sizes.append(max(1, math.ceil(fraction * len(train))))
            return np.sort(order[: sizes[-1]])

        p_left, p_tie = _out_of_fold(data, folds, n_items, fit, predict, options, subset)
        result = _summarise("", options, folds, data, p_left, p_tie, n_bins, started)
        points.append(LearningCurvePoint(
            fraction=float(fraction), n_train=float(np.mean(sizes)), log_loss=result.log_loss,
            log_loss_se=result.log_loss_se, accuracy=result.accuracy, brier=result.brier))
    return points
