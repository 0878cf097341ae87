"""The one bridge from the app to the math: Celery tasks on the ``modeling`` queue.

ids in -> selectors -> arrays -> math -> services. :func:`fit_run_execute` claims a
:class:`~annotations.models.FitRun` (idempotent: finished runs return at once, a run
delivered ``FIT_MAX_ATTEMPTS`` times is failed), runs the fitter registered for its kind,
and records the results and the flip to ``succeeded`` in one transaction. Transient
database and broker errors are retried with backoff; everything else (a maximum-likelihood
estimate that does not exist, bad data, a numerical failure) is recorded on the run and not
retried, because it would fail the same way again.

Other model families register a fitter with ``@fitter("kind")``: a function
``(run) -> FitResults`` that reads through selectors and imports its math lazily.

Bradley-Terry data conventions: a judgment's ``left_item`` is the item shown on the left
(so ``left_shown`` is always true); outcome +1 left wins, -1 right wins, and 0 for a tie
*or* "both bad": both say neither response is better than the other, which is the only
thing a pairwise model can use (how bad both are is not a comparison). Skips and undone
judgments are not data.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from annotations.models import FitKind, FitRun, ItemScore, RaterScore, SourceScore
from annotations.selectors.fits import PairwiseData, fit_pairwise_data, fit_run_last_evaluated
from annotations.services.fits import (
    FitResults,
    fit_run_fail,
    fit_run_record_results,
    fit_run_start,
    fit_runs_reconcile,
)

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError)
MAX_TRANSIENT_RETRIES = 5
RELIABILITY_FLAG = 0.7  # Crowd-BT eta below this: the rater flips more than 3 answers in 10
# Crowd-BT separates rater noise from item differences only by comparing raters: it needs
# at least two raters with this many judgments each (one rater's eta is not identified).
RELIABILITY_MIN_JUDGMENTS = 10
EVALUATION_MIN_DATA = 50
EVALUATION_FOLDS = 5
ITEM_WIN_MATRIX_MAX = 12


class NothingToFit(ValueError):
    """The run's data has no usable rows (e.g. only skips)."""


@dataclass(frozen=True)
class Fitter:
    kind: str
    fit: Callable[[FitRun], FitResults]
    uses_torch: bool


FITTERS: dict[str, Fitter] = {}


def fitter(kind: str, *, uses_torch: bool = False
           ) -> Callable[[Callable[[FitRun], FitResults]], Callable[[FitRun], FitResults]]:
    """Register the fit function of ``kind`` (``uses_torch``: cap torch's threads first)."""

    def register(function: Callable[[FitRun], FitResults]) -> Callable[[FitRun], FitResults]:
        FITTERS[kind] = Fitter(kind, function, uses_torch)
        return function

    return register


@shared_task(name="modeling.tasks.fit_run_execute", bind=True, acks_late=True,
             autoretry_for=TRANSIENT_ERRORS, max_retries=MAX_TRANSIENT_RETRIES,
             retry_backoff=5, retry_backoff_max=300, retry_jitter=True, ignore_result=True)
def fit_run_execute(self: Any, run_id: int) -> str:
    """Run the fit of ``run_id`` once; returns what happened (for logs and tests)."""
    run = fit_run_start(run_id=run_id, worker=self.request.hostname or "")
    if run is None:
        return "skipped"
    registered = FITTERS.get(run.kind)
    if registered is None:
        fit_run_fail(run_id=run.pk, error=f"No fitter is installed for {run.kind!r} fits.")
        return "failed"
    limit_threads(torch=registered.uses_torch)
    try:
        results = registered.fit(run)
    except TRANSIENT_ERRORS:
        raise  # retried with backoff; the attempt counter bounds redeliveries
    except Exception as error:  # recorded on the run, never retried
        fit_run_fail(run_id=run.pk, error=describe_failure(error))
        logger.info("fit run %s failed: %s", run.pk, error, exc_info=not _is_math(error))
        return "failed"
    recorded = fit_run_record_results(run=run, results=results)
    return "succeeded" if recorded else "skipped"


@shared_task(name="modeling.tasks.fit_runs_reconcile", ignore_result=True)
def fit_runs_reconcile_task() -> list[int]:
    """Periodic (Celery beat): re-send runs stuck in queued or running."""
    return fit_runs_reconcile()


def describe_failure(error: BaseException) -> str:
    kind = "Math" if _is_math(error) else "Internal error"
    if isinstance(error, NothingToFit):
        return f"Nothing to fit: {error}"
    return f"{kind}: {type(error).__name__}: {error}"


def _is_math(error: BaseException) -> bool:
    return isinstance(error, ValueError | ArithmeticError)


# --- threads ----------------------------------------------------------------------------

_threads_set: set[str] = set()


