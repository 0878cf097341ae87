"""The audit log: an entry with before/after for every administrative action, append-only,
viewable and exportable (CSV, JSONL) by administrators only."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotations.models import AuditEntry, GoldSettings, Membership, RaterPool
from annotations.models.audit import AppendOnlyError
from annotations.services.audit import Actor, audit_record
from annotations.services.crowd import CrowdStudyConfig, crowd_study_create
from annotations.services.gating import GateConfig, quality_gate_set
from annotations.services.gold import gold_import, gold_settings_set
from annotations.services.invitations import (
    InvitationPreset,
    invitation_bulk_create,
    invitation_create,
    invitation_revoke,
)
from annotations.services.notifications import notification_dismiss
from annotations.services.pools import (
    pool_attach_project,
    pool_create,
    pool_detach_project,
    pool_member_add,
    pool_member_remove,
)
from annotations.services.raters import (
    membership_set_exclusion,
    membership_set_role,
    membership_set_status,
    rater_set_global_status,
    workload_cap_set,
)
from annotations.services.reviews import judgment_review
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import admin_user, judge, member
from tests.factories import UserFactory


def test_every_administrative_service_writes_one_entry_with_before_and_after(
        project, items, lead, annotator):
    """Each action, its audit action name and a field its before/after must show."""
    root = admin_user()
    who = Actor(user=root, ip="10.0.0.7")
    membership = Membership.objects.get(project=project, user=annotator)
    reviewer = member(project, "reviewer", "reviewer")
    judgment = judge(project, annotator).judgment
    UserFactory(username="extra")
    week = timezone.now() + timedelta(days=7)
    steps = [
        ("pool.create", lambda: pool_create(actor=who, name="p1")),
        ("pool.member_add", lambda: pool_member_add(actor=who, pool=RaterPool.objects.get(),
                                                    username="extra")),
        ("pool.attach", lambda: pool_attach_project(actor=who, pool=RaterPool.objects.get(),
                                                    project=project)),
        ("pool.member_remove", lambda: pool_member_remove(
            actor=who, pool=RaterPool.objects.get(), user=UserFactory(username="extra"))),
        ("pool.detach", lambda: pool_detach_project(actor=who, pool=RaterPool.objects.get(),
                                                    project=project)),
        ("rater.pause", lambda: membership_set_status(actor=who, membership=membership,
                                                      status="paused", reason="r")),
        ("rater.resume", lambda: membership_set_status(actor=who, membership=membership,
                                                       status="active")),
        ("rater.block", lambda: membership_set_status(actor=who, membership=membership,
                                                      status="blocked", reason="r")),
        ("rater.global_pause", lambda: rater_set_global_status(actor=who, rater=annotator,
                                                               status="paused", reason="g")),
        ("rater.global_resume", lambda: rater_set_global_status(actor=who, rater=annotator,
                                                                status="active")),
        ("membership.role", lambda: membership_set_role(actor=who, membership=membership,
                                                        role="reviewer")),
        ("rater.exclude", lambda: membership_set_exclusion(actor=who, membership=membership,
                                                           excluded=True)),
        ("rater.include", lambda: membership_set_exclusion(actor=who, membership=membership,
                                                           excluded=False)),
        ("cap.set", lambda: workload_cap_set(actor=who, project=project, rater=None,
                                             per_day=5, per_project=None)),
        ("gate.set", lambda: quality_gate_set(actor=who, project=project, config=GateConfig(
            signal="gold_accuracy", comparison="below", threshold=0.5))),
        ("gold.rate", lambda: gold_settings_set(actor=who, project=project, rate=0.2)),
        ("gold.import", lambda: gold_import(actor=who, project=project, data=(
            "left_external_id,right_external_id,expected\n"
            f"{items[0].external_id},{items[1].external_id},tie\n").encode())),
        ("invitation.create", lambda: invitation_create(actor=who, preset=InvitationPreset(
            expires_at=week, project=project))),
        ("invitation.revoke", lambda: invitation_revoke(
            actor=who, invitation=project.invitations.first())),
        ("invitation.bulk_create", lambda: invitation_bulk_create(
            actor=who, preset=InvitationPreset(expires_at=week, project=project),
            csv_data=b"a@example.org\n")),
        ("judgment.review", lambda: judgment_review(actor=Actor(user=reviewer), judgment=judgment,
                                                    verdict="rejected", reason="off-topic")),
        ("crowd.study_create", lambda: crowd_study_create(actor=who, project=project,
                                                          config=CrowdStudyConfig(
                                                              name="s", platform="prolific",
                                                              tasks_per_participant=5))),
    ]
    for action, run in steps:
        count = AuditEntry.objects.count()
        run()
        assert AuditEntry.objects.count() == count + 1, action
        entry = AuditEntry.objects.order_by("-id").first()
        assert entry.action == action
        assert entry.before or entry.after, action
    entry = AuditEntry.objects.get(action="rater.block")
    assert (entry.actor_name, entry.ip, entry.project_name) == ("root", "10.0.0.7", project.name)
    assert entry.before["status"] == "active"
    assert entry.after["status"] == "blocked"
    assert AuditEntry.objects.get(action="gold.rate").before == {"rate": 0.1}
    assert AuditEntry.objects.get(action="judgment.review").after["reason"] == "off-topic"


def test_a_failed_action_leaves_no_entry(project, lead):
    before = table_counts()
    lead_membership = Membership.objects.get(project=project, user=lead)
    with pytest.raises(Exception, match="at least one lead"):
        membership_set_role(actor=Actor(user=lead), membership=lead_membership,
                            role="annotator")
    assert table_counts() == before


def test_entries_are_append_only(project, lead):
    entry = audit_record(actor=Actor(user=lead), action="test.thing", target=project,
                         project=project, after={"x": 1})
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "test.thing"


def test_entries_outlive_what_they_describe(project, lead):
    audit_record(actor=Actor(user=lead), action="test.thing", target=project, project=project)
    name, pk = project.name, project.pk
    GoldSettings.objects.filter(project=project).delete()
    project.delete()
    entry = AuditEntry.objects.get()
    assert (entry.project_ref, entry.project_name, entry.target_id) == (pk, name, pk)


def test_audit_page_and_export_are_for_administrators_only(client_for, project, lead,
                                                           annotator):
    staff = UserFactory(username="staff", is_staff=True)
    for user in (lead, annotator, staff):
        for name in ("audit-log", "audit-export"):
            assert client_for(user).get(reverse(name)).status_code == 403, (user, name)


@pytest.fixture
def logged(project, lead, annotator):
    root = admin_user()
    membership = Membership.objects.get(project=project, user=annotator)
    membership_set_status(actor=Actor(user=lead), membership=membership, status="paused",
                          reason="=HYPERLINK(\"http://evil\")")
    membership_set_status(actor=Actor(user=lead), membership=membership, status="active")
    pool_create(actor=Actor(user=root), name="<script>alert(1)</script>")
    return root


def test_audit_page_filters_and_escapes(client_for, logged):
    page = client_for(logged).get(reverse("audit-log"), {"action": "rater."},
                                  headers={"HX-Request": "true"}).content.decode()
    assert "<code>rater.pause</code>" in page
    assert "<code>rater.resume</code>" in page
    assert "<code>pool.create</code>" not in page
    full = client_for(logged).get(reverse("audit-log")).content.decode()
    assert "<script>alert(1)</script>" not in full
    assert "&lt;script&gt;" in full
    fragment = client_for(logged).get(reverse("audit-log"), {"actor": "lead"},
                                      headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="audit-table">')


def test_export_csv_and_jsonl(client_for, logged):
    client = client_for(logged)
    response = client.get(reverse("audit-export"), {"format": "csv", "action": "rater."})
    assert response["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["rater.resume", "rater.pause"]
    pause = rows[1]
    assert json.loads(pause["before"])["status"] == "active"
    assert pause["actor"] == "lead"
    assert json.loads(pause["after"])["status_reason"].startswith("=HYPERLINK")  # JSON-quoted
    jsonl = client.get(reverse("audit-export"), {"format": "jsonl"})
    records = [json.loads(line) for line in b"".join(jsonl.streaming_content).splitlines()]
    assert {record["action"] for record in records} == {"rater.pause", "rater.resume",
                                                        "pool.create"}
    assert client.get(reverse("audit-export"), {"format": "xml"}).status_code == 422


def test_csv_cells_that_look_like_formulas_are_defused(client_for, project, lead):
    audit_record(actor=Actor(user=UserFactory(username="=cmd|calc")), action="test.thing",
                 target=None, label="+SUM(A1)")
    response = client_for(admin_user()).get(reverse("audit-export"), {"format": "csv"})
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["actor"] == "'=cmd|calc"
    assert row["target_label"] == "'+SUM(A1)"


def test_notice_dismissal_is_audited(project, lead):
    notice = project.notifications.create(kind="test", message="hello")
    notification_dismiss(actor=Actor(user=lead), notification=notice)
    notification_dismiss(actor=Actor(user=lead), notification=notice)  # idempotent
    assert AuditEntry.objects.filter(action="notification.dismiss").count() == 1
