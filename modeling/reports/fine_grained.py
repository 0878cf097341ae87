"""Fine-grained annotations to reports: many-facet Rasch (:func:`facets_report`) and
Dawid-Skene with agreement (:func:`dawid_skene_report`).

Math in :mod:`modeling.fine_grained`, :mod:`modeling.facets`, :mod:`modeling.dawid_skene`
and :mod:`modeling.agreement`; inputs and outputs in :mod:`modeling.reports.types`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeling.dawid_skene import DawidSkeneResult, fit_dawid_skene
from modeling.errors import NothingToFit
from modeling.fine_grained import (
    FacetsSummary,
    alpha_by_criterion,
    facets_summary,
    span_agreement_by_item,
)
from modeling.numbers import finite
from modeling.reports.types import (
    AlphaJson,
    Annotations,
    Criterion,
    DawidSkeneFitJson,
    DawidSkeneMetrics,
    DawidSkeneOptions,
    FacetsMetrics,
    FacetsOptions,
    ItemEstimate,
    Notice,
    Report,
    SpanAgreementJson,
    WorkerEstimate,
)


@dataclass(frozen=True)
class _Ratings:
    """The modelled ratings as codes over the tasks, workers and criteria they use."""

    task: np.ndarray
    worker: np.ndarray
    criterion: np.ndarray
    label: np.ndarray
    task_ids: list[int]
    worker_ids: list[int]
    criteria: list[Criterion]

    @classmethod
    def build(cls, data: Annotations) -> _Ratings:
        modelled = [k for k, criterion in enumerate(data.criteria) if criterion.modelled]
        keep = [r for r, c in enumerate(data.rating_criterion) if c in modelled]
        if not keep:
            raise NothingToFit("no ratings on the rating attributes (or the overall rating)")
        annotation = np.asarray(data.rating_annotation, dtype=np.int64)[keep]
        task = np.asarray([data.annotations[a][1] for a in annotation], dtype=np.int64)
        worker = np.asarray([data.annotations[a][2] for a in annotation], dtype=np.int64)
        task_ids, task_code = np.unique(task, return_inverse=True)
        worker_ids, worker_code = np.unique(worker, return_inverse=True)
        criterion_code = np.searchsorted(np.asarray(modelled),
                                         np.asarray(data.rating_criterion)[keep])
        return cls(task_code, worker_code, criterion_code,
                   np.asarray(data.rating_label, dtype=np.int64)[keep], task_ids.tolist(),
                   worker_ids.tolist(), [data.criteria[k] for k in modelled])


# --- many-facet Rasch -------------------------------------------------------------------------

def facets_report(data: Annotations, options: FacetsOptions) -> Report[FacetsMetrics]:
    """Rater severity and fit, criterion difficulty, corrected item scores (see
    :func:`modeling.fine_grained.facets_summary`); raters outside ``fit_bounds`` misfit."""
    ratings = _Ratings.build(data)
    scale = data.scale
    assert scale is not None  # there are modelled ratings
    low, high = scale
    summary = facets_summary(
        ratings.task, ratings.worker, ratings.criterion, ratings.label,
        n_items=len(ratings.task_ids), n_raters=len(ratings.worker_ids),
        n_criteria=len(ratings.criteria), low=low, high=high, form=options.form,
        fit_bounds=options.fit_bounds, device=options.device)
    fit = summary.fit
    notices = []
    if summary.unused_values:
        notices.append(Notice("unused_values", {"values": list(summary.unused_values)}))
    if fit.n_subsets > 1:
        notices.append(Notice("disconnected_subsets", {"count": fit.n_subsets}))
    metrics: FacetsMetrics = {
        "form": fit.form, "fit_bounds": list(fit.fit_bounds), "scale": [low, high],
        "values": summary.values.tolist(), "unused_values": list(summary.unused_values),
        "thresholds": [[finite(t) for t in row] for row in fit.thresholds],
        "criteria": [{"key": c.key, "name": c.name,
                      "difficulty": finite(fit.criterion_difficulty[k]),
                      "se": finite(fit.criterion_se[k]),
                      "infit": finite(fit.criterion_infit[k]),
                      "outfit": finite(fit.criterion_outfit[k]),
                      "n": int(fit.criterion_n[k])} for k, c in enumerate(ratings.criteria)],
        "item_reliability": finite(fit.item_reliability),
        "item_separation": finite(fit.item_separation),
        "rater_reliability": finite(fit.rater_reliability),
        "rater_separation": finite(fit.rater_separation),
        "n_subsets": fit.n_subsets, "n_items": len(ratings.task_ids),
        "n_raters": len(ratings.worker_ids), "n_ratings": len(ratings.label),
    }
    return Report(
        n_data=len(data.annotations), n_iter=fit.n_iter, converged=fit.converged,
        log_likelihood=finite(fit.log_likelihood), device=fit.device, metrics=metrics,
        notices=tuple(notices), items=_facets_items(summary, ratings),
        workers=_facets_workers(summary, ratings))


def _facets_items(summary: FacetsSummary, ratings: _Ratings) -> tuple[ItemEstimate, ...]:
    fit = summary.fit
    rows = []
    for k, item_id in enumerate(ratings.task_ids):
        by_criterion = {
            c.key: {"raw_mean": finite(summary.cell_raw_mean[k, j]),
                    "corrected": finite(summary.cell_corrected[k, j]),
                    "low": finite(summary.cell_low[k, j]),
                    "high": finite(summary.cell_high[k, j]),
                    "n": int(summary.cell_n[k, j])}
            for j, c in enumerate(ratings.criteria)}
        rows.append(ItemEstimate(
            item=item_id, score=finite(fit.item_measure[k]) or 0.0,
            se=finite(fit.item_se[k]), n=float(fit.item_n[k]),
            details={"raw_mean": finite(summary.item_raw_mean[k]),
                     "corrected": finite(summary.item_corrected[k]),
                     "low": finite(summary.item_low[k]),
                     "high": finite(summary.item_high[k]),
                     "infit": finite(fit.item_infit[k]), "outfit": finite(fit.item_outfit[k]),
                     "extreme": int(fit.item_extreme[k]), "by_criterion": by_criterion}))
    return tuple(rows)


def _facets_workers(summary: FacetsSummary, ratings: _Ratings) -> tuple[WorkerEstimate, ...]:
    fit = summary.fit
    return tuple(WorkerEstimate(
        worker=worker_id, reliability=None, n=int(fit.rater_n[k]),
        misfit=bool(fit.rater_misfit[k]),
        details={"severity": finite(fit.rater_severity[k]), "se": finite(fit.rater_se[k]),
                 "infit": finite(fit.rater_infit[k]), "outfit": finite(fit.rater_outfit[k]),
                 "extreme": int(fit.rater_extreme[k]), "misfit": bool(fit.rater_misfit[k])})
        for k, worker_id in enumerate(ratings.worker_ids))


# --- Dawid-Skene and agreement ------------------------------------------------------------

@dataclass(frozen=True)
class _DawidSkeneFit:
    fit: DawidSkeneResult
    tasks: list[Any]  # (item, criterion) for ratings; item ids for spans
    metrics: DawidSkeneFitJson
    values: list[int] | None = None


def dawid_skene_report(data: Annotations, options: DawidSkeneOptions
                       ) -> Report[DawidSkeneMetrics]:
    """Dawid-Skene on the ratings (levels as classes) and on span presence, with
    Krippendorff's alpha per criterion and pairwise span agreement per item."""
    if not data.annotations:
        raise NothingToFit("no annotations (skipped ones do not count)")
    workers = sorted({worker for _a, _t, worker in data.annotations})
    items = sorted({task for _a, task, _w in data.annotations})
    rating_fit = _ds_ratings(data, options, workers)
    span_fit = _ds_spans(data, options, workers)
    headline = rating_fit or span_fit
    if headline is None:
        raise NothingToFit("no ratings on the modelled scale and no span categories")
    metrics: DawidSkeneMetrics = {
        "alpha": _alpha(data), "span_agreement": _span_agreement(data),
        "ratings": rating_fit.metrics if rating_fit else None,
        "spans": span_fit.metrics if span_fit else None}
    return Report(
        n_data=len(data.annotations), n_iter=headline.fit.n_iter,
        converged=headline.fit.converged, log_likelihood=finite(headline.fit.log_likelihood),
        device=getattr(headline.fit, "device", ""), metrics=metrics,
        items=_ds_items(items, data, rating_fit, span_fit, metrics),
        workers=_ds_workers(workers, rating_fit, span_fit))