def fit_threads() -> int:
    """Threads for one fit: ``FIT_THREADS`` or every core (oversubscribing busy cores
    slows fits 10-40x, so set it to cores / concurrency on shared hosts)."""
    raw = os.environ.get("FIT_THREADS", "").strip()
    return max(1, int(raw)) if raw else max(1, os.cpu_count() or 1)


def limit_threads(*, torch: bool) -> None:
    """Once per process: cap BLAS/OpenMP threads (before numpy loads, where possible) and,
    for fitters that use torch, ``torch.set_num_threads``."""
    threads = fit_threads()
    if "blas" not in _threads_set:
        _threads_set.add("blas")
        if "numpy" not in sys.modules:
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ.setdefault(name, str(threads))
    if (torch or "torch" in sys.modules) and "torch" not in _threads_set:
        _threads_set.add("torch")
        import torch as torch_module

        torch_module.set_num_threads(threads)


# --- Bradley-Terry -------------------------------------------------------------------------

@fitter(FitKind.BRADLEY_TERRY)
def fit_bradley_terry_run(run: FitRun) -> FitResults:
    started = time.perf_counter()
    data = fit_pairwise_data(project=run.project, data_version=run.data_version)
    if not data.left:
        raise NothingToFit(f"no judgments up to #{run.data_version} "
                           f"({data.skipped} skipped or undone)")
    loaded = time.perf_counter()
    evaluated = fit_run_last_evaluated(project=run.project, kind=run.kind)
    results = bradley_terry_results(data, run.options, evaluated_on=(
        evaluated.metrics["evaluated_on"] if evaluated else None))
    results.metrics["timings"] = {"load": loaded - started, **results.metrics["timings"],
                                  "total": time.perf_counter() - started}
    return results


@dataclass(frozen=True)
class _Arrays:
    """Judgments as compact integer arrays over the items, sources and raters they use."""

    left: np.ndarray
    right: np.ndarray
    outcome: np.ndarray
    rater: np.ndarray
    left_shown: np.ndarray
    item_ids: list[int]
    rater_ids: list[int]
    item_source: np.ndarray
    source_names: list[str]

    @classmethod
    def build(cls, data: PairwiseData) -> _Arrays:
        import numpy as np

        item_ids = sorted(set(data.left) | set(data.right))
        item_index = {item_id: k for k, item_id in enumerate(item_ids)}
        rater_ids = sorted(set(data.rater))
        rater_index = {rater_id: k for k, rater_id in enumerate(rater_ids)}
        source_names = sorted({data.items[item_id][2] for item_id in item_ids})
        source_index = {name: k for k, name in enumerate(source_names)}
        return cls(
            left=np.fromiter((item_index[i] for i in data.left), np.int64, len(data.left)),
            right=np.fromiter((item_index[i] for i in data.right), np.int64, len(data.left)),
            outcome=np.asarray(data.outcome, dtype=np.int64),
            rater=np.fromiter((rater_index[r] for r in data.rater), np.int64, len(data.left)),
            left_shown=np.ones(len(data.left), dtype=bool), item_ids=item_ids,
            rater_ids=rater_ids, source_names=source_names,
            item_source=np.asarray([source_index[data.items[i][2]] for i in item_ids],
                                   dtype=np.int64))

    def per_comparison(self, options: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if options["position_bias"]:
            extra["left_shown"] = self.left_shown
        if options["rater_reliability"]:
            extra.update(rater=self.rater, n_raters=len(self.rater_ids))
        return extra


def _raters_comparable(arrays: _Arrays) -> bool:
    import numpy as np

    per_rater = np.bincount(arrays.rater, minlength=len(arrays.rater_ids))
    return int((per_rater >= RELIABILITY_MIN_JUDGMENTS).sum()) >= 2


def _model_options(options: dict[str, Any]) -> dict[str, Any]:
    device = None if options["device"] == "auto" else options["device"]
    return {"ties": options["ties"], "alpha": options["alpha"], "device": device,
            "position_bias": options["position_bias"],
            "rater_reliability": options["rater_reliability"]}


def bradley_terry_results(data: PairwiseData, options: dict[str, Any], *,
                          evaluated_on: int | None = None) -> FitResults:
    """Item fit, source leaderboard, rater reliability, win rates and evaluation.

    ``evaluated_on``: judgments of the last run that was evaluated (the evaluation is
    repeated only when the data grew by ``FIT_EVALUATION_GROWTH`` since).
    """
    from modeling.bradley_terry import DisconnectedGraphWarning, fit_bradley_terry

    timings: dict[str, float] = {}
    arrays = _Arrays.build(data)
    notes: list[str] = []
    if options["rater_reliability"] and not _raters_comparable(arrays):
        options = {**options, "rater_reliability": False}
        notes.append(f"Rater reliability is not estimated yet: it needs at least two raters "
                     f"with {RELIABILITY_MIN_JUDGMENTS} or more judgments each.")
    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)  # named below, per group
        result = fit_bradley_terry(arrays.left, arrays.right, arrays.outcome,
                                   len(arrays.item_ids), **_model_options(options),
                                   **arrays.per_comparison(options))
    timings["fit_items"] = time.perf_counter() - clock
    notes += _item_graph_notes(result.components, arrays, data)
    clock = time.perf_counter()
    sources, source_metrics, source_notes, source_fit = _source_board(arrays, options)
    timings["fit_sources"] = time.perf_counter() - clock
    clock = time.perf_counter()
    metrics: dict[str, Any] = {
        "n_items": len(arrays.item_ids), "n_sources": len(arrays.source_names),
        "n_raters": len(arrays.rater_ids), "n_ties": int((arrays.outcome == 0).sum()),
        "solver": result.solver, "se_method": result.se_method,
        "position_bias": _position_bias(result), "sources": source_metrics,
        "win_rates": _win_rates(arrays, data),
        "tie_parameter": result.tie_parameter,
    }
    metrics["evaluation"] = _evaluation(arrays, options, evaluated_on)
    if "models" in metrics["evaluation"]:
        metrics["evaluated_on"] = len(arrays.left)
    timings["evaluation"] = time.perf_counter() - clock
    metrics["timings"] = timings
    return FitResults(
        n_data=len(arrays.left), device=result.device, n_iter=result.n_iter,
        converged=result.converged, log_likelihood=_finite(result.log_likelihood),
        metrics=metrics, warnings=notes + source_notes,
        item_scores=_item_scores(result, arrays, data), source_scores=sources,
        rater_scores=_rater_scores(result, source_fit, arrays))


