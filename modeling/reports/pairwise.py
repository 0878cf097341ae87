"""Pairwise judgments to a full Bradley-Terry report: item and source leaderboards, rater
reliability (Crowd-BT), position bias, win rates and a cross-validated evaluation.

:func:`pairwise_report` is the one entry point; everything it returns is in
:mod:`modeling.reports.types`. A "both bad" answer arrives as a tie (label 0): both say
neither response is better than the other, which is all a pairwise model can use.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from modeling.bradley_terry import (
    BradleyTerryResult,
    DisconnectedGraphWarning,
    fit_bradley_terry,
    predict_proba,
)
from modeling.errors import NothingToFit
from modeling.leaderboard import (
    fit_source_leaderboard,
    leaderboard_from_fit,
    source_comparisons,
    vote_counts,
    win_rate_matrix,
)
from modeling.numbers import finite
from modeling.reports.types import (
    EvaluationJson,
    EvaluationModelJson,
    ItemEstimate,
    Notice,
    PairwiseJudgments,
    PairwiseMetrics,
    PairwiseOptions,
    PairwiseRaterDetails,
    PositionBiasJson,
    Report,
    SourceBoardJson,
    SourceEstimate,
    WinRatesJson,
    WinTableJson,
    WorkerEstimate,
)


@dataclass(frozen=True)
class Variant:
    """A model variant in the evaluation: a stable id, a label, the options it adds."""

    id: str
    label: str
    options: dict[str, Any]


VARIANTS = (
    Variant("bt", "Bradley-Terry", {}),
    Variant("bt+position", "+ position bias", {"position_bias": True}),
    Variant("bt+raters", "+ rater reliability", {"rater_reliability": True}),
    Variant("bt+position+raters", "+ position bias + rater reliability",
            {"position_bias": True, "rater_reliability": True}),
    Variant("davidson+position", "Davidson ties + position bias",
            {"ties": "davidson", "position_bias": True}),
    Variant("davidson", "Davidson ties", {"ties": "davidson"}),
)
BASELINE = Variant("constant", "constant 0.5", {})


@dataclass(frozen=True)
class _Arrays:
    """Judgments as compact integer arrays over the items, sources and workers they use."""

    left: np.ndarray
    right: np.ndarray
    label: np.ndarray
    worker: np.ndarray
    left_shown: np.ndarray
    item_ids: list[int]
    worker_ids: list[int]
    item_source: np.ndarray
    source_names: list[str]

    @classmethod
    def build(cls, data: PairwiseJudgments) -> _Arrays:
        item_ids = sorted(set(data.left) | set(data.right))
        source_names = sorted({data.items[item_id].source for item_id in item_ids})
        worker_ids = sorted(set(data.worker))
        source_index = {name: k for k, name in enumerate(source_names)}
        return cls(
            left=_codes(data.left, item_ids), right=_codes(data.right, item_ids),
            label=np.asarray(data.label, dtype=np.int64),
            worker=_codes(data.worker, worker_ids),
            left_shown=np.ones(len(data.left), dtype=bool), item_ids=item_ids,
            worker_ids=worker_ids, source_names=source_names,
            item_source=np.asarray([source_index[data.items[i].source] for i in item_ids],
                                   dtype=np.int64))

    def per_comparison(self, options: PairwiseOptions) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if options.position_bias:
            extra["left_shown"] = self.left_shown
        if options.rater_reliability:
            extra.update(rater=self.worker, n_raters=len(self.worker_ids))
        return extra


def _codes(ids: Sequence[int], universe: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(universe, dtype=np.int64),
                           np.asarray(ids, dtype=np.int64))


def pairwise_report(data: PairwiseJudgments, options: PairwiseOptions) -> Report[Any]:
    """Item fit, source leaderboard, rater reliability, win rates and (when asked for) the
    evaluation. Raises :class:`NothingToFit` without judgments and
    :class:`~modeling.errors.ModelError` when the model cannot be fitted."""
    if not data.left:
        raise NothingToFit(f"no judgments ({data.skipped} skipped or undone)")
    timings: dict[str, float] = {}
    arrays = _Arrays.build(data)
    notices: list[Notice] = []
    if options.rater_reliability and not _workers_comparable(arrays, options):
        options = replace(options, rater_reliability=False)
        notices.append(Notice("rater_reliability_off",
                              {"min_judgments": options.rater_min_judgments}))
    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)  # named below, per group
        result = fit_bradley_terry(arrays.left, arrays.right, arrays.label,
                                   len(arrays.item_ids), **_model_options(options),
                                   **arrays.per_comparison(options))
    timings["fit_items"] = time.perf_counter() - clock
    notices += _item_graph_notices(result.components, arrays, data)
    clock = time.perf_counter()
    board = _source_board(arrays, options)
    timings["fit_sources"] = time.perf_counter() - clock
    clock = time.perf_counter()
    evaluation = _evaluation(arrays, options)
    timings["evaluation"] = time.perf_counter() - clock
    metrics = PairwiseMetrics(
        n_items=len(arrays.item_ids), n_sources=len(arrays.source_names),
        n_raters=len(arrays.worker_ids), n_ties=int((arrays.label == 0).sum()),
        solver=result.solver, se_method=result.se_method,
        position_bias=_position_bias(result), sources=board.metrics,
        win_rates=_win_rates(arrays, data, options), tie_parameter=result.tie_parameter,
        evaluation=evaluation, timings=timings)
    if "models" in evaluation:
        metrics["evaluated_on"] = len(arrays.left)
    return Report(
        n_data=len(arrays.left), device=result.device, n_iter=result.n_iter,
        converged=result.converged, log_likelihood=finite(result.log_likelihood),
        metrics=metrics, notices=tuple(notices + board.notices),
        items=_item_estimates(result, arrays, data), sources=board.rows,
        workers=_worker_estimates(result, board.result, arrays))


def _workers_comparable(arrays: _Arrays, options: PairwiseOptions) -> bool:
    per_worker = np.bincount(arrays.worker, minlength=len(arrays.worker_ids))
    return int((per_worker >= options.rater_min_judgments).sum()) >= 2


def _model_options(options: PairwiseOptions) -> dict[str, Any]:
    return {"ties": options.ties, "alpha": options.alpha, "device": options.device,
            "position_bias": options.position_bias,
            "rater_reliability": options.rater_reliability}


def _item_estimates(result: BradleyTerryResult, arrays: _Arrays, data: PairwiseJudgments
                    ) -> tuple[ItemEstimate, ...]:
    counts = vote_counts(arrays.left, arrays.right, arrays.label, len(arrays.item_ids))
    names = [data.items[item_id].name for item_id in arrays.item_ids]
    rows = leaderboard_from_fit(result, names=names, counts=counts)
    return tuple(ItemEstimate(item=arrays.item_ids[row.index], score=row.score, se=row.se,
                              rating=row.rating, lower=row.lower, upper=row.upper,
                              rank=row.rank_ub, n=row.n, wins=row.wins, losses=row.losses,
                              ties=row.ties)
                 for row in rows)


@dataclass(frozen=True)
class _SourceBoard:
    rows: tuple[SourceEstimate, ...]
    metrics: SourceBoardJson
    notices: list[Notice]
    result: BradleyTerryResult | None  # the source-level fit, when there is one


def _source_board(arrays: _Arrays, options: PairwiseOptions) -> _SourceBoard:
    """Arena's leaderboard by source, with bootstrap intervals when asked for (and the
    source-level fit, whose rater reliabilities are the better identified ones)."""
    if len(arrays.source_names) < 2:
        return _SourceBoard((), {"skipped": "only one source"}, [], None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DisconnectedGraphWarning)
            board = fit_source_leaderboard(
                arrays.left, arrays.right, arrays.label, arrays.item_source,
                arrays.source_names, bootstrap=options.bootstrap, seed=0,
                **_model_options(options), **arrays.per_comparison(options))
    except ValueError as error:  # e.g. every comparison is within one source
        return _SourceBoard((), {"skipped": str(error)},
                            [Notice("no_source_board", {"reason": str(error)})], None)
    rows = tuple(SourceEstimate(source=row.name, score=row.score, se=row.se,
                                rating=row.rating, lower=row.lower, upper=row.upper,
                                rank_ub=row.rank_ub, n=row.n, wins=row.wins,
                                losses=row.losses, ties=row.ties) for row in board.rows)
    metrics: SourceBoardJson = {
        "n_comparisons": len(board.comparisons.kept),
        "n_same_source": board.comparisons.n_dropped,
        "intervals": "bootstrap" if options.bootstrap else "hessian",
        "bootstrap": options.bootstrap, "n_iter": board.result.n_iter,
        "position_bias": _position_bias(board.result)}
    parts = board.result.components
    notices = [] if len(parts) < 2 else [Notice("disconnected_sources", {"groups": [
        [arrays.source_names[k] for k in part] for part in parts]})]
    return _SourceBoard(rows, metrics, notices, board.result)


def _item_graph_notices(parts: Sequence[Sequence[int]], arrays: _Arrays,
                        data: PairwiseJudgments) -> list[Notice]:
    """Items are paired within their group, so one component per group is by design; a
    group that falls apart is worth a warning, naming its pieces."""
    by_group: dict[str, list[list[str]]] = {}
    for part in parts:
        group = data.items[arrays.item_ids[part[0]]].group
        by_group.setdefault(group, []).append(
            [data.items[arrays.item_ids[k]].name for k in part])
    return [Notice("disconnected_items", {"group": group, "pieces": pieces})
            for group, pieces in sorted(by_group.items()) if len(pieces) > 1]


def _position_bias(result: BradleyTerryResult) -> PositionBiasJson | None:
    if result.position_bias is None:
        return None
    estimate, se = float(result.position_bias), float(result.position_bias_se or 0.0)
    return {"estimate": estimate, "se": se, "lower": estimate - 1.96 * se,
            "upper": estimate + 1.96 * se}


def _worker_estimates(result: BradleyTerryResult, source_fit: BradleyTerryResult | None,
                      arrays: _Arrays) -> tuple[WorkerEstimate, ...]:
    """Crowd-BT reliability per worker. ``reliability`` comes from the source-level fit
    when there is one: with a few judgments per item, the item scores absorb a careless
    rater's flips and the item-level eta hardly separates raters (both are in details)."""
    n_workers = len(arrays.worker_ids)
    counts = np.bincount(arrays.worker, minlength=n_workers)
    p_left = predict_proba(result, arrays.left, arrays.right)[:, 0]
    decisive = arrays.label != 0
    agrees = (p_left > 0.5) == (arrays.label > 0)
    agreement = np.bincount(arrays.worker[decisive], agrees[decisive].astype(float),
                            minlength=n_workers)
    n_decisive = np.bincount(arrays.worker[decisive], minlength=n_workers)
    item_eta = result.rater_reliability
    source_eta = source_fit.rater_reliability if source_fit is not None else None
    headline = source_eta if source_eta is not None else item_eta
    rows = []
    for k, worker_id in enumerate(arrays.worker_ids):
        details: PairwiseRaterDetails = {
            "decisive": int(n_decisive[k]),
            "agreement": float(agreement[k] / n_decisive[k]) if n_decisive[k] else None,
            "item_reliability": None if item_eta is None else float(item_eta[k]),
            "source_reliability": None if source_eta is None else float(source_eta[k]),
            "basis": "sources" if source_eta is not None else "items"}
        rows.append(WorkerEstimate(
            worker=worker_id, reliability=None if headline is None else float(headline[k]),
            n=int(counts[k]), details=details))
    return tuple(rows)


