"""Pausing, resuming and blocking raters (in a project or everywhere), roles, exclusion from
fits, and workload caps: leases are released at once, the next request says why."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    Annotation,
    Assignment,
    AuditEntry,
    Membership,
    PairwiseJudgment,
    ProjectKind,
    RaterStatus,
    Role,
    WorkloadCap,
)
from annotations.models.judgment import AssignmentStatus
from annotations.selectors.fits import LIVE_JUDGMENT
from annotations.selectors.raters import consensus_agreement
from annotations.services.fine_grained import item_assignment_for_rater
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from annotations.services.raters import WorkloadCapReached
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import admin_user, judge, last_audit, member
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory


def status_url(project, user):
    return reverse("rater-status", args=[project.pk, user.pk])


def test_pause_releases_open_leases_and_the_next_request_says_why(client, client_for, project,
                                                                  items, lead, annotator):
    held = assignment_for_rater(project=project, rater=annotator)
    response = client_for(lead).post(status_url(project, annotator),
                                     {"status": "paused", "reason": "answers too fast"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == AssignmentStatus.RELEASED
    membership = Membership.objects.get(project=project, user=annotator)
    assert (membership.status, membership.status_reason) == ("paused", "answers too fast")

    client.force_login(annotator)
    page = client.get(reverse("annotate", args=[project.pk]))
    assert page.status_code == 403
    assert "paused: answers too fast" in page.content.decode()
    submit = client.post(reverse("annotate-submit", args=[project.pk]),
                         {"key": str(held.key), "outcome": "left"})
    assert submit.status_code == 403
    assert "paused: answers too fast" in submit.content.decode()
    assert not PairwiseJudgment.objects.exists()


def test_htmx_request_of_a_paused_rater_reloads_the_page_to_show_why(client_for, project, items,
                                                                     lead, annotator):
    held = assignment_for_rater(project=project, rater=annotator)
    client_for(lead).post(status_url(project, annotator),
                          {"status": "paused", "reason": "gold accuracy"})
    response = client_for(annotator).post(reverse("annotate-submit", args=[project.pk]),
                                          {"key": str(held.key), "outcome": "left"},
                                          headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["HX-Refresh"] == "true"
    assert "paused: gold accuracy" in response.content.decode()
    assert not PairwiseJudgment.objects.exists()


def test_resume_lets_the_rater_work_again_and_is_audited(client_for, project, items, lead,
                                                          annotator):
    client = client_for(lead)
    client.post(status_url(project, annotator), {"status": "blocked", "reason": "spam"})
    client.post(status_url(project, annotator), {"status": "active"})
    membership = Membership.objects.get(project=project, user=annotator)
    assert (membership.status, membership.status_reason) == ("active", "")
    entries = list(AuditEntry.objects.filter(target_type="membership").order_by("id"))
    assert [entry.action for entry in entries] == ["rater.block", "rater.resume"]
    assert entries[0].before["status"] == "active"
    assert entries[0].after["status"] == "blocked"
    assert entries[1].before["status"] == "blocked"
    assert entries[1].after["status"] == "active"
    assert entries[0].actor_name == "lead"
    assert client_for(annotator).get(reverse("annotate", args=[project.pk])).status_code == 200


def test_pause_needs_a_reason_and_bad_input_changes_nothing(client_for, project, lead,
                                                            annotator):
    before = table_counts()
    for data in ({"status": "paused", "reason": "  "}, {"status": "sleeping", "reason": "x"},
                 {"status": "paused", "reason": "x" * 501}):
        response = client_for(lead).post(status_url(project, annotator), data)
        assert response.status_code == 422, data
    assert table_counts() == before
    assert Membership.objects.get(project=project, user=annotator).status == "active"


def test_htmx_row_action_answers_with_the_row(client_for, project, lead, annotator):
    response = client_for(lead).post(status_url(project, annotator),
                                     {"status": "paused", "reason": "check"},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="rater-{annotator.pk}"')
    assert "paused" in row
    invalid = client_for(lead).post(status_url(project, annotator), {"status": "blocked"},
                                    headers={"HX-Request": "true"})
    assert invalid.status_code == 422
    assert "Give a reason" in invalid.content.decode()


def test_global_pause_releases_leases_everywhere_and_says_why(client_for, project, items,
                                                              annotator):
    other = ProjectFactory(name="Other")
    ItemFactory(project=other, group="x")
    ItemFactory(project=other, group="x")
    MembershipFactory(project=other, user=annotator, role=Role.ANNOTATOR)
    leases = [assignment_for_rater(project=p, rater=annotator) for p in (project, other)]
    root = admin_user()
    response = client_for(root).post(reverse("rater-global-status", args=[annotator.pk]),
                                     {"status": "paused", "reason": "identity check"})
    assert response.status_code == 302
    for lease in leases:
        lease.refresh_from_db()
        assert lease.status == AssignmentStatus.RELEASED
    assert RaterStatus.objects.get(user=annotator).status == "paused"
    entry = last_audit("rater.global_pause")
    assert entry.before == {"status": "active", "reason": ""}
    assert entry.after["leases_released"] == 2
    for target in (project, other):
        page = client_for(annotator).get(reverse("annotate", args=[target.pk]))
        assert page.status_code == 403
        assert "all projects is paused: identity check" in page.content.decode()
    client_for(root).post(reverse("rater-global-status", args=[annotator.pk]),
                          {"status": "active"})
    assert client_for(annotator).get(reverse("annotate", args=[project.pk])).status_code == 200


def test_administrators_cannot_be_paused_globally(client_for, db):
    root, other_root = admin_user(), admin_user("other-root")
    before = table_counts()
    response = client_for(root).post(reverse("rater-global-status", args=[other_root.pk]),
                                     {"status": "blocked", "reason": "x"})
    assert response.status_code == 422
    assert "Administrators cannot be paused" in response.content.decode()
    assert table_counts() == before


def test_role_changes_are_audited_and_a_project_keeps_a_lead(client_for, project, lead,
                                                             annotator):
    client = client_for(lead)
    response = client.post(reverse("rater-role", args=[project.pk, annotator.pk]),
                           {"role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=annotator).role == Role.REVIEWER
    entry = last_audit("membership.role")
    assert (entry.before["role"], entry.after["role"]) == ("annotator", "reviewer")
    before = table_counts()
    demote = client.post(reverse("rater-role", args=[project.pk, lead.pk]), {"role": "annotator"})
    assert demote.status_code == 422
    assert "at least one lead" in demote.content.decode()
    assert table_counts() == before


def test_exclusion_keeps_judgments_but_fits_leave_them_out(client_for, project, items, lead,
                                                           annotator):
    judge(project, annotator)
    judge(project, annotator)
    fit_rows = PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project)
    assert fit_rows.count() == 2
    client_for(lead).post(reverse("rater-exclusion", args=[project.pk, annotator.pk]),
                          {"excluded": "on", "reason": "misread the guidelines"})
    assert Membership.objects.get(project=project, user=annotator).excluded_from_fits
    assert PairwiseJudgment.objects.count() == 2  # kept
    assert PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project).count() == 0
    entry = last_audit("rater.exclude")
    assert entry.before["excluded_from_fits"] is False
    assert entry.after["reason"] == "misread the guidelines"
    client_for(lead).post(reverse("rater-exclusion", args=[project.pk, annotator.pk]), {})
    assert PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project).count() == 2


def test_total_cap_stops_serving_with_a_message(client_for, project, items, lead, annotator):
    response = client_for(lead).post(reverse("workload-cap", args=[project.pk]),
                                     {"username": "annotator", "per_project": "2"})
    assert response.status_code == 302
    judge(project, annotator)
    judge(project, annotator)
    page = client_for(annotator).get(reverse("annotate", args=[project.pk]))
    assert page.status_code == 403
    assert "limit of 2 tasks" in page.content.decode()
    assert last_audit("cap.set").after == {"per_day": None, "per_project": 2}


def test_daily_cap_counts_only_today_and_a_raters_cap_overrides_the_default(
        client_for, project, items, lead, annotator):
    WorkloadCap.objects.create(project=project, rater=None, per_day=1, per_project=50)
    yesterday = judge(project, annotator).judgment
    PairwiseJudgment.objects.filter(pk=yesterday.pk).update(
        created_at=timezone.now() - timedelta(days=1, hours=1))
    judge(project, annotator)  # today's one
    page = client_for(annotator).get(reverse("annotate", args=[project.pk]))
    assert "today's limit of 1 tasks" in html.unescape(page.content.decode())
    client_for(lead).post(reverse("workload-cap", args=[project.pk]),
                          {"username": "annotator", "per_day": "3"})
    assert client_for(annotator).get(reverse("annotate", args=[project.pk])).status_code == 200


def test_cap_for_a_non_member_is_refused(client_for, project, lead, outsider):
    before = table_counts()
    response = client_for(lead).post(reverse("workload-cap", args=[project.pk]),
                                     {"username": "outsider", "per_day": "3"})
    assert response.status_code == 422
    assert "not a member of this project" in response.content.decode()
    assert table_counts() == before


def test_members_page_lists_raters_with_their_numbers(client_for, project, items, lead,
                                                      annotator):
    judge(project, annotator)
    page = client_for(lead).get(reverse("project-raters", args=[project.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert f'id="rater-{annotator.pk}"' in content
    assert f'id="rater-{lead.pk}"' in content


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_non_leads_cannot_manage_raters(client_for, project, lead, annotator, role):
    other = member(project, f"other-{role}", role)
    before = table_counts()
    for url, data in ((status_url(project, annotator), {"status": "paused", "reason": "x"}),
                      (reverse("rater-role", args=[project.pk, other.pk]), {"role": "lead"})):
        assert client_for(other).post(url, data).status_code == 403
    assert table_counts() == before


def test_released_lease_is_never_recorded(project, items, lead, annotator):
    held = assignment_for_rater(project=project, rater=annotator)
    Assignment.objects.filter(pk=held.pk).update(status=AssignmentStatus.RELEASED)
    held.refresh_from_db()
    with pytest.raises(ValidationError, match="withdrawn"):
        judgment_submit(assignment=held, answer=JudgmentInput(outcome="left"))
    assert not PairwiseJudgment.objects.exists()


def judge_pair(project, rater, left, right, outcome):
    assignment = Assignment.objects.create(
        project=project, rater=rater, left_item=left, right_item=right,
        selection_strategy="test", expires_at=timezone.now() + timedelta(hours=1))
    return judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome))


@pytest.fixture
def crowd_of_four(project):
    """Four raters on two pairs: everyone prefers a over c; on a vs b the last one dissents."""
    a, b, c = (ItemFactory(project=project, group="q") for _ in range(3))
    raters = [member(project, name) for name in ("alice-x", "bruno-x", "chen-x", "dara-x")]
    for index, rater in enumerate(raters):
        judge_pair(project, rater, a, b, "left" if index < 3 else "right")
        judge_pair(project, rater, c, a, "right")
    return raters


def test_agreement_with_consensus_leaves_the_rater_out(project, crowd_of_four):
    agreement = consensus_agreement(project)
    alice, _bruno, _chen, dara = crowd_of_four
    assert (agreement[alice.pk].agreed, agreement[alice.pk].compared) == (2, 2)
    assert (agreement[dara.pk].agreed, agreement[dara.pk].compared) == (1, 2)


def test_my_quality_ranks_by_quality_and_keeps_others_anonymous(client_for, monkeypatch,
                                                                project, crowd_of_four):
    monkeypatch.setattr("annotations.selectors.raters.LEADERBOARD_MIN_JUDGMENTS", 2)
    dara = crowd_of_four[-1]
    page = client_for(dara).get(reverse("my-quality"))
    assert page.status_code == 200
    content = page.content.decode()
    board = content[content.index("Quality leaderboard"):]
    assert re.search(r'<tr class="me"><td class="num">4</td><td>you</td>', board)
    for name in ("alice-x", "bruno-x", "chen-x"):
        assert name not in content
    assert "0.50" in board  # dara's agreement
    assert "Judgments" not in board  # a quality leaderboard, not a volume one


def test_caps_also_stop_fine_grained_serving(project, items, lead, annotator):
    project.kind = ProjectKind.BOTH
    project.save(update_fields=["kind"])
    WorkloadCap.objects.create(project=project, rater=annotator, per_project=1)
    Annotation.objects.create(project=project, rater=annotator, item=items[0],
                              active_seconds=3, guideline_version=1, selection_strategy="t",
                              idempotency_key=uuid.uuid4())
    with pytest.raises(WorkloadCapReached, match="limit of 1 tasks"):
        item_assignment_for_rater(project=project, rater=annotator)
