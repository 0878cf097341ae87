"""Reads for project lists and the lead's project page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum

from annotations.access import (
    ROLE_CAPABILITIES,
    Capability,
    RaterNotActive,
    RaterSuspended,
    is_admin,
)
from annotations.models import (
    Annotation,
    Item,
    Membership,
    MembershipStatus,
    Outcome,
    PairwiseJudgment,
    Project,
    Ranking,
    RankingTask,
    RaterState,
    RaterStatus,
)
from annotations.selectors.rankings import ranking_progress_by_project
from annotations.selectors.sources import SourceTally, source_tally

LIVE = Q(undone_at__isnull=True)


@dataclass(frozen=True)
class Progress:
    """How much of a project's work one rater has answered (skips included)."""

    done: int
    total: int
    noun: str  # "pairs" or "items"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass(frozen=True)
class ProjectRow:
    project: Project
    role: str  # "admin" for an administrator who is not a member
    status: str
    pairs: Progress | None  # None: the project has no pairwise task
    items: Progress | None  # None: the project has no fine-grained task
    rankings: Progress | None = None  # None: the project serves no ranking tasks
    refusal: str = ""  # why this rater cannot work now (paused, blocked here or everywhere)

    @property
    def can_annotate(self) -> bool:
        return self.role == "admin" or Capability.ANNOTATE in ROLE_CAPABILITIES[self.role]

    @property
    def can_view(self) -> bool:
        return self.role == "admin" or Capability.VIEW in ROLE_CAPABILITIES[self.role]

    @property
    def done(self) -> int:
        return self.pairs.done if self.pairs else 0

    @property
    def total(self) -> int:
        return self.pairs.total if self.pairs else 0


@dataclass(frozen=True)
class RaterActivity:
    username: str
    count: int
    mean_active_seconds: float


@dataclass(frozen=True)
class ProjectSummary:
    items: int
    groups: int
    pairs: int
    judgments: int
    skips: int
    per_rater: list[RaterActivity]  # pairwise judgments, skips left out
    sources: SourceTally | None  # None: the project has no pairwise task
    annotations: int = 0  # fine-grained, skips left out
    annotation_skips: int = 0
    annotated_items: int = 0
    per_annotator: list[RaterActivity] | None = None  # None: no fine-grained task
    rankings: int = 0  # live, skips left out
    ranking_skips: int = 0
    ranking_tasks: int = 0
    per_ranker: list[RaterActivity] | None = None  # None: no ranking tasks served or done


def project_list_for_user(user: AbstractBaseUser) -> list[ProjectRow]:
    memberships = {m.project_id: m for m in Membership.objects.filter(user=user)}
    projects: QuerySet[Project] = (Project.objects.all() if is_admin(user)
                                   else Project.objects.filter(pk__in=memberships))
    projects = list(projects.order_by("name"))
    ids = [project.pk for project in projects]
    pairs_done, pair_totals = _pairs_answered(user, ids), _pair_totals(ids)
    items_done, item_totals = _items_answered(user, ids), _item_totals(ids)
    rankings = ranking_progress_by_project(rater=user, project_ids=ids)
    suspension = _global_refusal(user)
    rows = []
    for project in projects:
        membership = memberships.get(project.pk)
        rows.append(ProjectRow(
            project=project, role=membership.role if membership else "admin",
            status=membership.status if membership else "active",
            pairs=(Progress(pairs_done.get(project.pk, 0), pair_totals.get(project.pk, 0),
                            "pairs") if project.serves_pairs else None),
            items=(Progress(items_done.get(project.pk, 0), item_totals.get(project.pk, 0),
                            "items") if project.is_fine_grained else None),
            rankings=(Progress(*rankings.get(project.pk, (0, 0)), "ranking tasks")
                      if project.serves_rankings else None),
            refusal=_membership_refusal(membership) or suspension))
    return rows


def rater_pair_progress(*, project: Project, rater: AbstractBaseUser) -> tuple[int, int]:
    """(pairs this rater has answered, pairs in the project), as on the project list."""
    return (_pairs_answered(rater, [project.pk]).get(project.pk, 0),
            _pair_totals([project.pk]).get(project.pk, 0))


def rater_item_progress(*, project: Project, rater: AbstractBaseUser) -> Progress:
    """Items this rater has annotated or skipped, of the project's items."""
    return Progress(_items_answered(rater, [project.pk]).get(project.pk, 0),
                    _item_totals([project.pk]).get(project.pk, 0), "items")


def _membership_refusal(membership: Membership | None) -> str:
    if membership is None or membership.status == MembershipStatus.ACTIVE:
        return ""
    return str(RaterNotActive(membership))