def _ds_ratings(data: Annotations, options: DawidSkeneOptions, workers: list[int]
                ) -> _DawidSkeneFit | None:
    scale = data.scale
    modelled = {k for k, c in enumerate(data.criteria) if c.modelled}
    rows = [(data.annotations[a][1], c, data.annotations[a][2], v) for a, c, v in
            zip(data.rating_annotation, data.rating_criterion, data.rating_label, strict=True)
            if c in modelled]
    if not rows or scale is None:
        return None
    task_keys = sorted({(item, c) for item, c, _w, _v in rows})
    task_of = {key: k for k, key in enumerate(task_keys)}
    worker_of = {worker: k for k, worker in enumerate(workers)}
    fit = fit_dawid_skene(
        np.asarray([task_of[(item, c)] for item, c, _w, _v in rows], dtype=np.int64),
        np.asarray([worker_of[w] for _i, _c, w, _v in rows], dtype=np.int64),
        np.asarray([v - scale[0] for _i, _c, _w, v in rows], dtype=np.int64),
        n_tasks=len(task_keys), n_workers=len(workers), n_classes=scale[1] - scale[0] + 1,
        smoothing=options.smoothing, device=options.device)
    values = list(range(scale[0], scale[1] + 1))
    return _DawidSkeneFit(fit, task_keys, {
        "classes": list(values), "n_tasks": len(task_keys), "n_labels": len(rows),
        "priors": [finite(p) for p in fit.priors], "converged": fit.converged,
        "n_iter": fit.n_iter}, values)


