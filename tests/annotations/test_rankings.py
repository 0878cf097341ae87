"""k-way ranking tasks: the lead's settings and the design they imply, serving under the
overlap, recording once per task key, undo, skips, and what rankings count for."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from annotations.models import (
    AuditEntry,
    Item,
    MembershipStatus,
    ProjectKind,
    Ranking,
    RankingAssignment,
    RankingPlace,
    RankingTask,
    WorkloadCap,
)
from annotations.models.judgment import AssignmentStatus
from annotations.services import rankings as ranking_services
from annotations.services.audit import Actor
from annotations.services.imports import project_import_items
from annotations.services.ranking_config import (
    RankingSettings,
    project_ranking_configure,
    ring_windows,
)
from annotations.services.rankings import (
    RankingInput,
    ranking_assignment_lease,
    ranking_submit,
    ranking_task_choose,
    ranking_undo,
)
from annotations.services.raters import membership_set_status, work_done
from tests.annotations.helpers import table_counts
from tests.annotations.ranking_support import (
    lease_and_rank_as_shown,
    rank_by,
    ranking_project,
    rater_in,
)
from tests.factories import ItemFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def active_tasks(project):
    return list(RankingTask.objects.filter(project=project, active=True).order_by("id"))


# --- settings and design -------------------------------------------------------------------

def test_turning_rankings_on_builds_one_task_per_small_group_and_audits(db):
    project = ranking_project(groups={"p1": 4, "p2": 3, "p3": 1}, size=4)
    tasks = active_tasks(project)
    by_group = {task.group: task for task in tasks}
    assert sorted(by_group) == ["p1", "p2"]  # a single response cannot be ranked
    for group, task in by_group.items():
        ids = set(Item.objects.filter(project=project, group=group).values_list("id", flat=True))
        assert set(task.item_ids) == ids
    entry = AuditEntry.objects.get(action="project.ranking")
    assert entry.before == {"ranking_mode": "off"}
    assert entry.after == {"ranking_mode": "alongside", "tasks_created": 2}


@pytest.mark.parametrize(("n", "size"), [(5, 4), (7, 3), (10, 4), (13, 6), (6, 3)])
def test_a_large_group_is_covered_by_connected_windows_of_k(n, size):
    ids = list(range(100, 100 + n))
    windows = ring_windows(ids, size, random.Random(n))
    assert all(len(window) == size and len(set(window)) == size for window in windows)
    assert set().union(*windows) == set(ids)
    assert len(windows) == -(-(n - 1) // (size - 1))
    reached = set(windows[0])  # windows share items: one connected design
    for _ in windows:
        for window in windows:
            if reached & set(window):
                reached |= set(window)
    assert reached == set(ids)


@pytest.mark.parametrize(("settings", "field"), [
    (RankingSettings("alongside", 2, 3), "size"),
    (RankingSettings("alongside", 7, 3), "size"),
    (RankingSettings("alongside", 4, 0), "overlap"),
    (RankingSettings("sometimes", 4, 3), "mode"),
])
def test_bad_settings_are_refused_and_change_nothing(settings, field, project, items, lead):
    before = table_counts()
    with pytest.raises(ValidationError) as caught:
        project_ranking_configure(actor=Actor(user=lead), project=project, settings=settings)
    assert field in caught.value.message_dict
    assert table_counts() == before
    project.refresh_from_db()
    assert project.ranking_mode == "off"


def test_a_fine_grained_only_project_cannot_turn_rankings_on(db):
    project = ProjectFactory(kind=ProjectKind.FINE_GRAINED)
    ItemFactory(project=project, group="g")
    ItemFactory(project=project, group="g")
    lead = UserFactory(username="fg-lead")
    with pytest.raises(ValidationError):
        project_ranking_configure(actor=Actor(user=lead), project=project,
                                  settings=RankingSettings("alongside", 3, 3))
    assert not RankingTask.objects.exists()


def test_an_import_builds_tasks_for_new_groups_and_rebuilds_a_grown_group(db):
    project = ranking_project(groups={"p1": 3}, size=4)
    first = active_tasks(project)[0]
    rater = rater_in(project, "r1")
    lease_and_rank_as_shown(project, rater)
    rows = [{"external_id": "new-1", "group": "p1", "source": "model-x",
             "prompt": "Prompt of p1", "content": "late"},
            {"external_id": "new-2", "group": "p9", "source": "model-x", "prompt": "P9",
             "content": "a"},
            {"external_id": "new-3", "group": "p9", "source": "model-y", "prompt": "P9",
             "content": "b"}]
    data = "\n".join(json.dumps(row) for row in rows).encode()
    project_import_items(project=project, data=data, filename="more.jsonl")
    tasks = {task.group: task for task in active_tasks(project)}
    assert len(tasks["p1"].item_ids) == 4
    assert tasks["p1"].pk != first.pk
    assert len(tasks["p9"].item_ids) == 2
    first.refresh_from_db()
    assert not first.active
    assert first.rankings.count() == 1


def test_changing_k_rebuilds_the_design_and_the_same_settings_are_a_no_op(db):
    project = ranking_project(groups={"p1": 6}, size=3)
    assert len(active_tasks(project)) == 3  # ceil(5 / 2)
    lead = UserFactory(username=f"lead-of-{project.pk}")
    project = project_ranking_configure(actor=Actor(user=lead), project=project,
                                        settings=RankingSettings("alongside", 6, 3))
    assert [task.size for task in active_tasks(project)] == [6]
    entries = AuditEntry.objects.filter(action="project.ranking").count()
    project_ranking_configure(actor=Actor(user=lead), project=project,
                              settings=RankingSettings("alongside", 6, 3))
    assert AuditEntry.objects.filter(action="project.ranking").count() == entries


# --- serving --------------------------------------------------------------------------------

def test_a_lease_shows_every_item_of_the_task_once_and_is_stable(db):
    project = ranking_project(groups={"p1": 4})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    assert sorted(lease.shown_order) == sorted(lease.task.item_ids)
    assert lease.selection_strategy == "fewest_rankings"
    assert lease.selection_probability == pytest.approx(1.0)
    assert ranking_assignment_lease(project=project, rater=rater).pk == lease.pk


def test_no_rankings_are_served_unless_the_project_serves_them(project, items, annotator):
    with pytest.raises(ValidationError, match="no ranking tasks"):
        ranking_assignment_lease(project=project, rater=annotator)
    project.kind = ProjectKind.FINE_GRAINED
    project.ranking_mode = "alongside"
    project.save()
    with pytest.raises(ValidationError, match="no ranking tasks"):
        ranking_assignment_lease(project=project, rater=annotator)
    assert not RankingAssignment.objects.exists()


def test_fewest_rankings_first_and_never_a_task_the_rater_ranked_or_skipped(db):
    project = ranking_project(groups={"p1": 3, "p2": 3, "p3": 3}, overlap=3)
    first, second = rater_in(project, "r1"), rater_in(project, "r2")
    ranked = lease_and_rank_as_shown(project, first).ranking.task_id
    other = ranking_assignment_lease(project=project, rater=second)
    assert other.task_id != ranked  # a task with no ranking comes first
    skipped = ranking_assignment_lease(project=project, rater=first)
    ranking_submit(assignment=skipped, answer=RankingInput(skip=True))
    seen = {ranked, skipped.task_id}
    last = ranking_assignment_lease(project=project, rater=first)
    assert last.task_id not in seen
    ranking_submit(assignment=last, answer=RankingInput(order=tuple(last.shown_order)))
    assert ranking_assignment_lease(project=project, rater=first) is None


def test_open_leases_count_towards_the_overlap_until_they_expire(db):
    project = ranking_project(groups={"p1": 3}, overlap=2)
    raters = [rater_in(project, f"r{k}") for k in range(3)]
    leases = [ranking_assignment_lease(project=project, rater=rater) for rater in raters[:2]]
    assert ranking_assignment_lease(project=project, rater=raters[2]) is None
    RankingAssignment.objects.filter(pk=leases[0].pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    taken = ranking_assignment_lease(project=project, rater=raters[2])
    assert taken is not None
    assert taken.task_id == leases[0].task_id
    # the expired lease cannot be renewed now that its place is taken: it is released
    assert ranking_assignment_lease(project=project, rater=raters[0]) is None
    assert RankingAssignment.objects.get(pk=leases[0].pk).status == AssignmentStatus.RELEASED


def test_an_expired_lease_with_room_is_renewed(db):
    project = ranking_project(groups={"p1": 3}, overlap=2)
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    RankingAssignment.objects.filter(pk=lease.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    renewed = ranking_assignment_lease(project=project, rater=rater)
    assert renewed.pk == lease.pk
    assert renewed.expires_at > timezone.now()


def test_the_recorded_probabilities_of_the_candidates_sum_to_one(db):
    project = ranking_project(groups={f"p{k}": 3 for k in range(6)})
    rater = rater_in(project, "r1")
    chosen: dict[int, float] = {}
    for seed in range(200):
        random.seed(seed)
        choice = ranking_task_choose(project=project, rater=rater, now=timezone.now())
        chosen[choice.task.pk] = choice.probability
    assert len(chosen) == 6  # every task can be drawn
    assert sum(chosen.values()) == pytest.approx(1.0)


def test_pausing_a_rater_releases_their_ranking_lease(db):
    project = ranking_project(groups={"p1": 3})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    lead = UserFactory(username=f"lead-of-{project.pk}")
    membership = project.memberships.get(user=rater)
    membership_set_status(actor=Actor(user=lead), membership=membership,
                          status=MembershipStatus.PAUSED, reason="check")
    lease.refresh_from_db()
    assert lease.status == AssignmentStatus.RELEASED
    with pytest.raises(ValidationError, match="withdrawn"):
        ranking_submit(assignment=lease, answer=RankingInput(order=tuple(lease.shown_order)))


def test_a_ranking_is_one_task_under_a_workload_cap(db):
    project = ranking_project(groups={"p1": 3, "p2": 3})
    rater = rater_in(project, "r1")
    WorkloadCap.objects.create(project=project, rater=None, per_project=1)
    lease_and_rank_as_shown(project, rater)
    assert work_done(project=project, rater=rater) == 1
    with pytest.raises(Exception, match="limit of 1"):
        ranking_assignment_lease(project=project, rater=rater)


# --- recording -------------------------------------------------------------------------------

def test_a_ranking_is_stored_with_its_places_once_per_key(db):
    project = ranking_project(groups={"p1": 4})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    order = tuple(reversed(lease.shown_order))
    first = ranking_submit(assignment=lease, answer=RankingInput(order=order,
                                                                 active_seconds=3.0))
    again = ranking_submit(assignment=lease, answer=RankingInput(order=order[::-1]))
    assert first.created
    assert not again.created
    assert again.ranking.pk == first.ranking.pk
    ranking = Ranking.objects.get()
    places = list(ranking.places.order_by("rank").values_list("item_id", "rank", "shown"))
    assert [item for item, _rank, _shown in places] == list(order)
    assert [shown for _item, _rank, shown in places] == [4, 3, 2, 1]
    assert (ranking.size, ranking.skipped, ranking.guideline_version) == (4, False, 1)
    assert ranking.selection_strategy == "fewest_rankings"
    assert 0 < ranking.active_seconds <= 3.0
    lease.refresh_from_db()
    assert lease.status == AssignmentStatus.DONE
    assert RankingTask.objects.get(pk=lease.task_id).n_live == 1


@pytest.mark.parametrize("order", [(), "missing", "duplicate", "foreign"])
def test_a_ranking_that_is_not_a_full_order_is_refused_and_writes_nothing(order, db):
    project = ranking_project(groups={"p1": 4, "p2": 3})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    shown = list(lease.shown_order)
    foreign = Item.objects.exclude(pk__in=shown).first().pk
    given = {"missing": shown[:-1], "duplicate": [*shown[:-1], shown[0]],
             "foreign": [*shown[:-1], foreign]}.get(order, ())
    before = table_counts()
    with pytest.raises(ValidationError) as caught:
        ranking_submit(assignment=lease, answer=RankingInput(order=tuple(given)))
    assert "order" in caught.value.message_dict
    assert table_counts() == before


def test_a_skip_has_no_places_and_does_not_count_towards_the_overlap(db):
    project = ranking_project(groups={"p1": 3})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    result = ranking_submit(assignment=lease, answer=RankingInput(skip=True))
    assert result.ranking.skipped
    assert result.ranking.size == 0
    assert not RankingPlace.objects.exists()
    assert RankingTask.objects.get().n_live == 0
    with pytest.raises(ValidationError):
        ranking_submit(assignment=ranking_assignment_lease(
            project=project, rater=rater_in(project, "r2")),
            answer=RankingInput(order=(1, 2, 3), skip=True))


def test_the_unique_constraint_race_is_answered_with_the_first_ranking(db):
    project = ranking_project(groups={"p1": 3})
    rater = rater_in(project, "r1")
    lease = ranking_assignment_lease(project=project, rater=rater)
    answer = RankingInput(order=tuple(lease.shown_order))
    first = ranking_submit(assignment=lease, answer=answer)
    lease.status = AssignmentStatus.OPEN
    with mock.patch.object(ranking_services, "_ranking_for_key",
                           side_effect=[None, first.ranking]):
        again = ranking_submit(assignment=lease, answer=answer)
    assert not again.created
    assert again.ranking.pk == first.ranking.pk
    assert Ranking.objects.count() == 1


def test_undo_withdraws_the_latest_ranking_and_serves_it_again_in_the_given_order(db):
    project = ranking_project(groups={"p1": 3, "p2": 3})
    rater = rater_in(project, "r1")
    first = lease_and_rank_as_shown(project, rater).ranking
    latest = rank_by(ranking_assignment_lease(project=project, rater=rater),
                     lambda item: item.pk).ranking
    with pytest.raises(ValidationError, match="most recent"):
        ranking_undo(project=project, rater=rater, key=str(first.idempotency_key))
    again = ranking_undo(project=project, rater=rater, key=str(latest.idempotency_key))
    latest.refresh_from_db()
    assert latest.undone_at is not None
    assert again.task_id == latest.task_id
    assert again.selection_strategy == "undo"
    assert again.shown_order == sorted(latest.task.item_ids, reverse=True)
    assert RankingTask.objects.get(pk=latest.task_id).n_live == 0
    repeat = ranking_undo(project=project, rater=rater, key=str(latest.idempotency_key))
    assert repeat.pk == again.pk
    assert ranking_assignment_lease(project=project, rater=rater).pk == again.pk


# --- concurrency (PostgreSQL) ----------------------------------------------------------------

def at_once(work, raters) -> list[Exception]:
    """Run ``work(rater)`` for every rater in its own thread, all starting together; the
    errors raised."""
    barrier, errors = threading.Barrier(len(raters)), []

    def run(rater) -> None:
        try:
            barrier.wait()
            work(rater)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(rater,)) for rater in raters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_raters_never_exceed_the_overlap():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); SQLite serializes writers")
    project = ranking_project(groups={f"p{k}": 3 for k in range(4)}, overlap=2)
    raters = [rater_in(project, f"r{k}") for k in range(12)]
    leases = []

    def ask(rater) -> None:
        lease = ranking_assignment_lease(project=project, rater=rater)
        if lease is not None:
            leases.append(lease)

    assert at_once(ask, raters) == []
    per_task = {}
    for lease in leases:
        per_task[lease.task_id] = per_task.get(lease.task_id, 0) + 1
    assert len(leases) == 8
    assert set(per_task.values()) == {2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_raters_working_to_the_end_fill_every_task_exactly_to_the_overlap():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); SQLite serializes writers")
    project = ranking_project(groups={f"p{k}": 4 for k in range(5)}, overlap=3)
    raters = [rater_in(project, f"r{k}") for k in range(8)]

    def work(rater) -> None:
        while (lease := ranking_assignment_lease(project=project, rater=rater)) is not None:
            ranking_submit(assignment=lease, answer=RankingInput(order=tuple(lease.shown_order)))

    assert at_once(work, raters) == []
    assert sorted(RankingTask.objects.values_list("n_live", flat=True)) == [3] * 5
    pairs = list(Ranking.objects.values_list("task_id", "rater_id"))
    assert len(pairs) == 15 == len(set(pairs))  # no rater ranked a task twice
