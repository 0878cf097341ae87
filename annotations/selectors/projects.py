"""Reads for project lists and the lead's project page."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum

from annotations.access import ROLE_CAPABILITIES, Capability, is_admin
from annotations.models import Item, Membership, Outcome, PairwiseJudgment, Project

LIVE = Q(undone_at__isnull=True)


@dataclass(frozen=True)
class ProjectRow:
    project: Project
    role: str  # "admin" for an administrator who is not a member
    status: str
    done: int  # pairs this user has answered (skips included)
    total: int  # pairs this user could answer

    @property
    def can_annotate(self) -> bool:
        return self.role == "admin" or Capability.ANNOTATE in ROLE_CAPABILITIES[self.role]

    @property
    def can_view(self) -> bool:
        return self.role == "admin" or Capability.VIEW in ROLE_CAPABILITIES[self.role]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass(frozen=True)
class SourceRecord:
    source: str
    wins: int
    losses: int
    ties: int

    @property
    def win_rate(self) -> float | None:
        decided = self.wins + self.losses + self.ties
        return (self.wins + 0.5 * self.ties) / decided if decided else None


@dataclass(frozen=True)
class ProjectSummary:
    items: int
    groups: int
    pairs: int
    judgments: int
    skips: int
    per_rater: list[tuple[str, int, float]]  # username, judgments, median active seconds
    per_source: list[SourceRecord]


def project_list_for_user(user: AbstractBaseUser) -> list[ProjectRow]:
    memberships = {m.project_id: m for m in Membership.objects.filter(user=user)}
    projects: QuerySet[Project] = (Project.objects.all() if is_admin(user)
                                   else Project.objects.filter(pk__in=memberships))
    projects = list(projects.order_by("name"))
    ids = [project.pk for project in projects]
    done = _pairs_answered(user, ids)
    totals = _pair_totals(ids)
    return [ProjectRow(project=project,
                       role=memberships[project.pk].role if project.pk in memberships else "admin",
                       status=memberships[project.pk].status if project.pk in memberships
                       else "active",
                       done=done.get(project.pk, 0), total=totals.get(project.pk, 0))
            for project in projects]


def rater_pair_progress(*, project: Project, rater: AbstractBaseUser) -> tuple[int, int]:
    """(pairs this rater has answered, pairs in the project), as on the project list."""
    return (_pairs_answered(rater, [project.pk]).get(project.pk, 0),
            _pair_totals([project.pk]).get(project.pk, 0))


def _pairs_answered(rater: AbstractBaseUser, project_ids: list[int]) -> dict[int, int]:
    return dict(PairwiseJudgment.objects.filter(LIVE, rater=rater, project_id__in=project_ids)
                .values_list("project").annotate(n=Count("id")))


def _pair_totals(project_ids: list[int]) -> dict[int, int]:
    """Pairs within groups, per project: sum over groups of n (n - 1) / 2."""
    totals: dict[int, int] = defaultdict(int)
    group_sizes = (Item.objects.filter(project_id__in=project_ids)
                   .values_list("project", "group").annotate(n=Count("id")))
    for project_id, _group, size in group_sizes:
        totals[project_id] += size * (size - 1) // 2
    return totals


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username")


def project_summary(project: Project) -> ProjectSummary:
    judgments = PairwiseJudgment.objects.filter(LIVE, project=project)
    group_sizes = list(Item.objects.filter(project=project).values("group")
                       .annotate(n=Count("id")).values_list("n", flat=True))
    return ProjectSummary(
        items=sum(group_sizes),
        groups=len(group_sizes),
        pairs=sum(size * (size - 1) // 2 for size in group_sizes),
        judgments=judgments.exclude(outcome=Outcome.SKIP).count(),
        skips=judgments.filter(outcome=Outcome.SKIP).count(),
        per_rater=_per_rater(judgments),
        per_source=_per_source(judgments),
    )


def _per_rater(judgments: QuerySet[PairwiseJudgment]) -> list[tuple[str, int, float]]:
    rows = (judgments.exclude(outcome=Outcome.SKIP).values("rater__username")
            .annotate(n=Count("id"), active=Sum("active_seconds")).order_by("-n"))
    return [(row["rater__username"], row["n"], row["active"] / row["n"]) for row in rows]


def _per_source(judgments: QuerySet[PairwiseJudgment]) -> list[SourceRecord]:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    rows = (judgments.exclude(outcome=Outcome.SKIP)
            .values_list("outcome", "left_item__source", "right_item__source")
            .annotate(n=Count("id")))
    for outcome, left_source, right_source, n in rows:
        for source, wins_if in ((left_source, Outcome.LEFT), (right_source, Outcome.RIGHT)):
            if outcome == wins_if:
                tally[source]["wins"] += n
            elif outcome in PREFERENCE_OUTCOMES:
                tally[source]["losses"] += n
            else:
                tally[source]["ties"] += n
    records = [SourceRecord(source, counts["wins"], counts["losses"], counts["ties"])
               for source, counts in tally.items()]
    return sorted(records, key=lambda record: (-(record.win_rate or 0), record.source))


PREFERENCE_OUTCOMES = (Outcome.LEFT, Outcome.RIGHT)