def _ds_spans(data: Annotations, options: DawidSkeneOptions, workers: list[int]
              ) -> _DawidSkeneFit | None:
    if not data.categories:
        return None
    marked = {(a, c) for a, _start, _end, c in data.spans}
    n_categories = len(data.categories)
    item_list = sorted({task for _a, task, _w in data.annotations})
    item_of = {item: k for k, item in enumerate(item_list)}
    worker_of = {worker: k for k, worker in enumerate(workers)}
    tasks, worker_codes, labels = [], [], []
    for a, (_id, item, worker) in enumerate(data.annotations):
        for c in range(n_categories):
            tasks.append(item_of[item] * n_categories + c)
            worker_codes.append(worker_of[worker])
            labels.append(int((a, c) in marked))
    fit = fit_dawid_skene(np.asarray(tasks), np.asarray(worker_codes), np.asarray(labels),
                          n_tasks=len(item_list) * n_categories, n_workers=len(workers),
                          n_classes=2, smoothing=options.smoothing, device=options.device)
    return _DawidSkeneFit(fit, item_list, {
        "classes": ["not marked", "marked"], "n_tasks": len(item_list) * n_categories,
        "n_labels": len(labels), "priors": [finite(p) for p in fit.priors],
        "converged": fit.converged, "n_iter": fit.n_iter,
        "categories": [{"id": pk, "name": name} for pk, name in data.categories]})


def _alpha(data: Annotations) -> list[AlphaJson]:
    if not data.rating_label:
        return []
    items = np.asarray([data.annotations[a][1] for a in data.rating_annotation], dtype=np.int64)
    results = alpha_by_criterion(items, np.asarray(data.rating_criterion),
                                 np.asarray(data.rating_label), n_criteria=len(data.criteria))
    return [{"key": c.key, "name": c.name,
             "alpha": finite(result[0]) if result else None,
             "n_items": result[1] if result else 0}
            for c, result in zip(data.criteria, results, strict=True)]