def _win_rates(arrays: _Arrays, data: PairwiseJudgments, options: PairwiseOptions
               ) -> WinRatesJson:
    tables: WinRatesJson = {}
    if len(arrays.source_names) >= 2:
        by_source = source_comparisons(arrays.left, arrays.right, arrays.label,
                                       arrays.item_source)
        if len(by_source.kept):
            tables["sources"] = _table(win_rate_matrix(
                by_source.left, by_source.right, by_source.outcome,
                len(arrays.source_names)), arrays.source_names)
    if len(arrays.item_ids) <= options.win_table_max_items:
        tables["items"] = _table(win_rate_matrix(arrays.left, arrays.right, arrays.label,
                                                 len(arrays.item_ids)),
                                 [data.items[i].name for i in arrays.item_ids])
    return tables


def _table(table: Any, names: list[str]) -> WinTableJson:
    return {"names": names,
            "win_rate": [[finite(value) for value in row] for row in table.win_rate],
            "comparisons": [[float(value) for value in row] for row in table.comparisons]}


# --- the cross-validated evaluation ---------------------------------------------------------

def _evaluation(arrays: _Arrays, options: PairwiseOptions) -> EvaluationJson:
    """Held-out metrics of model variants on the same folds, and a learning curve (the
    caller decides whether it is worth its cost: ``options.evaluate``)."""
    if not options.evaluate:
        return {}
    try:
        return _evaluate(arrays, options)
    except (ValueError, ArithmeticError) as error:
        return {"skipped": f"the evaluation failed: {error}"}