def _item_scores(result: Any, arrays: _Arrays, data: PairwiseData) -> list[ItemScore]:
    from modeling.leaderboard import leaderboard_from_fit, vote_counts

    counts = vote_counts(arrays.left, arrays.right, arrays.outcome, len(arrays.item_ids))
    names = [data.items[item_id][0] for item_id in arrays.item_ids]
    rows = leaderboard_from_fit(result, names=names, counts=counts)
    return [ItemScore(item_id=arrays.item_ids[row.index], score=row.score, se=row.se,
                      rating=row.rating, lower=row.lower, upper=row.upper, rank=row.rank_ub,
                      n=row.n, wins=row.wins, losses=row.losses, ties=row.ties)
            for row in rows]


def _source_board(arrays: _Arrays, options: dict[str, Any]
                  ) -> tuple[list[SourceScore], dict[str, Any], list[str], Any]:
    """Arena's leaderboard by source, with bootstrap intervals when asked for (and the
    source-level fit, whose rater reliabilities are the better identified ones)."""
    from modeling.bradley_terry import DisconnectedGraphWarning
    from modeling.leaderboard import fit_source_leaderboard

    if len(arrays.source_names) < 2:
        return [], {"skipped": "only one source"}, [], None
    extra = arrays.per_comparison(options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DisconnectedGraphWarning)
            board = fit_source_leaderboard(
                arrays.left, arrays.right, arrays.outcome, arrays.item_source,
                arrays.source_names, bootstrap=options["bootstrap"], seed=0,
                **_model_options(options), **extra)
    except ValueError as error:  # e.g. every comparison is within one source
        return [], {"skipped": str(error)}, [f"No leaderboard by source: {error}."], None
    scores = [SourceScore(source=row.name, score=row.score, se=row.se, rating=row.rating,
                          lower=row.lower, upper=row.upper, rank_ub=row.rank_ub, n=row.n,
                          wins=row.wins, losses=row.losses, ties=row.ties)
              for row in board.rows]
    metrics = {"n_comparisons": len(board.comparisons.kept),
               "n_same_source": board.comparisons.n_dropped,
               "intervals": "bootstrap" if options["bootstrap"] else "hessian",
               "bootstrap": options["bootstrap"], "n_iter": board.result.n_iter,
               "position_bias": _position_bias(board.result)}
    notes = []
    parts = board.result.components
    if len(parts) > 1:
        named = " | ".join("{" + ", ".join(arrays.source_names[k] for k in part) + "}"
                           for part in parts)
        notes.append(f"The sources form {len(parts)} groups that were never compared with "
                     f"each other: {named}. Ratings in different groups are placed on one "
                     "scale only by the prior; compare ratings within a group.")
    return scores, metrics, notes, board.result


def _item_graph_notes(parts: Sequence[Sequence[int]], arrays: _Arrays, data: PairwiseData
                      ) -> list[str]:
    """Items are paired within their group, so one component per group is by design; a
    group that falls apart is worth a warning, naming its pieces."""
    by_group: dict[str, list[list[str]]] = {}
    for part in parts:
        group = data.items[arrays.item_ids[part[0]]][1]
        by_group.setdefault(group, []).append(
            [data.items[arrays.item_ids[k]][0] for k in part])
    notes = []
    for group, pieces in sorted(by_group.items()):
        if len(pieces) > 1:
            named = " | ".join("{" + ", ".join(piece[:8]) + (", ..." if len(piece) > 8
                                                             else "") + "}" for piece in pieces)
            notes.append(f"In group {group!r} the items form {len(pieces)} sets never compared "
                         f"with each other: {named}. Their scores are tied together only by "
                         "the prior.")
    return notes


