"""The ranking pages over HTTP: the task (full page, htmx fragment, plain POST without
JavaScript, skip, undo), the lead's settings, and what the project page, the project
list and *My quality* say about rankings."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations.models import Assignment, AuditEntry, ProjectKind, Ranking, RankingAssignment
from annotations.services.judgments import assignment_for_rater
from annotations.services.rankings import ranking_assignment_lease
from tests.annotations.helpers import table_counts
from tests.annotations.ranking_support import (
    lease_and_rank_as_shown,
    rank_by,
    ranking_project,
    rater_in,
)
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def task_key(page: str) -> str:
    return re.search(r'name="key" value="([0-9a-f-]{36})"', page).group(1)


def places_in(page: str) -> list[int]:
    return [int(item) for item in re.findall(r'name="place_(\d+)"', page)]


@pytest.fixture
def ranked():
    project = ranking_project(groups={"p1": 4, "p2": 4}, size=4)
    return project, rater_in(project, "ranker")


def test_the_page_shows_the_prompt_once_and_a_place_per_response(client_for, ranked):
    project, rater = ranked
    page = client_for(rater).get(reverse("rank", args=[project.pk])).content.decode()
    lease = RankingAssignment.objects.get()
    assert places_in(page) == lease.shown_order  # in the order shown
    assert page.count("<h2>Prompt</h2>") == 1
    assert page.count("Prompt of ") == 1
    assert "0 of 2 ranking tasks done" in page
    assert "there are no ties" in page


def test_a_plain_post_records_the_places_and_redirects(client_for, ranked):
    project, rater = ranked
    client = client_for(rater)
    page = client.get(reverse("rank", args=[project.pk])).content.decode()
    shown = places_in(page)
    data = {"key": task_key(page), "active_ms": "4200",
            **{f"place_{item}": str(len(shown) - index) for index, item in enumerate(shown)}}
    response = client.post(reverse("rank-submit", args=[project.pk]), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("rank", args=[project.pk])
    ranking = Ranking.objects.get()
    assert list(ranking.places.values_list("item_id", flat=True)) == shown[::-1]
    assert ranking.active_seconds <= 4.2
    follow = client.get(response["Location"]).content.decode()
    assert "1 of 2 ranking tasks done" in follow
    assert task_key(follow) != data["key"]


@pytest.mark.parametrize(("places", "message"), [
    ({0: "1", 1: "1", 2: "2", 3: "3"}, "Place 1 is given to more than one response"),
    ({0: "1", 1: "2", 2: "3"}, "Give every response a place"),
    ({0: "1", 1: "2", 2: "3", 3: "9"}, "Select a valid choice"),
])
def test_a_bad_ranking_is_answered_422_with_the_reason_and_writes_nothing(
        client_for, ranked, places, message):
    project, rater = ranked
    client = client_for(rater)
    page = client.get(reverse("rank", args=[project.pk])).content.decode()
    shown = places_in(page)
    data = {"key": task_key(page),
            **{f"place_{shown[index]}": value for index, value in places.items()}}
    before = table_counts()
    response = client.post(reverse("rank-submit", args=[project.pk]), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert table_counts() == before


def test_htmx_submit_swaps_in_the_next_task_and_skip_and_undo_work(client_for, ranked):
    project, rater = ranked
    client = client_for(rater)
    page = client.get(reverse("rank", args=[project.pk])).content.decode()
    response = client.post(reverse("rank-submit", args=[project.pk]),
                           {"key": task_key(page), "skip": "1"}, HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 200
    assert '<section id="task"' in fragment[:80]
    assert "<html" not in fragment
    assert "(1 skipped)" in fragment
    assert "Undo last skip" in fragment
    skipped = Ranking.objects.get()
    response = client.post(reverse("rank-undo", args=[project.pk]),
                           {"key": str(skipped.idempotency_key)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    skipped.refresh_from_db()
    assert skipped.undone_at is not None
    assert task_key(response.content.decode()) != task_key(page)  # the task again, new lease
    assert RankingAssignment.objects.get(status="open").task_id == skipped.task_id


def test_the_end_of_the_work_says_so(client_for, db):
    project = ranking_project(groups={"p1": 3})
    rater = rater_in(project, "ranker")
    lease_and_rank_as_shown(project, rater)
    page = client_for(rater).get(reverse("rank", args=[project.pk])).content.decode()
    assert "Nothing left to rank" in page
    assert 'id="ranking-form"' not in page


def test_rank_pages_are_404_where_rankings_are_not_served(client_for, project, items,
                                                          annotator):
    client = client_for(annotator)
    response = client.get(reverse("rank", args=[project.pk]))
    assert response.status_code == 404
    fine = ProjectFactory(kind=ProjectKind.FINE_GRAINED, ranking_mode="alongside")
    ItemFactory(project=fine, group="g")
    MembershipFactory(project=fine, user=annotator)
    assert client.get(reverse("rank", args=[fine.pk])).status_code == 404
    assert client.get(reverse("ranking-settings", args=[fine.pk])).status_code in (403, 404)
    assert not RankingAssignment.objects.exists()


def test_another_raters_task_key_is_404_and_writes_nothing(client_for, ranked):
    project, rater = ranked
    lease = ranking_assignment_lease(project=project, rater=rater)
    intruder = rater_in(project, "intruder")
    before = table_counts()
    response = client_for(intruder).post(reverse("rank-submit", args=[project.pk]),
                                         {"key": str(lease.key), "skip": "1"})
    assert response.status_code == 404
    assert table_counts() == before


def test_the_lead_turns_rankings_on_with_help_text_and_an_audit_entry(client_for, project,
                                                                     items, lead):
    client = client_for(lead)
    url = reverse("ranking-settings", args=[project.pk])
    page = client.get(url).content.decode()
    assert "Responses per ranking (k)" in page
    assert "Ranking tasks are off." in page
    response = client.post(url, {"mode": "alongside", "size": "3", "overlap": "2"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.ranking_mode, project.ranking_size, project.ranking_overlap) == (
        "alongside", 3, 2)
    entry = AuditEntry.objects.get(action="project.ranking")
    assert entry.actor == lead
    assert entry.after["tasks_created"] == 2
    page = client.get(url).content.decode()
    assert "2 tasks" in page
    assert "2 groups ranked whole" in page
    response = client.post(url, {"mode": "alongside", "size": "8", "overlap": "2"})
    assert response.status_code == 422
    assert "less than or equal to 6" in response.content.decode()


def test_an_annotator_cannot_change_the_ranking_settings(client_for, project, items,
                                                         annotator):
    before = table_counts()
    response = client_for(annotator).post(reverse("ranking-settings", args=[project.pk]),
                                          {"mode": "only", "size": "3", "overlap": "2"})
    assert response.status_code == 403
    assert table_counts() == before


def test_project_page_list_and_my_quality_count_rankings(client_for, db):
    project = ranking_project(groups={"p1": 3, "p2": 3}, overlap=3)
    raters = [rater_in(project, f"r{k}") for k in range(3)]
    for rater in raters:  # everyone ranks both tasks the same way
        while (lease := ranking_assignment_lease(project=project, rater=rater)) is not None:
            rank_by(lease, lambda item: item.pk)
    lead = UserFactory(username=f"lead-of-{project.pk}")
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert "Rankings per annotator" in page
    assert re.search(r'<span class="value">6</span><span class="label">rankings', page)
    client = client_for(raters[0])
    listing = client.get(reverse("project-list")).content.decode()
    assert "2 / 2 ranking tasks" in listing
    assert reverse("rank", args=[project.pk]) in listing
    quality = client.get(reverse("my-quality")).content.decode()
    assert f'id="quality-{project.pk}-rankings"' in quality
    assert "(6 implied pairs)" in quality  # 2 tasks x 3 pairs, all agreeing
    assert '<span class="value">1.00</span><span class="label">agreement' in quality


def test_rankings_instead_of_pairs_send_raters_from_the_pair_page_to_the_rankings(
        client_for, db):
    project = ranking_project(groups={"p1": 3}, mode="only")
    rater = rater_in(project, "ranker")
    client = client_for(rater)
    response = client.get(reverse("annotate", args=[project.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("rank", args=[project.pk])
    assert not Assignment.objects.exists()
    with pytest.raises(ValidationError, match="rankings instead of pairs"):
        assignment_for_rater(project=project, rater=rater)
    listing = client.get(reverse("project-list")).content.decode()
    assert "Rankings" in listing
    assert reverse("annotate", args=[project.pk]) not in listing
