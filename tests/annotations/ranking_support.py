"""Helpers for the ranking tests: a project that serves rankings, and ranking raters."""

from __future__ import annotations

from annotations.models import Item, Project, RankingAssignment, Role
from annotations.services.audit import Actor
from annotations.services.ranking_config import RankingSettings, project_ranking_configure
from annotations.services.rankings import (
    RankingInput,
    RankingResult,
    ranking_assignment_lease,
    ranking_submit,
)
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory


def ranking_project(*, groups: dict[str, int], size: int = 4, overlap: int = 3,
                    mode: str = "alongside", sources: tuple[str, ...] = ("model-a", "model-b",
                                                                        "model-c", "model-d",
                                                                        "model-e", "model-f"),
                    **fields: object) -> Project:
    """A pairwise project with ``groups`` (name -> number of items) and rankings on."""
    project = ProjectFactory(**fields)
    for group, count in groups.items():
        for index in range(count):
            ItemFactory(project=project, group=group, source=sources[index % len(sources)],
                        prompt=f"Prompt of {group}", content=f"{group} response {index}")
    lead = UserFactory(username=f"lead-of-{project.pk}")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    return project_ranking_configure(actor=Actor(user=lead), project=project,
                                     settings=RankingSettings(mode, size, overlap))


def rater_in(project: Project, name: str):
    user = UserFactory(username=name)
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


def rank_by(assignment: RankingAssignment, score) -> RankingResult:
    """Submit the lease's items ordered by ``score(item)`` (highest first)."""
    items = Item.objects.in_bulk(assignment.shown_order)
    order = sorted(assignment.shown_order, key=lambda item_id: -score(items[item_id]))
    return ranking_submit(assignment=assignment, answer=RankingInput(order=tuple(order)))


def lease_and_rank_as_shown(project: Project, rater) -> RankingResult:
    lease = ranking_assignment_lease(project=project, rater=rater)
    assert lease is not None
    return ranking_submit(assignment=lease,
                          answer=RankingInput(order=tuple(lease.shown_order)))
