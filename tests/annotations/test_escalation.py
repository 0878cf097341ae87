"""Privilege escalation attempts are refused: staff in Django's admin, leads in the app,
reviewers writing judgments, invitations above the inviter's role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from annotations.models import AuditEntry, Membership, Role
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import admin_user
from tests.factories import UserFactory

User = get_user_model()


def staff_with(*codenames: str, username: str = "staff"):
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def user_form(user, **changes):
    data = {"username": user.username, "first_name": "", "last_name": "", "email": "",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    flags = {"is_active": user.is_active, "is_staff": user.is_staff,
             "is_superuser": user.is_superuser}
    flags.update({key: value for key, value in changes.items() if key.startswith("is_")})
    data.update({key: "on" for key, value in flags.items() if value})
    data.update({key: value for key, value in changes.items() if not key.startswith("is_")})
    return data


def change_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def test_staff_cannot_make_themselves_superuser_or_grant_permissions(client_for, db):
    staff = staff_with("change_user", "view_user")
    every = list(Permission.objects.values_list("pk", flat=True))
    group = Group.objects.create(name="powerful")
    group.permissions.set(every)
    response = client_for(staff).post(change_url(staff), user_form(
        staff, is_superuser=True, user_permissions=every, groups=[group.pk], email="s@x.org"))
    assert response.status_code == 302  # the form saved what staff may change...
    staff = User.objects.get(pk=staff.pk)
    assert staff.email == "s@x.org"
    assert not staff.is_superuser  # ...and nothing else
    assert set(staff.user_permissions.values_list("codename", flat=True)) == {"change_user",
                                                                             "view_user"}
    assert not staff.groups.exists()
    assert not AuditEntry.objects.filter(action="user.privileges").exists()


def test_staff_cannot_promote_or_demote_others(client_for, db):
    staff = staff_with("change_user", "view_user")
    other = UserFactory(username="other")
    client_for(staff).post(change_url(other), user_form(other, is_staff=True, is_superuser=True))
    other = User.objects.get(pk=other.pk)
    assert not (other.is_staff)
    assert not (other.is_superuser)
    root = admin_user()
    before = table_counts()
    response = client_for(staff).post(change_url(root), user_form(root, is_superuser=False,
                                                                  is_active=False))
    assert response.status_code == 403
    assert User.objects.get(pk=root.pk).is_superuser
    assert table_counts() == before


def test_staff_cannot_change_groups_or_delete_superusers(client_for, db):
    staff = staff_with("change_group", "add_group", "view_group", "delete_user", "view_user")
    group = Group.objects.create(name="editors")
    before = table_counts()
    client = client_for(staff)
    assert client.get(reverse("admin:auth_group_add")).status_code == 403
    response = client.post(reverse("admin:auth_group_change", args=[group.pk]), {
        "name": "editors", "permissions": list(Permission.objects.values_list("pk", flat=True))})
    assert response.status_code == 403
    root = admin_user()
    before = table_counts()
    assert client.post(reverse("admin:auth_user_delete", args=[root.pk]),
                       {"post": "yes"}).status_code == 403
    assert table_counts() == before


def test_staff_cannot_give_themselves_a_project_role_in_the_admin(client_for, project, lead):
    staff = staff_with("change_project", "view_project")
    client = client_for(staff)
    page = client.get(reverse("admin:annotations_project_change", args=[project.pk]))
    assert page.status_code == 200
    form = {"name": project.name, "slug": project.slug, "kind": project.kind,
            "instructions": "", "criteria": "[]", "allow_ties": "on", "strength_scale": "[]",
            "rationale": "off", "guideline_version": "1", "fit_every_n": "20",
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": str(staff.pk), "memberships-0-role": "lead",
            "memberships-0-status": "active", "memberships-0-project": str(project.pk)}
    client.post(reverse("admin:annotations_project_change", args=[project.pk]), form)
    assert not Membership.objects.filter(user=staff).exists()


def test_staff_status_gives_nothing_in_the_app(client_for, project):
    staff = staff_with("change_user", username="staff-only")
    client = client_for(staff)
    assert client.get(reverse("project-detail", args=[project.pk])).status_code == 404
    for name in ("manage-home", "pool-list", "invitation-list", "rater-list", "audit-log"):
        assert client.get(reverse(name)).status_code == 403, name


def test_superuser_privilege_changes_are_audited(client_for, db):
    root = admin_user()
    other = UserFactory(username="promoted")
    response = client_for(root).post(change_url(other), user_form(other, is_staff=True))
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="user.privileges")
    assert (entry.before["is_staff"], entry.after["is_staff"]) == (False, True)
    assert entry.actor_name == "root"


def test_lead_cannot_make_themselves_admin(client_for, project, lead):
    client = client_for(lead)
    before = table_counts()
    response = client.post(reverse("rater-role", args=[project.pk, lead.pk]), {"role": "admin"})
    assert response.status_code == 422
    assert client.post(reverse("rater-global-status", args=[lead.pk]),
                       {"status": "active"}).status_code == 403
    admin_page = client.get(reverse("admin:auth_user_change", args=[lead.pk]))
    assert admin_page.status_code == 302  # not staff: sent to the admin login
    assert table_counts() == before
    lead.refresh_from_db()
    assert not (lead.is_superuser)
    assert not (lead.is_staff)


def test_lead_cannot_change_roles_in_a_project_they_do_not_lead(client_for, project, lead,
                                                                 outsider):
    elsewhere = outsider.memberships.get().project
    Membership.objects.create(project=elsewhere, user=lead, role=Role.ANNOTATOR)
    before = table_counts()
    for target in (lead, outsider):
        response = client_for(lead).post(reverse("rater-role", args=[elsewhere.pk, target.pk]),
                                         {"role": "lead"})
        assert response.status_code == 403
    assert table_counts() == before
    response = client_for(outsider).post(reverse("rater-role", args=[project.pk, lead.pk]),
                                         {"role": "annotator"})
    assert response.status_code == 404


def test_the_last_lead_cannot_be_demoted(client_for, project, lead):
    before = table_counts()
    response = client_for(lead).post(reverse("rater-role", args=[project.pk, lead.pk]),
                                     {"role": "reviewer"})
    assert response.status_code == 422
    assert table_counts() == before


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ANNOTATOR])
def test_non_leads_cannot_invite_or_promote(client_for, project, role):
    user = UserFactory(username=f"x-{role}")
    Membership.objects.create(project=project, user=user, role=role)
    before = table_counts()
    client = client_for(user)
    assert client.post(reverse("invitation-list"), {
        "project": project.pk, "role": "lead", "max_uses": "1",
        "expires_in_days": "7"}).status_code == 403
    assert client.post(reverse("rater-role", args=[project.pk, user.pk]),
                       {"role": "lead"}).status_code == 403
    assert table_counts() == before
