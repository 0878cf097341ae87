"""Reads for the fine-grained results pages: item scores (raw and severity-corrected),
per-attribute distributions, the span heat-map of one item, and the raters' quality.

Raw numbers are counted from the annotations now; model numbers come from the current
(latest succeeded) facets and Dawid-Skene runs and say which data they were fitted on.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Q, Sum

from annotations.models import (
    Annotation,
    FitKind,
    FitRun,
    Item,
    Project,
    Rating,
    Span,
)
from annotations.selectors.fine_grained import FineGrainedTask, fine_grained_task
from annotations.selectors.fine_grained_fits import (
    FINE_GRAINED_FIT_KINDS,
    OVERALL,
    USABLE_ANNOTATION,
)
from annotations.selectors.fits import Staleness, fit_run_current, fit_staleness

HEAT_LEVELS = 5  # CSS classes fg-heat-1 .. fg-heat-5
ITEM_LIMIT = 500


def fine_grained_current_runs(*, project: Project) -> dict[str, FitRun | None]:
    """The runs the results pages show: the succeeded run on the newest data, per kind."""
    return {kind: fit_run_current(project=project, kind=kind)
            for kind in FINE_GRAINED_FIT_KINDS}


@dataclass(frozen=True)
class Distribution:
    """How often each level of a criterion was chosen (``bars``: value, count, percent)."""

    key: str
    name: str
    bars: list[tuple[int, int, float]]
    total: int
    mean: float | None


@dataclass(frozen=True)
class ItemRow:
    item: Item
    n: int  # usable annotations
    raw_mean: float | None  # over the modelled criteria, from the annotations now
    corrected: float | None
    low: float | None
    high: float | None
    span_f1: float | None
    spans: int
    missing: int


@dataclass
class FitState:
    run: FitRun | None
    staleness: Staleness


@dataclass
class ResultsPage:
    task: FineGrainedTask
    fits: dict[str, FitState]
    rows: list[ItemRow]
    n_items: int
    distributions: list[Distribution]
    criteria: list[dict[str, Any]] = field(default_factory=list)  # difficulty, alpha...
    span_categories: list[dict[str, Any]] = field(default_factory=list)


def fine_results_page(*, project: Project) -> ResultsPage:
    task = fine_grained_task(project)
    runs = fine_grained_current_runs(project=project)
    fits = {kind: FitState(runs[kind], fit_staleness(project=project, kind=kind,
                                                     current=runs[kind]))
            for kind in FINE_GRAINED_FIT_KINDS}
    rows = _item_rows(project, runs)
    return ResultsPage(
        task=task, fits=fits, rows=rows[:ITEM_LIMIT], n_items=len(rows),
        distributions=criterion_distributions(project=project, task=task),
        criteria=_criteria_summary(task, runs),
        span_categories=_category_summary(task, runs[FitKind.DAWID_SKENE]))


def _item_rows(project: Project, runs: dict[str, FitRun | None]) -> list[ItemRow]:
    annotations = Annotation.objects.filter(USABLE_ANNOTATION, project=project)
    counts = {row["item_id"]: row for row in annotations.values("item_id").annotate(
        n=Count("id"), missing=Count("id", filter=Q(missing=True)))}
    span_counts = dict(Span.objects.filter(annotation__in=annotations)
                       .values_list("annotation__item_id").annotate(n=Count("id")))
    raw = _raw_means(project, annotations)
    facets = _scores(runs[FitKind.FACETS])
    agreement = _scores(runs[FitKind.DAWID_SKENE])
    rows = []
    for item in Item.objects.filter(project=project).order_by("id"):
        details = facets.get(item.pk, {})
        rows.append(ItemRow(
            item=item, n=counts.get(item.pk, {}).get("n", 0), raw_mean=raw.get(item.pk),
            corrected=details.get("corrected"), low=details.get("low"),
            high=details.get("high"), span_f1=agreement.get(item.pk, {}).get("span_f1"),
            spans=span_counts.get(item.pk, 0),
            missing=counts.get(item.pk, {}).get("missing", 0)))
    return sorted(rows, key=lambda row: (row.corrected is None, -(row.corrected or 0),
                                         row.raw_mean is None, -(row.raw_mean or 0),
                                         row.item.pk))


def _raw_means(project: Project, annotations: Any) -> dict[int, float]:
    """Mean rating per item over the attributes (or the overall rating without any)."""
    ratings = (Rating.objects.filter(annotation__in=annotations)
               .values("annotation__item_id").annotate(mean=Avg("value")))
    means = {row["annotation__item_id"]: row["mean"] for row in ratings}
    if means:
        return means
    overall = (annotations.filter(overall_rating__isnull=False).values("item_id")
               .annotate(mean=Avg("overall_rating")))
    return {row["item_id"]: row["mean"] for row in overall}


def _scores(run: FitRun | None) -> dict[int, dict[str, Any]]:
    if run is None:
        return {}
    return dict(run.item_scores.values_list("item_id", "details"))


def criterion_distributions(*, project: Project, task: FineGrainedTask,
                            item: Item | None = None) -> list[Distribution]:
    """Per attribute (and the overall rating): how often each level was chosen."""
    annotations = Annotation.objects.filter(USABLE_ANNOTATION, project=project)
    if item is not None:
        annotations = annotations.filter(item=item)
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    for attribute_id, value, n in (Rating.objects.filter(annotation__in=annotations)
                                   .values_list("attribute_id", "value")
                                   .annotate(n=Count("id"))):
        counts[attribute_id][value] = n
    result = [_distribution(f"attribute:{a.pk}", a.name, range(a.scale_low, a.scale_high + 1),
                            counts[a.pk]) for a in task.attributes]
    if task.has_overall:
        overall = dict(annotations.filter(overall_rating__isnull=False)
                       .values_list("overall_rating").annotate(n=Count("id")))
        config = task.config
        result.append(_distribution(OVERALL, "Overall",
                                    range(config.overall_low, config.overall_high + 1), overall))
    return result


def _distribution(key: str, name: str, values: range, counts: dict[int, int]) -> Distribution:
    total = sum(counts.values())
    bars = [(value, counts.get(value, 0), 100.0 * counts.get(value, 0) / total if total else 0.0)
            for value in values]
    mean = sum(value * n for value, n in counts.items()) / total if total else None
    return Distribution(key, name, bars, total, mean)


def _criteria_summary(task: FineGrainedTask, runs: dict[str, FitRun | None]
                      ) -> list[dict[str, Any]]:
    facets = {row["key"]: row for row in (runs[FitKind.FACETS].metrics.get("criteria", [])
                                          if runs[FitKind.FACETS] else [])}
    alpha = {row["key"]: row for row in (runs[FitKind.DAWID_SKENE].metrics.get("alpha", [])
                                         if runs[FitKind.DAWID_SKENE] else [])}
    keys = [(f"attribute:{a.pk}", a.name) for a in task.attributes]
    if task.has_overall:
        keys.append((OVERALL, "Overall"))
    return [{"key": key, "name": name, "facets": facets.get(key), "alpha": alpha.get(key)}
            for key, name in keys]


def _category_summary(task: FineGrainedTask, run: FitRun | None) -> list[dict[str, Any]]:
    agreement = (run.metrics.get("span_agreement") or {}) if run else {}
    f1 = {row["id"]: row["f1"] for row in agreement.get("categories", [])}
    return [{"category": category, "f1": f1.get(category.pk)} for category in task.categories]


# --- one item -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeatSegment:
    text: str
    level: int  # 0 (nobody) .. HEAT_LEVELS (every rater)
    raters: int
    categories: str  # "Hallucination 2, Style 1"


@dataclass
class ItemPage:
    item: Item
    task: FineGrainedTask
    n_raters: int
    heat: list[HeatSegment]
    category: Any  # the SpanCategory the heat-map shows, or None for all
    distributions: list[Distribution]
    scores: dict[str, Any] | None  # facets details of the item
    consensus: dict[str, Any] | None  # Dawid-Skene details of the item
    annotations: list[Annotation]


def fine_item_page(*, project: Project, item: Item, category_id: str | None) -> ItemPage:
    task = fine_grained_task(project)
    category = next((c for c in task.categories if str(c.pk) == category_id), None)
    annotations = list(Annotation.objects.filter(USABLE_ANNOTATION, project=project, item=item)
                       .select_related("rater").prefetch_related("ratings__attribute",
                                                                 "spans__category")
                       .order_by("id"))
    for annotation in annotations:
        for span in annotation.spans.all():
            span.quote = item.content[span.start:span.end]  # shown next to the span
    runs = fine_grained_current_runs(project=project)
    return ItemPage(
        item=item, task=task, n_raters=len(annotations),
        heat=span_heat(item.content, annotations, category=category), category=category,
        distributions=criterion_distributions(project=project, task=task, item=item),
        scores=_scores(runs[FitKind.FACETS]).get(item.pk),
        consensus=_scores(runs[FitKind.DAWID_SKENE]).get(item.pk), annotations=annotations)


def span_heat(text: str, annotations: list[Annotation], *, category: Any = None
              ) -> list[HeatSegment]:
    """Split ``text`` where the set of raters covering a character changes: each segment
    says how many raters marked it (with ``category``, or with any category)."""
    edges = {0, len(text)}
    marks: list[tuple[int, int, int, str]] = []  # start, end, rater, category name
    for annotation in annotations:
        for span in annotation.spans.all():
            if category is None or span.category_id == category.pk:
                marks.append((span.start, span.end, annotation.rater_id, span.category.name))
                edges.update((span.start, span.end))
    bounds = sorted(edge for edge in edges if 0 <= edge <= len(text))
    n_raters = max(len(annotations), 1)
    segments = []
    for start, end in itertools.pairwise(bounds):
        covering = [(rater, name) for a, b, rater, name in marks if a < end and b > start]
        raters = len({rater for rater, _name in covering})
        by_name: dict[str, set[int]] = defaultdict(set)
        for rater, name in covering:
            by_name[name].add(rater)
        level = 0 if raters == 0 else max(1, round(HEAT_LEVELS * raters / n_raters))
        segments.append(HeatSegment(text[start:end], level, raters, ", ".join(
            f"{name} {len(who)}" for name, who in sorted(by_name.items()))))
    return segments


# --- raters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaterRow:
    rater: Any
    annotations: int
    skipped: int
    active_total: float
    active_mean: float | None
    facets: dict[str, Any] | None
    flagged: bool
    consensus: dict[str, Any] | None  # Dawid-Skene details: ratings / spans
    confusion: list[tuple[Any, list[float | None]]]  # (consensus level, row) of the ratings


@dataclass
class RatersPage:
    rows: list[RaterRow]
    fits: dict[str, FitState]
    fit_bounds: tuple[float, float]
    rating_classes: list[Any]


def fine_raters_page(*, project: Project) -> RatersPage:
    runs = fine_grained_current_runs(project=project)
    facets = _rater_scores(runs[FitKind.FACETS])
    consensus = _rater_scores(runs[FitKind.DAWID_SKENE])
    activity = (Annotation.objects.filter(project=project).values("rater_id").annotate(
        n=Count("id", filter=Q(skipped=False)), skipped=Count("id", filter=Q(skipped=True)),
        active=Sum("active_seconds")))
    users = get_user_model().objects.in_bulk([row["rater_id"] for row in activity])
    facets_run, ds_run = runs[FitKind.FACETS], runs[FitKind.DAWID_SKENE]
    classes = ((ds_run.metrics.get("ratings") or {}).get("classes", []) if ds_run else [])
    rows = [RaterRow(
        rater=users[row["rater_id"]], annotations=row["n"], skipped=row["skipped"],
        active_total=row["active"] or 0.0,
        active_mean=(row["active"] or 0.0) / (row["n"] + row["skipped"]),
        facets=facets.get(row["rater_id"], (None, False))[0],
        flagged=facets.get(row["rater_id"], (None, False))[1],
        consensus=consensus.get(row["rater_id"], (None, False))[0],
        confusion=_confusion(classes, consensus.get(row["rater_id"], (None, False))[0]))
        for row in activity]
    rows.sort(key=lambda row: (not row.flagged, row.rater.get_username()))
    bounds = tuple(facets_run.metrics.get("fit_bounds", (0.5, 1.5))) if facets_run \
        else (0.5, 1.5)
    return RatersPage(rows=rows, fits={kind: FitState(runs[kind], fit_staleness(
        project=project, kind=kind, current=runs[kind])) for kind in FINE_GRAINED_FIT_KINDS},
        fit_bounds=bounds, rating_classes=classes)


def _rater_scores(run: FitRun | None) -> dict[int, tuple[dict[str, Any], bool]]:
    if run is None:
        return {}
    return {rater_id: (details, flagged) for rater_id, details, flagged in
            run.rater_scores.values_list("rater_id", "details", "flagged")}


def _confusion(classes: list[Any], details: dict[str, Any] | None
               ) -> list[tuple[Any, list[float | None]]]:
    ratings = (details or {}).get("ratings")
    if not ratings:
        return []
    return list(zip(classes, ratings["confusion"], strict=False))
