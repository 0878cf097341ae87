"""What the Bradley-Terry fit reads: the live judgments up to a data version, in the long
layout of :class:`modeling.reports.types.PairwiseJudgments`."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from annotations.models import (
    FitRun,
    FitStatus,
    Item,
    Membership,
    Outcome,
    PairwiseJudgment,
    Project,
    ReviewVerdict,
)
from modeling.reports.types import ItemInfo, PairwiseJudgments

# Judgments a fit uses: not undone, not skipped, not rejected by a reviewer, and not by a
# rater the lead excluded from fits (their judgments are kept, just not used).
_EXCLUDED_RATER = Membership.objects.filter(project_id=OuterRef("project_id"),
                                            user_id=OuterRef("rater_id"),
                                            excluded_from_fits=True)
LIVE_JUDGMENT = (Q(undone_at__isnull=True) & ~Q(outcome=Outcome.SKIP)
                 & ~Q(review__verdict=ReviewVerdict.REJECTED) & ~Exists(_EXCLUDED_RATER))

# "Both bad" is a tie: neither response is better, all a pairwise model can use.
OUTCOME_LABEL = {Outcome.LEFT: 1, Outcome.RIGHT: -1, Outcome.TIE: 0, Outcome.BOTH_BAD: 0}


def fit_pairwise_judgments(*, project: Project, data_version: int) -> PairwiseJudgments:
    """Live judgments up to ``data_version`` (sides as shown) and every item's name, group
    and source."""
    judgments = PairwiseJudgment.objects.filter(project=project, id__lte=data_version)
    rows = (judgments.filter(LIVE_JUDGMENT).order_by("id")
            .values_list("left_item_id", "right_item_id", "outcome", "rater_id"))
    worker: list[int] = []
    left: list[int] = []
    right: list[int] = []
    label: list[int] = []
    for left_id, right_id, outcome, rater_id in rows.iterator(chunk_size=10_000):
        left.append(left_id)
        right.append(right_id)
        label.append(OUTCOME_LABEL[outcome])
        worker.append(rater_id)
    items = Item.objects.filter(project=project).values_list("id", "external_id", "group",
                                                             "source")
    return PairwiseJudgments(
        worker=worker, left=left, right=right, label=label,
        items={pk: ItemInfo(external_id, group, source)
               for pk, external_id, group, source in items.iterator(chunk_size=10_000)},
        skipped=judgments.count() - len(left))


def fit_run_last_evaluated(*, project: Project, kind: str) -> FitRun | None:
    """The newest succeeded run that carries a cross-validated evaluation."""
    return (FitRun.objects.filter(project=project, kind=kind, status=FitStatus.SUCCEEDED,
                                  metrics__has_key="evaluated_on")
            .order_by("-data_version").first())