def _position_bias(result: Any) -> dict[str, Any] | None:
    if result.position_bias is None:
        return None
    estimate, se = float(result.position_bias), float(result.position_bias_se or 0.0)
    return {"estimate": estimate, "se": se, "lower": estimate - 1.96 * se,
            "upper": estimate + 1.96 * se}


def _rater_scores(result: Any, source_fit: Any, arrays: _Arrays) -> list[RaterScore]:
    """Crowd-BT reliability per rater. ``reliability`` comes from the source-level fit when
    there is one: with a few judgments per item, the item scores absorb a careless rater's
    flips and the item-level eta hardly separates raters (both are kept in ``details``)."""
    import numpy as np

    from modeling.bradley_terry import predict_proba

    counts = np.bincount(arrays.rater, minlength=len(arrays.rater_ids))
    p_left = predict_proba(result, arrays.left, arrays.right)[:, 0]
    decisive = arrays.outcome != 0
    agrees = (p_left > 0.5) == (arrays.outcome > 0)
    agreement = np.bincount(arrays.rater[decisive], agrees[decisive].astype(float),
                            minlength=len(arrays.rater_ids))
    n_decisive = np.bincount(arrays.rater[decisive], minlength=len(arrays.rater_ids))
    item_eta = result.rater_reliability
    source_eta = getattr(source_fit, "rater_reliability", None)
    headline = source_eta if source_eta is not None else item_eta
    rows = []
    for k, rater_id in enumerate(arrays.rater_ids):
        reliability = None if headline is None else float(headline[k])
        details = {"decisive": int(n_decisive[k]),
                   "agreement": float(agreement[k] / n_decisive[k]) if n_decisive[k] else None,
                   "item_reliability": None if item_eta is None else float(item_eta[k]),
                   "source_reliability": None if source_eta is None else float(source_eta[k]),
                   "basis": "sources" if source_eta is not None else "items"}
        rows.append(RaterScore(rater_id=rater_id, reliability=reliability, n=int(counts[k]),
                               flagged=reliability is not None
                               and reliability < RELIABILITY_FLAG, details=details))
    return rows


def _win_rates(arrays: _Arrays, data: PairwiseData) -> dict[str, Any]:
    from modeling.leaderboard import source_comparisons, win_rate_matrix

    tables: dict[str, Any] = {}
    if len(arrays.source_names) >= 2:
        by_source = source_comparisons(arrays.left, arrays.right, arrays.outcome,
                                       arrays.item_source)
        if len(by_source.kept):
            tables["sources"] = _matrix(win_rate_matrix(
                by_source.left, by_source.right, by_source.outcome,
                len(arrays.source_names)), arrays.source_names)
    if len(arrays.item_ids) <= ITEM_WIN_MATRIX_MAX:
        tables["items"] = _matrix(win_rate_matrix(arrays.left, arrays.right, arrays.outcome,
                                                  len(arrays.item_ids)),
                                  [data.items[i][0] for i in arrays.item_ids])
    return tables


def _matrix(table: Any, names: list[str]) -> dict[str, Any]:
    return {"names": names,
            "win_rate": [[_finite(value) for value in row] for row in table.win_rate],
            "comparisons": [[float(value) for value in row] for row in table.comparisons]}


def _evaluation(arrays: _Arrays, options: dict[str, Any], evaluated_on: int | None
                ) -> dict[str, Any]:
    """Cross-validated held-out metrics of model variants on the same folds, and a learning
    curve. It costs about 30 extra fits, so it is skipped for small data (too few to hold
    out), for large data (``FIT_EVALUATION_MAX_DATA``), and while the data grew by less than
    ``FIT_EVALUATION_GROWTH`` since the last evaluated run (whose evaluation is shown)."""
    n = len(arrays.left)
    if not options["evaluation"]:
        return {"skipped": "turned off in the run's options"}
    if n < EVALUATION_MIN_DATA:
        return {"skipped": f"needs at least {EVALUATION_MIN_DATA} judgments (has {n})"}
    if n > settings.FIT_EVALUATION_MAX_DATA:
        return {"skipped": f"more than {settings.FIT_EVALUATION_MAX_DATA:,} judgments "
                           "(FIT_EVALUATION_MAX_DATA)"}
    if evaluated_on and n < evaluated_on * (1 + settings.FIT_EVALUATION_GROWTH):
        return {"skipped": f"the data grew by less than "
                           f"{settings.FIT_EVALUATION_GROWTH:.0%} since the last evaluation "
                           f"(on {evaluated_on:,} judgments)", "reused": True}
    try:
        return _evaluate(arrays, options)
    except (ValueError, ArithmeticError) as error:
        return {"skipped": f"the evaluation failed: {error}"}


