"""Rater pools: creating them, members, attaching to projects (materialised annotator
memberships), the pool page's numbers, and who may see or change a pool."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    AuditEntry,
    Membership,
    PairwiseJudgment,
    PoolMembership,
    PoolProject,
    RaterPool,
    RaterStatus,
    Role,
)
from annotations.selectors.pools import pool_stats
from annotations.services.pools import pool_attach_project, pool_member_add
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import (
    actor,
    admin_user,
    answer_gold,
    gold_pairs,
    judge,
    lead_with_create_permission,
)
from tests.factories import ProjectFactory, UserFactory


@pytest.fixture
def root(db):
    return admin_user()


@pytest.fixture
def pool(root):
    return RaterPool.objects.create(name="crowd batch 3", created_by=root)


def test_admin_creates_a_pool_and_it_is_audited(client_for, root):
    response = client_for(root).post(reverse("pool-list"), {"name": "expert physicians",
                                                            "description": "MDs only"})
    pool = RaterPool.objects.get()
    assert response["Location"] == reverse("pool-detail", args=[pool.pk])
    assert (pool.name, pool.created_by) == ("expert physicians", root)
    entry = AuditEntry.objects.get(action="pool.create")
    assert entry.after == {"name": "expert physicians", "description": "MDs only"}


def test_duplicate_or_empty_pool_names_are_refused(client_for, root, pool):
    before = table_counts()
    for name in ("Crowd Batch 3", "   "):
        response = client_for(root).post(reverse("pool-list"), {"name": name})
        assert response.status_code == 422
    assert table_counts() == before


def test_attaching_a_pool_makes_its_raters_annotators_and_keeps_existing_roles(
        client_for, root, pool, project, lead):
    raters = [UserFactory(username=f"r{index}") for index in range(3)]
    for rater in raters:
        pool_member_add(actor=actor(root), pool=pool, username=rater.username)
    pool_member_add(actor=actor(root), pool=pool, username="lead")
    response = client_for(root).post(reverse("project-pool-attach", args=[project.pk]),
                                     {"pool": pool.pk})
    assert response.status_code == 302
    roles = dict(Membership.objects.filter(project=project)
                 .values_list("user__username", "role"))
    assert roles == {"r0": "annotator", "r1": "annotator", "r2": "annotator", "lead": "lead"}
    assert AuditEntry.objects.get(action="pool.attach").after["memberships_created"] == 3
    # a rater added later joins every attached project
    late = UserFactory(username="late")
    pool_member_add(actor=actor(root), pool=pool, username="late")
    assert Membership.objects.get(project=project, user=late).role == Role.ANNOTATOR


def test_detaching_or_removing_keeps_memberships(client_for, root, pool, project):
    rater = UserFactory(username="rater")
    pool_member_add(actor=actor(root), pool=pool, username="rater")
    pool_attach_project(actor=actor(root), pool=pool, project=project)
    client = client_for(root)
    assert client.post(reverse("pool-member-remove", args=[pool.pk, rater.pk])
                       ).status_code == 302
    assert client.post(reverse("project-pool-detach", args=[project.pk, pool.pk])
                       ).status_code == 302
    assert not PoolMembership.objects.exists()
    assert not PoolProject.objects.exists()
    assert Membership.objects.filter(project=project, user=rater).exists()
    actions = list(AuditEntry.objects.values_list("action", flat=True).order_by("id"))
    assert actions[-2:] == ["pool.member_remove", "pool.detach"]


def test_unknown_username_is_explained_and_writes_nothing(client_for, root, pool):
    before = table_counts()
    response = client_for(root).post(reverse("pool-member-add", args=[pool.pk]),
                                     {"username": "ghost"})
    assert response.status_code == 422
    assert "No active user named" in response.content.decode()
    assert table_counts() == before


def test_pool_page_shows_activity_and_quality(client_for, root, pool, project, annotator):
    gold_pairs(project, 4)
    pool_member_add(actor=actor(root), pool=pool, username="annotator")
    idle = UserFactory(username="idle")
    pool_member_add(actor=actor(root), pool=pool, username="idle")
    pool_attach_project(actor=actor(root), pool=pool, project=project)
    for correct in (True, True, True, False):
        answer_gold(project, annotator, correct=correct)
    old = PairwiseJudgment.objects.order_by("id").first()
    PairwiseJudgment.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=2))
    RaterStatus.objects.create(user=idle, status="paused", reason="x")
    stats = pool_stats(pool)
    assert (stats.members, stats.active_raters, stats.suspended) == (2, 1, 1)
    assert [count for _day, count in stats.per_day][-3:] == [1, 0, 3]
    assert sum(count for _day, count in stats.per_day) == 4
    by_bin = {(round(bin.low, 1), round(bin.high, 1)): bin.raters for bin in stats.quality}
    assert by_bin[(0.7, 0.8)] == 1  # 3 of 4 gold answers right
    assert sum(by_bin.values()) == 1
    assert stats.no_gold == 1
    page = client_for(root).get(reverse("pool-detail", args=[pool.pk]))
    assert page.status_code == 200
    assert "crowd batch 3" in page.content.decode()


def test_who_sees_and_changes_a_pool(client_for, root, pool, project, lead, annotator,
                                     outsider):
    pool_attach_project(actor=actor(root), pool=pool, project=project)
    detail = reverse("pool-detail", args=[pool.pk])
    add = reverse("pool-member-add", args=[pool.pk])
    assert client_for(lead).get(detail).status_code == 200  # leads a project it is attached to
    before = table_counts()
    assert client_for(lead).post(add, {"username": "annotator"}).status_code == 403
    assert client_for(outsider).get(detail).status_code == 404  # leads elsewhere only
    assert client_for(annotator).get(detail).status_code == 403  # not a manager at all
    assert table_counts() == before


def test_owner_who_may_create_projects_manages_their_pool(client_for, project):
    owner = lead_with_create_permission(project)
    UserFactory(username="rater")
    client = client_for(owner)
    client.post(reverse("pool-list"), {"name": "my raters"})
    pool = RaterPool.objects.get(name="my raters")
    assert client.post(reverse("pool-member-add", args=[pool.pk]),
                       {"username": "rater"}).status_code == 302
    assert client.post(reverse("project-pool-attach", args=[project.pk]),
                       {"pool": pool.pk}).status_code == 302
    other = ProjectFactory(name="Not mine")
    assert client.post(reverse("project-pool-attach", args=[other.pk]),
                       {"pool": pool.pk}).status_code == 404


def test_leads_cannot_attach_pools_they_do_not_own(client_for, pool, project, lead):
    before = table_counts()
    response = client_for(lead).post(reverse("project-pool-attach", args=[project.pk]),
                                     {"pool": pool.pk})
    assert response.status_code == 422
    assert table_counts() == before


def test_plain_leads_cannot_create_pools(client_for, lead):
    before = table_counts()
    assert client_for(lead).post(reverse("pool-list"), {"name": "x"}).status_code == 403
    assert table_counts() == before


def test_judgments_of_a_pool_rater_count_in_stats(root, pool, project, items, annotator):
    pool_member_add(actor=actor(root), pool=pool, username="annotator")
    pool_attach_project(actor=actor(root), pool=pool, project=project)
    judge(project, annotator)
    assert pool_stats(pool).per_day[-1][1] == 1