def _global_refusal(user: AbstractBaseUser) -> str:
    rater_status = RaterStatus.objects.filter(user_id=user.pk).first()
    if rater_status is None or rater_status.status == RaterState.ACTIVE:
        return ""
    return str(RaterSuspended(rater_status))


def _pairs_answered(rater: AbstractBaseUser, project_ids: list[int]) -> dict[int, int]:
    return dict(PairwiseJudgment.objects.filter(LIVE, rater=rater, project_id__in=project_ids)
                .values_list("project").annotate(n=Count("id")).order_by())


def _pair_totals(project_ids: list[int]) -> dict[int, int]:
    """Pairs within groups, per project: sum over groups of n (n - 1) / 2."""
    totals: dict[int, int] = defaultdict(int)
    group_sizes = (Item.objects.filter(project_id__in=project_ids)
                   .values_list("project", "group").annotate(n=Count("id")).order_by())
    for project_id, _group, size in group_sizes:
        totals[project_id] += size * (size - 1) // 2
    return totals


def _items_answered(rater: AbstractBaseUser, project_ids: list[int]) -> dict[int, int]:
    return dict(Annotation.objects.filter(rater=rater, project_id__in=project_ids)
                .values_list("project").annotate(n=Count("id")).order_by())


def _item_totals(project_ids: list[int]) -> dict[int, int]:
    return dict(Item.objects.filter(project_id__in=project_ids).values_list("project")
                .annotate(n=Count("id")).order_by())


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username")


def project_summary(project: Project) -> ProjectSummary:
    group_sizes = list(Item.objects.filter(project=project).values("group")
                       .annotate(n=Count("id")).values_list("n", flat=True).order_by())
    summary = ProjectSummary(
        items=sum(group_sizes), groups=len(group_sizes),
        pairs=sum(size * (size - 1) // 2 for size in group_sizes),
        judgments=0, skips=0, per_rater=[], sources=None)
    if project.is_pairwise:
        summary = _with_pairwise(summary, project)
    if project.is_fine_grained:
        summary = _with_fine_grained(summary, project)
    if project.is_pairwise and (project.serves_rankings or project.rankings.exists()):
        summary = _with_rankings(summary, project)
    return summary


def _with_rankings(summary: ProjectSummary, project: Project) -> ProjectSummary:
    rankings = Ranking.objects.filter(project=project, undone_at__isnull=True)
    kept = rankings.filter(skipped=False)
    return ProjectSummary(**{
        **summary.__dict__,
        "rankings": kept.count(), "ranking_skips": rankings.filter(skipped=True).count(),
        "ranking_tasks": RankingTask.objects.filter(project=project, active=True).count(),
        "per_ranker": _activity(kept)})


def _with_pairwise(summary: ProjectSummary, project: Project) -> ProjectSummary:
    judgments = PairwiseJudgment.objects.filter(LIVE, project=project)
    return ProjectSummary(**{
        **summary.__dict__,
        "judgments": judgments.exclude(outcome=Outcome.SKIP).count(),
        "skips": judgments.filter(outcome=Outcome.SKIP).count(),
        "per_rater": _activity(judgments.exclude(outcome=Outcome.SKIP)),
        "sources": source_tally(project=project)})


def _with_fine_grained(summary: ProjectSummary, project: Project) -> ProjectSummary:
    annotations = Annotation.objects.filter(project=project)
    kept = annotations.filter(skipped=False)
    return ProjectSummary(**{
        **summary.__dict__,
        "annotations": kept.count(), "annotation_skips": annotations.filter(skipped=True).count(),
        "annotated_items": kept.values("item").distinct().count(),
        "per_annotator": _activity(kept)})


def _activity(rows: QuerySet) -> list[RaterActivity]:
    tallies = (rows.values("rater__username").annotate(n=Count("id"), active=Sum("active_seconds"))
               .order_by("-n", "rater__username"))
    return [RaterActivity(row["rater__username"], row["n"], row["active"] / row["n"])
            for row in tallies]


def guideline_version_used(project: Project) -> bool:
    """Whether any work was recorded under the project's current guideline version; until
    then a change of the task amends that version instead of starting a new one."""
    version = project.guideline_version
    return any(rows.objects.filter(project=project, guideline_version=version).exists()
               for rows in (PairwiseJudgment, Annotation, Ranking))


def guidelines_new_to(*, project: Project, rater: AbstractBaseUser) -> bool:
    """True until the rater has worked under the current guideline version: their task
    page then shows the instructions open."""
    version = project.guideline_version
    return not any(rows.objects.filter(project=project, rater=rater,
                                       guideline_version=version).exists()
                   for rows in (PairwiseJudgment, Annotation, Ranking))