def _evaluate(arrays: _Arrays, options: PairwiseOptions) -> EvaluationJson:
    from modeling.evaluation import compare_models, learning_curve

    # Held-out predictions need no standard errors, which dominate the cost of a fit with
    # up to a few thousand items (dense inverse: 1.2 s against 0.02 s at 1,600 items).
    common = {"alpha": options.alpha, "ties": "half", "n_folds": options.evaluation_folds,
              "seed": 0, "device": options.device, "standard_errors": False}
    variants = _variants(arrays, options)
    fitted = _fitted_variant(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = compare_models(arrays.left, arrays.right, arrays.label, len(arrays.item_ids),
                              {variant.label: variant.options for variant in variants},
                              left_shown=arrays.left_shown, rater=arrays.worker,
                              n_raters=len(arrays.worker_ids), **common)
        # The curve's shape answers "would more judgments help"; the plain model is cheap.
        curve = learning_curve(arrays.left, arrays.right, arrays.label,
                               len(arrays.item_ids), **common)
    ids = {variant.label: variant.id for variant in (BASELINE, *variants)}
    return {"n_folds": options.evaluation_folds, "fitted": fitted.label,
            "fitted_id": fitted.id, "n": len(arrays.left), "curve_model": VARIANTS[0].label,
            "models": [_cv_row(row, ids[row.name], fitted) for row in rows],
            "learning_curve": [{"fraction": point.fraction, "n_train": point.n_train,
                                "log_loss": finite(point.log_loss),
                                "log_loss_se": finite(point.log_loss_se),
                                "accuracy": finite(point.accuracy),
                                "brier": finite(point.brier)} for point in curve]}


def _variants(arrays: _Arrays, options: PairwiseOptions) -> list[Variant]:
    """The four half-win variants, Davidson ties when the data have ties, and the fitted
    variant (when it is none of those)."""
    chosen = list(VARIANTS[:4])
    if (arrays.label == 0).any():
        chosen.append(VARIANTS[4])
    fitted = _fitted_variant(options)
    return chosen if fitted in chosen else [*chosen, fitted]


def _fitted_variant(options: PairwiseOptions) -> Variant:
    """The variant the report fitted (one of :data:`VARIANTS`)."""
    flags = {"position_bias": options.position_bias,
             "rater_reliability": options.rater_reliability and options.ties == "half"}
    wanted = {**{key: True for key, on in flags.items() if on},
              **({"ties": "davidson"} if options.ties == "davidson" else {})}
    return next(variant for variant in VARIANTS if variant.options == wanted)


def _cv_row(row: Any, variant_id: str, fitted: Variant) -> EvaluationModelJson:
    return {"id": variant_id, "name": row.name, "fitted": variant_id == fitted.id,
            "log_loss": finite(row.log_loss), "log_loss_se": finite(row.log_loss_se),
            "accuracy": finite(row.accuracy), "accuracy_se": finite(row.accuracy_se),
            "brier": finite(row.brier), "ece": finite(row.expected_calibration_error),
            "outcome_log_loss": finite(row.outcome_log_loss), "seconds": row.seconds,
            "calibration": [{"lower": b.lower, "upper": b.upper,
                             "predicted": finite(b.mean_predicted),
                             "observed": finite(b.observed), "count": b.count}
                            for b in row.calibration.bins]}
