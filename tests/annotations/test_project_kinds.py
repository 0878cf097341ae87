"""Every page and action follows the project's kind (pairwise, fine-grained or both).

``TASK_OF`` says which task each project URL belongs to (``None``: every kind has it). A
project whose kind lacks the task answers 404 for GET and POST and writes nothing, for its
lead and for an administrator; the pages it has answer as the permission matrix says. The
services refuse the same work whichever interface calls them (the JSON API included), and
the project page and the project list show only what the kind has.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotations.access import Task
from annotations.models import Assignment, PairwiseJudgment, ProjectKind, Role
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from tests.annotations.fine_grained_setup import make_fine_grained
from tests.annotations.helpers import table_counts
from tests.annotations.test_permission_matrix import (
    MATRIX,
    build_world,
    expected,
    status_of,
    writes_in,
)
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

PAIRWISE, FINE, RANKING = Task.PAIRWISE, Task.FINE_GRAINED, Task.RANKING
TASK_OF: dict[str, Task | None] = {
    "project-detail": None, "project-settings": None, "project-import": None,
    "project-member-add": None, "project-raters": None, "rater-status": None,
    "rater-role": None, "rater-exclusion": None, "workload-cap": None, "quality-gate": None,
    "project-pool-attach": None, "project-pool-detach": None, "notification-dismiss": None,
    "annotate": PAIRWISE, "annotate-submit": PAIRWISE, "annotate-undo": PAIRWISE,
    "project-dashboard": PAIRWISE, "project-dashboard-status": PAIRWISE,
    "project-dashboard-refit": PAIRWISE, "gold-questions": PAIRWISE, "gold-rate": PAIRWISE,
    "gold-delete": PAIRWISE, "review-queue": PAIRWISE, "judgment-review": PAIRWISE,
    "crowd-studies": PAIRWISE,
    "fine-annotate": FINE, "fine-submit": FINE, "fine-draft": FINE, "fine-settings": FINE,
    "fine-results": FINE, "fine-item-results": FINE, "fine-raters": FINE, "fine-refit": FINE,
    # rankings: a task shape of pairwise projects (on in the permission matrix's world)
    "rank": RANKING, "rank-submit": PAIRWISE, "rank-undo": RANKING,
    "ranking-settings": PAIRWISE,
    # the exports page follows the kind by what it lists (the exports' own tests)
    "project-exports": None, "project-export": None,
}
PROJECT_URLS = sorted(name for name, entry in MATRIX.items() if entry.scope == "project")


def test_every_project_url_says_which_task_it_belongs_to():
    missing = [name for name in PROJECT_URLS if name not in TASK_OF]
    assert not missing, (f"Project URLs without an entry in TASK_OF (tests/annotations/"
                         f"test_project_kinds.py): {missing}")
    assert sorted(TASK_OF) == PROJECT_URLS


@pytest.mark.parametrize("kind", [ProjectKind.PAIRWISE, ProjectKind.FINE_GRAINED])
def test_pages_of_a_task_the_kind_lacks_are_404_and_write_nothing(db, kind):
    world = build_world()
    project = world.projects["A"]
    project.kind = kind
    project.save(update_fields=["kind"])
    lacking = {FINE} if kind == ProjectKind.PAIRWISE else {PAIRWISE, RANKING}
    clients = {persona: Client() for persona in ("lead_a", "admin")}
    for persona, client in clients.items():
        client.force_login(world.users[persona])
    before = table_counts()
    mismatches = []
    for name in PROJECT_URLS:
        entry = MATRIX[name]
        url = reverse(name, kwargs=world.objects[entry.objects]["own"])
        for (persona, client), method in ((pair, method) for pair in clients.items()
                                          for method in ("get", "post")):
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                response = getattr(client, method)(url)
                transaction.set_rollback(True)
            got = status_of(response)
            cell = f"{name:26} {persona:7} {method.upper():4}"
            if TASK_OF[name] in lacking:
                if got != 404 or TASK_OF[name].label not in response.content.decode():
                    mismatches.append(f"{cell} expected 404 naming the task, got {got}")
                if writes_in(queries.captured_queries):
                    mismatches.append(f"{cell} wrote: {writes_in(queries.captured_queries)}")
            elif got != (want := expected(entry, world, persona, "own", method)):
                mismatches.append(f"{cell} expected {want}, got {got}")
    assert not mismatches, "\n".join(mismatches)
    assert table_counts() == before


@pytest.fixture
def fine_only(db):
    project = make_fine_grained(ProjectFactory(name="Spans only"))
    for group in ("g1", "g2"):
        ItemFactory(project=project, group=group, source="model-a")
        ItemFactory(project=project, group=group, source="model-b")
    lead, rater = UserFactory(username="fine-lead"), UserFactory(username="fine-rater")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project, lead, rater


def test_a_fine_grained_project_neither_serves_nor_records_pairs(fine_only):
    project, _lead, rater = fine_only
    with pytest.raises(Exception, match="has no pairwise comparison"):
        assignment_for_rater(project=project, rater=rater)
    left, right = project.items.filter(group="g1")
    stale = Assignment.objects.create(project=project, rater=rater, left_item=left,
                                      right_item=right, selection_strategy="old",
                                      expires_at="2999-01-01T00:00:00Z")
    with pytest.raises(Exception, match="has no pairwise comparison"):
        judgment_submit(assignment=stale, answer=JudgmentInput(outcome="left"))
    assert not PairwiseJudgment.objects.exists()


def test_the_fine_grained_project_page_shows_none_of_the_pairwise_parts(client_for,
                                                                        fine_only):
    project, lead, _rater = fine_only
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    for absent in ("Wins by source", "possible pair", "Judgments per annotator",
                   reverse("project-dashboard", args=[project.pk]),
                   reverse("gold-questions", args=[project.pk]),
                   reverse("review-queue", args=[project.pk]),
                   reverse("annotate", args=[project.pk])):
        assert absent not in page
    for present in ("Annotations per annotator", reverse("fine-results", args=[project.pk]),
                    reverse("project-raters", args=[project.pk])):
        assert present in page


def test_the_pairwise_project_page_shows_none_of_the_fine_grained_parts(client_for, project,
                                                                        lead, items):
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "Wins by source" in page
    for absent in ("Annotations per annotator", reverse("fine-results", args=[project.pk]),
                   reverse("fine-settings", args=[project.pk])):
        assert absent not in page


def test_the_raters_page_offers_the_gates_of_the_kind(client_for, fine_only):
    project, lead, _rater = fine_only
    page = client_for(lead).get(reverse("project-raters", args=[project.pk])).content.decode()
    assert "Rasch infit mean-square" in page
    assert 'value="gold_accuracy"' not in page
    assert reverse("gold-questions", args=[project.pk]) not in page
    response = client_for(lead).post(reverse("quality-gate", args=[project.pk]), {
        "signal": "gold_accuracy", "comparison": "below", "threshold": "0.5",
        "min_judgments": "5", "enabled": "on"})
    assert response.status_code == 422
    assert not project.quality_gates.exists()
