"""What the fine-grained fits read, and their registration with the fit-run framework.

Two kinds of fit read annotations (their ids are the data version):

* ``facets`` (many-facet Rasch; facets item, rater, criterion): the ratings of every rating
  attribute, plus the overall rating when it is on the attributes' scale (or when there are
  no attributes). Gives rater severity and infit/outfit, criterion difficulty and
  severity-corrected item scores with intervals.
* ``dawid_skene``: the same ratings treated as categories, one task per (item, criterion),
  one full confusion matrix per rater over the scale's levels; and whether each rater
  marked each span category in each item (a yes/no task per (item, category): the
  confusion matrix gives each rater's sensitivity and specificity in spotting a kind of
  problem). The run also records Krippendorff's alpha per criterion (ordinal) and span
  agreement (pairwise character-level F1 per item).

Annotations count as data when they are not skipped and their rater is not excluded from
fits by the lead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q

from annotations.models import (
    Annotation,
    FitKind,
    FitRun,
    Membership,
    Project,
    Rating,
    Span,
)
from annotations.selectors.fine_grained import fine_grained_task, is_fine_grained
from annotations.selectors.fits import FitKindSpec, fit_kind_register

OVERALL = "overall"
FINE_GRAINED_FIT_KINDS = (FitKind.FACETS, FitKind.DAWID_SKENE)

_EXCLUDED_RATER = Membership.objects.filter(project_id=OuterRef("project_id"),
                                            user_id=OuterRef("rater_id"),
                                            excluded_from_fits=True)
USABLE_ANNOTATION = Q(skipped=False) & ~Exists(_EXCLUDED_RATER)


@dataclass(frozen=True)
class Criterion:
    key: str  # "attribute:<id>" or "overall"
    name: str
    low: int
    high: int
    modelled: bool  # on the common scale the facets and Dawid-Skene fits use


@dataclass
class FineGrainedFitData:
    """Usable annotations up to a data version, as plain lists (the task makes arrays)."""

    criteria: list[Criterion] = field(default_factory=list)
    categories: list[tuple[int, str]] = field(default_factory=list)  # (id, name)
    annotations: list[tuple[int, int, int]] = field(default_factory=list)  # (id, item, rater)
    # one entry per rating: annotation index, criterion index, value
    rating_annotation: list[int] = field(default_factory=list)
    rating_criterion: list[int] = field(default_factory=list)
    rating_value: list[int] = field(default_factory=list)
    # one entry per span: annotation index, start, end, category index
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def scale(self) -> tuple[int, int] | None:
        modelled = [c for c in self.criteria if c.modelled]
        return (modelled[0].low, modelled[0].high) if modelled else None


def fine_grained_fit_data(*, project: Project, data_version: int) -> FineGrainedFitData:
    data = FineGrainedFitData(criteria=_criteria(project))
    task = fine_grained_task(project)
    data.categories = [(category.pk, category.name) for category in task.categories]
    annotations = (Annotation.objects.filter(USABLE_ANNOTATION, project=project,
                                             id__lte=data_version)
                   .order_by("id").values_list("id", "item_id", "rater_id", "overall_rating"))
    index: dict[int, int] = {}
    overall = next((k for k, c in enumerate(data.criteria) if c.key == OVERALL), None)
    for annotation_id, item_id, rater_id, overall_rating in annotations.iterator(2000):
        index[annotation_id] = len(data.annotations)
        data.annotations.append((annotation_id, item_id, rater_id))
        if overall is not None and overall_rating is not None:
            _add_rating(data, index[annotation_id], overall, overall_rating)
    criterion_of = {c.key: k for k, c in enumerate(data.criteria)}
    ratings = (Rating.objects.filter(annotation_id__in=index)
               .values_list("annotation_id", "attribute_id", "value"))
    for annotation_id, attribute_id, value in ratings.iterator(5000):
        criterion = criterion_of.get(f"attribute:{attribute_id}")
        if criterion is not None:
            _add_rating(data, index[annotation_id], criterion, value)
    category_of = {pk: k for k, (pk, _name) in enumerate(data.categories)}
    spans = (Span.objects.filter(annotation_id__in=index)
             .values_list("annotation_id", "start", "end", "category_id"))
    data.spans = [(index[a], start, end, category_of[c])
                  for a, start, end, c in spans.iterator(5000) if c in category_of]
    return data


def _add_rating(data: FineGrainedFitData, annotation: int, criterion: int, value: int) -> None:
    data.rating_annotation.append(annotation)
    data.rating_criterion.append(criterion)
    data.rating_value.append(value)


def _criteria(project: Project) -> list[Criterion]:
    task = fine_grained_task(project)
    criteria = [Criterion(f"attribute:{a.pk}", a.name, a.scale_low, a.scale_high, True)
                for a in task.attributes]
    if task.has_overall:
        config = task.config
        scale = (criteria[0].low, criteria[0].high) if criteria else None
        on_scale = scale is None or scale == (config.overall_low, config.overall_high)
        criteria.append(Criterion(OVERALL, "Overall", config.overall_low, config.overall_high,
                                  on_scale))
    return criteria


def fine_grained_current_runs(*, project: Project) -> dict[str, FitRun | None]:
    """The runs the results pages show: the succeeded run on the newest data, per kind."""
    from annotations.selectors.fits import fit_run_current

    return {kind: fit_run_current(project=project, kind=kind)
            for kind in FINE_GRAINED_FIT_KINDS}


# --- options and registration --------------------------------------------------------------

FACETS_DEFAULTS: dict[str, Any] = {"form": "rating-scale", "fit_bounds": [0.5, 1.5],
                                   "device": "auto"}
DAWID_SKENE_DEFAULTS: dict[str, Any] = {"smoothing": 0.01, "device": "auto"}


def facets_options(given: Mapping[str, Any]) -> dict[str, Any]:
    options = _merged(FACETS_DEFAULTS, given)
    if options["form"] not in ("rating-scale", "partial-credit"):
        raise ValueError("form must be 'rating-scale' or 'partial-credit'.")
    bounds = options["fit_bounds"]
    if (not isinstance(bounds, list | tuple) or len(bounds) != 2
            or not all(_number(b) and b > 0 for b in bounds) or not bounds[0] < bounds[1]):
        raise ValueError("fit_bounds must be two numbers 0 < low < high, e.g. [0.5, 1.5].")
    options["fit_bounds"] = [float(bounds[0]), float(bounds[1])]
    return options


def dawid_skene_options(given: Mapping[str, Any]) -> dict[str, Any]:
    options = _merged(DAWID_SKENE_DEFAULTS, given)
    if not _number(options["smoothing"]) or options["smoothing"] < 0:
        raise ValueError("smoothing must be a number >= 0.")
    options["smoothing"] = float(options["smoothing"])
    return options


def _merged(defaults: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(defaults)}.")
    options = {**defaults, **given}
    if options["device"] not in ("auto", "cpu", "cuda"):
        raise ValueError("device must be 'auto', 'cpu' or 'cuda'.")
    return options


def _number(value: object) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


fit_kind_register(FitKindSpec(
    kind=FitKind.FACETS, data_model=Annotation, usable=USABLE_ANNOTATION,
    noun="fine-grained annotations", check_options=facets_options,
    applies_to=is_fine_grained))
fit_kind_register(FitKindSpec(
    kind=FitKind.DAWID_SKENE, data_model=Annotation, usable=USABLE_ANNOTATION,
    noun="fine-grained annotations", check_options=dawid_skene_options,
    applies_to=is_fine_grained))