def _evaluate(arrays: _Arrays, options: dict[str, Any]) -> dict[str, Any]:
    from modeling.evaluation import compare_models, learning_curve

    common = {"alpha": options["alpha"], "ties": "half", "n_folds": EVALUATION_FOLDS,
              "seed": 0, "device": _model_options(options)["device"], **_without_se()}
    variants = _variants(arrays, options)
    fitted = _fitted_variant(options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = compare_models(arrays.left, arrays.right, arrays.outcome, len(arrays.item_ids),
                              variants, left_shown=arrays.left_shown, rater=arrays.rater,
                              n_raters=len(arrays.rater_ids), **common)
        # The curve's shape answers "would more judgments help"; the plain model is cheap.
        curve = learning_curve(arrays.left, arrays.right, arrays.outcome,
                               len(arrays.item_ids), **common)
    return {"n_folds": EVALUATION_FOLDS, "fitted": fitted, "n": len(arrays.left),
            "curve_model": "Bradley-Terry",
            "models": [_cv_row(row, fitted) for row in rows],
            "learning_curve": [{"fraction": point.fraction, "n_train": point.n_train,
                                "log_loss": _finite(point.log_loss),
                                "log_loss_se": _finite(point.log_loss_se),
                                "accuracy": _finite(point.accuracy),
                                "brier": _finite(point.brier)} for point in curve]}


def _without_se() -> dict[str, Any]:
    """Held-out predictions need no standard errors, which dominate the cost of a fit with
    up to a few thousand items (dense inverse: 1.2 s against 0.02 s at 1,600 items); skip
    them where the engine allows it."""
    import inspect

    from modeling.bradley_terry import fit_bradley_terry

    supported = "standard_errors" in inspect.signature(fit_bradley_terry).parameters
    return {"standard_errors": False} if supported else {}


def _variants(arrays: _Arrays, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    variants = {"Bradley-Terry": {},
                "+ position bias": {"position_bias": True},
                "+ rater reliability": {"rater_reliability": True},
                "+ position bias + rater reliability": {"position_bias": True,
                                                        "rater_reliability": True}}
    if (arrays.outcome == 0).any():
        variants["Davidson ties + position bias"] = {"ties": "davidson",
                                                     "position_bias": True}
    variants.setdefault(_fitted_variant(options), {
        key: options[key] for key in ("ties", "position_bias", "rater_reliability")})
    return variants


def _fitted_variant(options: dict[str, Any]) -> str:
    """The display name of the variant the run fitted (see :func:`_variants`)."""
    if options["ties"] == "davidson":
        return "Davidson ties + position bias" if options["position_bias"] else "Davidson ties"
    parts = [name for flag, name in (("position_bias", "position bias"),
                                     ("rater_reliability", "rater reliability"))
             if options[flag]]
    return "+ " + " + ".join(parts) if parts else "Bradley-Terry"


def _cv_row(row: Any, fitted: str) -> dict[str, Any]:
    return {"name": row.name, "fitted": row.name == fitted, "log_loss": _finite(row.log_loss),
            "log_loss_se": _finite(row.log_loss_se), "accuracy": _finite(row.accuracy),
            "accuracy_se": _finite(row.accuracy_se), "brier": _finite(row.brier),
            "ece": _finite(row.expected_calibration_error),
            "outcome_log_loss": _finite(row.outcome_log_loss),
            "seconds": row.seconds,
            "calibration": [{"lower": b.lower, "upper": b.upper,
                             "predicted": _finite(b.mean_predicted),
                             "observed": _finite(b.observed), "count": b.count}
                            for b in row.calibration.bins]}


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: store them as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- Fine-grained annotation: many-facet Rasch, Dawid-Skene, agreement ----------------------
# Data conventions in annotations/selectors/fine_grained_fits.py; math in
# modeling/fine_grained.py, modeling/facets.py, modeling/dawid_skene.py, modeling/agreement.py.

@fitter(FitKind.FACETS, uses_torch=True)
def fit_facets_run(run: FitRun) -> FitResults:
    from annotations.selectors.fine_grained_fits import fine_grained_fit_data

    started = time.perf_counter()
    data = fine_grained_fit_data(project=run.project, data_version=run.data_version)
    results = facets_results(data, run.options)
    results.metrics["timings"] = {"total": time.perf_counter() - started}
    return results


@fitter(FitKind.DAWID_SKENE, uses_torch=True)
def fit_dawid_skene_run(run: FitRun) -> FitResults:
    from annotations.selectors.fine_grained_fits import fine_grained_fit_data

    started = time.perf_counter()
    data = fine_grained_fit_data(project=run.project, data_version=run.data_version)
    results = dawid_skene_results(data, run.options)
    results.metrics["timings"] = {"total": time.perf_counter() - started}
    return results


@dataclass(frozen=True)
class _Ratings:
    """The modelled ratings as codes over the items, raters and criteria they use."""

    item: np.ndarray
    rater: np.ndarray
    criterion: np.ndarray
    value: np.ndarray
    item_ids: list[int]
    rater_ids: list[int]
    criteria: list[Any]  # Criterion rows of the modelled criteria

    @classmethod
    def build(cls, data: Any) -> _Ratings:
        import numpy as np

        modelled = [k for k, criterion in enumerate(data.criteria) if criterion.modelled]
        keep = [r for r, c in enumerate(data.rating_criterion) if c in modelled]
        if not keep:
            raise NothingToFit("no ratings on the rating attributes (or the overall rating)")
        annotation = np.asarray(data.rating_annotation, dtype=np.int64)[keep]
        item = np.asarray([data.annotations[a][1] for a in annotation], dtype=np.int64)
        rater = np.asarray([data.annotations[a][2] for a in annotation], dtype=np.int64)
        item_ids, item_code = np.unique(item, return_inverse=True)
        rater_ids, rater_code = np.unique(rater, return_inverse=True)
        criterion_code = np.searchsorted(np.asarray(modelled),
                                         np.asarray(data.rating_criterion)[keep])
        return cls(item_code, rater_code, criterion_code,
                   np.asarray(data.rating_value, dtype=np.int64)[keep], item_ids.tolist(),
                   rater_ids.tolist(), [data.criteria[k] for k in modelled])


def _device(options: dict[str, Any]) -> str | None:
    return None if options["device"] == "auto" else options["device"]


def facets_results(data: Any, options: dict[str, Any]) -> FitResults:
    """Rater severity and fit, criterion difficulty, corrected item scores (see
    modeling.fine_grained.facets_summary); raters outside ``fit_bounds`` are flagged."""
    from modeling.fine_grained import facets_summary

    ratings = _Ratings.build(data)
    low, high = data.scale
    summary = facets_summary(
        ratings.item, ratings.rater, ratings.criterion, ratings.value,
        n_items=len(ratings.item_ids), n_raters=len(ratings.rater_ids),
        n_criteria=len(ratings.criteria), low=low, high=high, form=options["form"],
        fit_bounds=tuple(options["fit_bounds"]), device=_device(options))
    fit = summary.fit
    warnings_ = []
    if summary.unused_values:
        warnings_.append("Rating values nobody used were squeezed out of the scale (as "
                         f"Facets does): {', '.join(map(str, summary.unused_values))}.")
    if fit.n_subsets > 1:
        warnings_.append(f"The ratings form {fit.n_subsets} disconnected subsets: measures "
                         "in different subsets are not comparable.")
    metrics = {
        "form": fit.form, "fit_bounds": list(fit.fit_bounds), "scale": [low, high],
        "values": summary.values.tolist(), "unused_values": summary.unused_values,
        "thresholds": [[_finite(t) for t in row] for row in fit.thresholds],
        "criteria": [{"key": c.key, "name": c.name,
                      "difficulty": _finite(fit.criterion_difficulty[k]),
                      "se": _finite(fit.criterion_se[k]),
                      "infit": _finite(fit.criterion_infit[k]),
                      "outfit": _finite(fit.criterion_outfit[k]),
                      "n": int(fit.criterion_n[k])} for k, c in enumerate(ratings.criteria)],
        "item_reliability": _finite(fit.item_reliability),
        "item_separation": _finite(fit.item_separation),
        "rater_reliability": _finite(fit.rater_reliability),
        "rater_separation": _finite(fit.rater_separation),
        "n_subsets": fit.n_subsets, "n_items": len(ratings.item_ids),
        "n_raters": len(ratings.rater_ids), "n_ratings": len(ratings.value),
    }
    return FitResults(
        n_data=len(data.annotations), n_iter=fit.n_iter, converged=fit.converged,
        log_likelihood=_finite(fit.log_likelihood), metrics=metrics, warnings=warnings_,
        item_scores=_facets_items(summary, ratings),
        rater_scores=_facets_raters(fit, ratings))


def _facets_items(summary: Any, ratings: _Ratings) -> list[ItemScore]:
    fit = summary.fit
    rows = []
    for k, item_id in enumerate(ratings.item_ids):
        by_criterion = {
            c.key: {"raw_mean": _finite(summary.cell_raw_mean[k, j]),
                    "corrected": _finite(summary.cell_corrected[k, j]),
                    "low": _finite(summary.cell_low[k, j]),
                    "high": _finite(summary.cell_high[k, j]),
                    "n": int(summary.cell_n[k, j])}
            for j, c in enumerate(ratings.criteria)}
        rows.append(ItemScore(
            item_id=item_id, score=_finite(fit.item_measure[k]) or 0.0,
            se=_finite(fit.item_se[k]), n=float(fit.item_n[k]),
            details={"raw_mean": _finite(summary.item_raw_mean[k]),
                     "corrected": _finite(summary.item_corrected[k]),
                     "low": _finite(summary.item_low[k]),
                     "high": _finite(summary.item_high[k]),
                     "infit": _finite(fit.item_infit[k]), "outfit": _finite(fit.item_outfit[k]),
                     "extreme": int(fit.item_extreme[k]), "by_criterion": by_criterion}))
    return rows


def _facets_raters(fit: Any, ratings: _Ratings) -> list[RaterScore]:
    return [RaterScore(
        rater_id=rater_id, n=int(fit.rater_n[k]), flagged=bool(fit.rater_misfit[k]),
        details={"severity": _finite(fit.rater_severity[k]), "se": _finite(fit.rater_se[k]),
                 "infit": _finite(fit.rater_infit[k]), "outfit": _finite(fit.rater_outfit[k]),
                 "extreme": int(fit.rater_extreme[k]), "misfit": bool(fit.rater_misfit[k])})
        for k, rater_id in enumerate(ratings.rater_ids)]


def dawid_skene_results(data: Any, options: dict[str, Any]) -> FitResults:
    """Dawid-Skene on the ratings (levels as classes) and on span presence, with
    Krippendorff's alpha per criterion and pairwise span agreement per item."""
    if not data.annotations:
        raise NothingToFit("no annotations (skipped ones do not count)")
    raters = sorted({rater for _a, _i, rater in data.annotations})
    items = sorted({item for _a, item, _r in data.annotations})
    rating_fit = _ds_ratings(data, options, raters)
    span_fit = _ds_spans(data, options, raters)
    if rating_fit is None and span_fit is None:
        raise NothingToFit("no ratings on the modelled scale and no span categories")
    metrics = {"alpha": _alpha(data), "span_agreement": _span_agreement(data),
               "ratings": rating_fit["metrics"] if rating_fit else None,
               "spans": span_fit["metrics"] if span_fit else None}
    headline = rating_fit or span_fit
    return FitResults(
        n_data=len(data.annotations), n_iter=headline["fit"].n_iter,
        converged=headline["fit"].converged,
        log_likelihood=_finite(headline["fit"].log_likelihood), metrics=metrics,
        item_scores=_ds_items(items, data, rating_fit, span_fit, metrics),
        rater_scores=_ds_raters(raters, rating_fit, span_fit))


def _ds_ratings(data: Any, options: dict[str, Any], raters: list[int]) -> dict[str, Any] | None:
    import numpy as np

    from modeling.dawid_skene import fit_dawid_skene

    scale = data.scale
    modelled = {k for k, c in enumerate(data.criteria) if c.modelled}
    rows = [(data.annotations[a][1], c, data.annotations[a][2], v) for a, c, v in
            zip(data.rating_annotation, data.rating_criterion, data.rating_value, strict=True)
            if c in modelled]
    if not rows:
        return None
    task_keys = sorted({(item, c) for item, c, _r, _v in rows})
    task_of = {key: k for k, key in enumerate(task_keys)}
    rater_of = {rater: k for k, rater in enumerate(raters)}
    tasks = np.asarray([task_of[(item, c)] for item, c, _r, _v in rows], dtype=np.int64)
    workers = np.asarray([rater_of[r] for _i, _c, r, _v in rows], dtype=np.int64)
    labels = np.asarray([v - scale[0] for _i, _c, _r, v in rows], dtype=np.int64)
    fit = fit_dawid_skene(tasks, workers, labels, n_tasks=len(task_keys),
                          n_workers=len(raters), n_classes=scale[1] - scale[0] + 1,
                          smoothing=options["smoothing"], device=_device(options))
    values = list(range(scale[0], scale[1] + 1))
    return {"fit": fit, "tasks": task_keys, "values": values, "metrics": {
        "classes": values, "n_tasks": len(task_keys), "n_labels": len(rows),
        "priors": [_finite(p) for p in fit.priors], "converged": fit.converged,
        "n_iter": fit.n_iter}}


def _ds_spans(data: Any, options: dict[str, Any], raters: list[int]) -> dict[str, Any] | None:
    import numpy as np

    from modeling.dawid_skene import fit_dawid_skene

    if not data.categories:
        return None
    marked = {(a, c) for a, _start, _end, c in data.spans}
    n_categories = len(data.categories)
    item_list = sorted({item for _a, item, _r in data.annotations})
    item_of = {item: k for k, item in enumerate(item_list)}
    rater_of = {rater: k for k, rater in enumerate(raters)}
    tasks, workers, labels = [], [], []
    for a, (_id, item, rater) in enumerate(data.annotations):
        for c in range(n_categories):
            tasks.append(item_of[item] * n_categories + c)
            workers.append(rater_of[rater])
            labels.append(int((a, c) in marked))
    fit = fit_dawid_skene(np.asarray(tasks), np.asarray(workers), np.asarray(labels),
                          n_tasks=len(item_list) * n_categories, n_workers=len(raters),
                          n_classes=2, smoothing=options["smoothing"], device=_device(options))
    return {"fit": fit, "items": item_list, "metrics": {
        "classes": ["not marked", "marked"], "n_tasks": len(item_list) * n_categories,
        "n_labels": len(labels), "priors": [_finite(p) for p in fit.priors],
        "converged": fit.converged, "n_iter": fit.n_iter,
        "categories": [{"id": pk, "name": name} for pk, name in data.categories]}}


def _alpha(data: Any) -> list[dict[str, Any]]:
    import numpy as np

    from modeling.fine_grained import alpha_by_criterion

    if not data.rating_value:
        return []
    items = np.asarray([data.annotations[a][1] for a in data.rating_annotation], dtype=np.int64)
    results = alpha_by_criterion(items, np.asarray(data.rating_criterion),
                                 np.asarray(data.rating_value), n_criteria=len(data.criteria))
    return [{"key": c.key, "name": c.name,
             "alpha": _finite(result[0]) if result else None,
             "n_items": result[1] if result else 0}
            for c, result in zip(data.criteria, results, strict=True)]


def _span_agreement(data: Any) -> dict[str, Any] | None:
    import numpy as np

    from modeling.fine_grained import span_agreement_by_item

    if not data.categories:
        return None
    by_annotation: dict[int, list[tuple[int, int, int]]] = {}
    for a, start, end, c in data.spans:
        by_annotation.setdefault(a, []).append((start, end, c))
    by_item: dict[int, list[Any]] = {}
    for a, (_id, item, _rater) in enumerate(data.annotations):
        rows = by_annotation.get(a, [])
        by_item.setdefault(item, []).append(np.asarray(rows, dtype=np.int64).reshape(-1, 3))
    summary = span_agreement_by_item(by_item, n_categories=len(data.categories))
    return {"micro_f1": _finite(summary.micro_f1), "n_items": summary.n_items,
            "by_item": {str(item): _finite(f1) for item, f1 in summary.item_micro_f1.items()},
            "categories": [{"id": pk, "name": name, "f1": _finite(summary.category_f1[k])}
                           for k, (pk, name) in enumerate(data.categories)]}


def _ds_items(items: list[int], data: Any, rating_fit: dict[str, Any] | None,
              span_fit: dict[str, Any] | None, metrics: dict[str, Any]) -> list[ItemScore]:
    details: dict[int, dict[str, Any]] = {item: {"labels": {}, "confidence": {},
                                                 "span_presence": {}} for item in items}
    if rating_fit:
        fit, values = rating_fit["fit"], rating_fit["values"]
        keys = [data.criteria[c].key for c in range(len(data.criteria))]
        for k, (item, c) in enumerate(rating_fit["tasks"]):
            details[item]["labels"][keys[c]] = values[int(fit.labels[k])]
            details[item]["confidence"][keys[c]] = _finite(fit.confidence[k])
    if span_fit:
        fit, n_categories = span_fit["fit"], len(data.categories)
        for k, item in enumerate(span_fit["items"]):
            for c, (pk, _name) in enumerate(data.categories):
                details[item]["span_presence"][str(pk)] = _finite(
                    fit.posteriors[k * n_categories + c, 1])
    agreement = (metrics["span_agreement"] or {}).get("by_item", {})
    counts: dict[int, int] = {}
    for _a, item, _r in data.annotations:
        counts[item] = counts.get(item, 0) + 1
    rows = []
    for item in items:
        confidence = [v for v in details[item]["confidence"].values() if v is not None]
        details[item]["span_f1"] = agreement.get(str(item))
        rows.append(ItemScore(item_id=item, score=sum(confidence) / len(confidence)
                              if confidence else 0.0, n=float(counts[item]),
                              details=details[item]))
    return rows


def _ds_raters(raters: list[int], rating_fit: dict[str, Any] | None,
               span_fit: dict[str, Any] | None) -> list[RaterScore]:
    rows = []
    for k, rater_id in enumerate(raters):
        details = {"ratings": _ds_rater(rating_fit, k), "spans": _ds_rater(span_fit, k)}
        headline = details["ratings"] or details["spans"]
        if headline is None:
            continue
        rows.append(RaterScore(rater_id=rater_id, reliability=headline["accuracy"],
                               n=headline["n"], details=details))
    return rows


def _ds_rater(fitted: dict[str, Any] | None, k: int) -> dict[str, Any] | None:
    if fitted is None or int(fitted["fit"].worker_n_labels[k]) == 0:
        return None
    fit = fitted["fit"]
    return {"confusion": [[_finite(p) for p in row] for row in fit.confusion[k]],
            "accuracy": _finite(fit.worker_accuracy[k]),
            "agreement": _finite(fit.worker_agreement[k]),
            "n": int(fit.worker_n_labels[k])}
