"""What the fine-grained fits read (their kinds: annotations/fit_kinds/facets.py and
dawid_skene.py).

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

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from annotations.models import (
    Annotation,
    FitKind,
    Membership,
    Project,
    Rating,
    Span,
)
from annotations.selectors.fine_grained import fine_grained_task
from modeling.reports.types import Annotations, Criterion

OVERALL = "overall"
FINE_GRAINED_FIT_KINDS = (FitKind.FACETS, FitKind.DAWID_SKENE)

_EXCLUDED_RATER = Membership.objects.filter(project_id=OuterRef("project_id"),
                                            user_id=OuterRef("rater_id"),
                                            excluded_from_fits=True)
USABLE_ANNOTATION = Q(skipped=False) & ~Exists(_EXCLUDED_RATER)


def fine_grained_annotations(*, project: Project, data_version: int) -> Annotations:
    """Usable annotations up to ``data_version`` with their ratings (attributes, and the
    overall rating) and spans, in the long layout the fine-grained reports read."""
    criteria = _criteria(project)
    categories = tuple((category.pk, category.name)
                       for category in fine_grained_task(project).categories)
    annotations = (Annotation.objects.filter(USABLE_ANNOTATION, project=project,
                                             id__lte=data_version)
                   .order_by("id").values_list("id", "item_id", "rater_id", "overall_rating"))
    index: dict[int, int] = {}
    rows: list[tuple[int, int, int]] = []
    ratings = _Ratings()
    overall = next((k for k, c in enumerate(criteria) if c.key == OVERALL), None)
    for annotation_id, item_id, rater_id, overall_rating in annotations.iterator(2000):
        index[annotation_id] = len(rows)
        rows.append((annotation_id, item_id, rater_id))
        if overall is not None and overall_rating is not None:
            ratings.add(index[annotation_id], overall, overall_rating)
    criterion_of = {c.key: k for k, c in enumerate(criteria)}
    values = (Rating.objects.filter(annotation_id__in=index)
              .values_list("annotation_id", "attribute_id", "value"))
    for annotation_id, attribute_id, value in values.iterator(5000):
        criterion = criterion_of.get(f"attribute:{attribute_id}")
        if criterion is not None:
            ratings.add(index[annotation_id], criterion, value)
    category_of = {pk: k for k, (pk, _name) in enumerate(categories)}
    spans = (Span.objects.filter(annotation_id__in=index)
             .values_list("annotation_id", "start", "end", "category_id"))
    return Annotations(
        criteria=tuple(criteria), categories=categories, annotations=tuple(rows),
        rating_annotation=tuple(ratings.annotation), rating_criterion=tuple(ratings.criterion),
        rating_label=tuple(ratings.label),
        spans=tuple((index[a], start, end, category_of[c])
                    for a, start, end, c in spans.iterator(5000) if c in category_of))


@dataclass
class _Ratings:
    annotation: list[int] = field(default_factory=list)
    criterion: list[int] = field(default_factory=list)
    label: list[int] = field(default_factory=list)

    def add(self, annotation: int, criterion: int, value: int) -> None:
        self.annotation.append(annotation)
        self.criterion.append(criterion)
        self.label.append(value)


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