def _span_agreement(data: Annotations) -> SpanAgreementJson | None:
    if not data.categories:
        return None
    by_annotation: dict[int, list[tuple[int, int, int]]] = {}
    for a, start, end, c in data.spans:
        by_annotation.setdefault(a, []).append((start, end, c))
    by_item: dict[int, list[Any]] = {}
    for a, (_id, item, _worker) in enumerate(data.annotations):
        rows = by_annotation.get(a, [])
        by_item.setdefault(item, []).append(np.asarray(rows, dtype=np.int64).reshape(-1, 3))
    summary = span_agreement_by_item(by_item, n_categories=len(data.categories))
    return {"micro_f1": finite(summary.micro_f1), "n_items": summary.n_items,
            "by_item": {str(item): finite(f1) for item, f1 in summary.item_micro_f1.items()},
            "categories": [{"id": pk, "name": name, "f1": finite(summary.category_f1[k])}
                           for k, (pk, name) in enumerate(data.categories)]}


def _ds_items(items: list[int], data: Annotations, rating_fit: _DawidSkeneFit | None,
              span_fit: _DawidSkeneFit | None, metrics: DawidSkeneMetrics
              ) -> tuple[ItemEstimate, ...]:
    details: dict[int, dict[str, Any]] = {item: {"labels": {}, "confidence": {},
                                                 "span_presence": {}} for item in items}
    if rating_fit:
        fit, values = rating_fit.fit, rating_fit.values or []
        keys = [criterion.key for criterion in data.criteria]
        for k, (item, c) in enumerate(rating_fit.tasks):
            details[item]["labels"][keys[c]] = values[int(fit.labels[k])]
            details[item]["confidence"][keys[c]] = finite(fit.confidence[k])
    if span_fit:
        fit, n_categories = span_fit.fit, len(data.categories)
        for k, item in enumerate(span_fit.tasks):
            for c, (pk, _name) in enumerate(data.categories):
                details[item]["span_presence"][str(pk)] = finite(
                    fit.posteriors[k * n_categories + c, 1])
    agreement = (metrics["span_agreement"] or {}).get("by_item", {})
    counts: dict[int, int] = {}
    for _a, item, _w in data.annotations:
        counts[item] = counts.get(item, 0) + 1
    rows = []
    for item in items:
        confidence = [v for v in details[item]["confidence"].values() if v is not None]
        details[item]["span_f1"] = agreement.get(str(item))
        rows.append(ItemEstimate(item=item, score=sum(confidence) / len(confidence)
                                 if confidence else 0.0, n=float(counts[item]),
                                 details=details[item]))
    return tuple(rows)


def _ds_workers(workers: list[int], rating_fit: _DawidSkeneFit | None,
                span_fit: _DawidSkeneFit | None) -> tuple[WorkerEstimate, ...]:
    rows = []
    for k, worker_id in enumerate(workers):
        details = {"ratings": _ds_worker(rating_fit, k), "spans": _ds_worker(span_fit, k)}
        headline = details["ratings"] or details["spans"]
        if headline is None:
            continue
        rows.append(WorkerEstimate(worker=worker_id, reliability=headline["accuracy"],
                                   n=headline["n"], details=details))
    return tuple(rows)


def _ds_worker(fitted: _DawidSkeneFit | None, k: int) -> dict[str, Any] | None:
    if fitted is None or int(fitted.fit.worker_n_labels[k]) == 0:
        return None
    fit = fitted.fit
    return {"confusion": [[finite(p) for p in row] for row in fit.confusion[k]],
            "accuracy": finite(fit.worker_accuracy[k]),
            "agreement": finite(fit.worker_agreement[k]),
            "n": int(fit.worker_n_labels[k])}
