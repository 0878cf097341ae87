"""Invitation links: the invitee sets a password and lands on their first task; expired,
over-cap, reused, revoked and wrong links are refused clearly and write nothing; presets
never exceed the inviter's role; bulk invitations from a CSV of emails."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    AuditEntry,
    Invitation,
    InvitationUse,
    Membership,
    PoolMembership,
    RaterPool,
    Role,
)
from annotations.services.invitations import (
    InvitationPreset,
    NewAccount,
    invitation_accept,
    invitation_create,
)
from annotations.services.links import LinkRefused, link_token_hash
from annotations.services.pools import pool_attach_project
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import actor, admin_user, link_token
from tests.factories import ProjectFactory

User = get_user_model()
PASSWORD = "a long enough passphrase 42"


def issue(inviter, project=None, *, role=Role.ANNOTATOR, pool=None, max_uses=1, days=7):
    preset = InvitationPreset(expires_at=timezone.now() + timedelta(days=days),
                              project=project, role=role, pool=pool, max_uses=max_uses)
    return invitation_create(actor=actor(inviter), preset=preset)


def signup(client, token, username="newbie"):
    return client.post(reverse("invitation-accept", args=[token]), {
        "username": username, "email": f"{username}@example.org", "password": PASSWORD,
        "password_again": PASSWORD})


def test_lead_creates_a_link_shown_once_and_only_its_hash_is_stored(client_for, project,
                                                                     items, lead):
    response = client_for(lead).post(reverse("invitation-list"), {
        "project": project.pk, "role": "annotator", "max_uses": "1", "expires_in_days": "7"})
    assert response.status_code == 200
    token = link_token(response.content.decode())
    invitation = Invitation.objects.get()
    assert invitation.token_hash == link_token_hash(token)
    assert token not in str(list(Invitation.objects.values()))
    assert AuditEntry.objects.get(action="invitation.create").after["role"] == "annotator"
    again = client_for(lead).get(reverse("invitation-list")).content.decode()
    assert token not in again


def test_invitee_sets_a_password_and_lands_on_the_first_task(client, project, items, lead):
    token = issue(lead, project).token
    page = client.get(reverse("invitation-accept", args=[token]))
    assert page.status_code == 200
    assert project.name in page.content.decode()
    response = signup(client, token)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotate", args=[project.pk])
    user = User.objects.get(username="newbie")
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(project=project, user=user).role == Role.ANNOTATOR
    assert client.get(response["Location"]).status_code == 200  # logged in, task served
    invitation = Invitation.objects.get()
    assert invitation.uses == 1
    assert InvitationUse.objects.get().created_account
    entry = AuditEntry.objects.get(action="invitation.accept")
    assert (entry.actor_name, entry.after["role"]) == ("newbie", "annotator")


def test_pool_invitation_joins_the_pool_and_its_projects(client, project, items, db):
    root = admin_user()
    pool = RaterPool.objects.create(name="expert physicians", created_by=root)
    pool_attach_project(actor=actor(root), pool=pool, project=project)
    token = issue(root, pool=pool).token
    response = signup(client, token, "doctor")
    user = User.objects.get(username="doctor")
    assert PoolMembership.objects.filter(pool=pool, user=user).exists()
    assert Membership.objects.get(project=project, user=user).role == Role.ANNOTATOR
    assert response["Location"] == reverse("annotate", args=[project.pk])


@pytest.mark.parametrize(("setup", "status", "message"), [
    ("expired", 410, "expired on"),
    ("used", 410, "already been used"),
    ("revoked", 410, "withdrawn"),
    ("wrong", 404, "not valid"),
])
def test_unusable_links_are_refused_clearly_and_write_nothing(client, project, lead, setup,
                                                              status, message):
    issued = issue(lead, project)
    token = issued.token
    if setup == "expired":
        Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    elif setup == "used":
        signup(client, token, "first")
        client.logout()
    elif setup == "revoked":
        Invitation.objects.update(revoked_at=timezone.now())
    else:
        token = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    before = table_counts()
    for response in (client.get(reverse("invitation-accept", args=[token])),
                     signup(client, token, "second")):
        assert response.status_code == status
        assert message in response.content.decode()
    assert table_counts() == before
    assert not User.objects.filter(username="second").exists()


def test_multi_use_link_stops_at_its_cap(client, project, lead):
    token = issue(lead, project, max_uses=2).token
    for name in ("one", "two"):
        assert signup(client, token, name).status_code == 302
        client.logout()
    before = table_counts()
    response = signup(client, token, "three")
    assert response.status_code == 410
    assert "reached its limit of 2 uses" in response.content.decode()
    assert table_counts() == before
    assert Invitation.objects.get().uses == 2


def test_the_same_person_cannot_use_a_multi_use_link_twice(client_for, project, lead, outsider):
    token = issue(lead, project, max_uses=5).token
    client = client_for(outsider)
    assert client.post(reverse("invitation-accept", args=[token])).status_code == 302
    before = table_counts()
    again = client.post(reverse("invitation-accept", args=[token]))
    assert again.status_code == 410
    assert "already used this invitation" in again.content.decode()
    assert table_counts() == before


def test_signed_in_user_joins_with_their_account_and_keeps_a_higher_role(client_for, project,
                                                                        lead):
    other_project = ProjectFactory(name="Second")
    Membership.objects.create(project=other_project, user=lead, role=Role.LEAD)
    token = issue(lead, project, max_uses=3).token
    # the lead uses their own annotator invitation: their role is never lowered
    response = client_for(lead).post(reverse("invitation-accept", args=[token]))
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=lead).role == Role.LEAD


@pytest.mark.parametrize(("username", "password", "field_error"), [
    ("lead", PASSWORD, "is taken"),
    ("bad name!", PASSWORD, "Enter a valid username"),
    ("newbie", "123", "too short"),
])
def test_bad_account_details_are_explained_and_nothing_is_written(client, project, lead,
                                                                  username, password,
                                                                  field_error):
    token = issue(lead, project).token
    before = table_counts()
    response = client.post(reverse("invitation-accept", args=[token]), {
        "username": username, "password": password, "password_again": password})
    assert response.status_code == 422
    assert field_error in response.content.decode()
    assert table_counts() == before


def test_presets_never_exceed_the_inviters_role(project, lead, annotator, outsider):
    with pytest.raises(ValidationError, match="above your own"):
        issue(annotator, project, role=Role.REVIEWER)
    with pytest.raises(ValidationError, match="above your own"):
        issue(outsider, project, role=Role.ANNOTATOR)  # not a lead of this project
    foreign_pool = RaterPool.objects.create(name="someone else's", created_by=None)
    with pytest.raises(ValidationError, match="pools you manage"):
        issue(lead, project, pool=foreign_pool)
    assert not Invitation.objects.exists()


def test_link_dies_when_the_inviter_loses_the_lead_role(client, project, lead, annotator):
    token = issue(lead, project, role=Role.LEAD).token
    Membership.objects.create(project=project, user=admin_user(), role=Role.LEAD)
    Membership.objects.filter(project=project, user=lead).update(role=Role.ANNOTATOR)
    before = table_counts()
    response = signup(client, token)
    assert response.status_code == 410
    assert "no longer invite" in response.content.decode()
    assert table_counts() == before


def test_form_offers_and_accepts_only_projects_the_user_leads(client_for, project, lead,
                                                              outsider):
    elsewhere = outsider.memberships.get().project
    response = client_for(lead).post(reverse("invitation-list"), {
        "project": elsewhere.pk, "role": "annotator", "max_uses": "1", "expires_in_days": "7"})
    assert response.status_code == 422
    assert not Invitation.objects.exists()


def test_revoke_is_audited_and_only_for_visible_invitations(client_for, project, lead,
                                                            outsider):
    issued = issue(lead, project)
    url = reverse("invitation-revoke", args=[issued.invitation.pk])
    assert client_for(outsider).post(url).status_code == 404
    assert client_for(lead).post(url).status_code == 302
    assert Invitation.objects.get().revoked_at is not None
    assert AuditEntry.objects.filter(action="invitation.revoke").count() == 1


def bulk_upload(client, project, content: bytes):
    return client.post(reverse("invitation-bulk"), {
        "project": project.pk, "role": "annotator", "expires_in_days": "7",
        "file": SimpleUploadedFile("emails.csv", content, content_type="text/csv")})


def test_bulk_invitations_give_a_csv_of_working_links(client, client_for, project, items, lead):
    response = bulk_upload(client_for(lead), project,
                           b"email\nana@example.org\nbo@example.org\n=cmd@example.org\n")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="invitations.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["email"] for row in rows] == ["ana@example.org", "bo@example.org",
                                              "'=cmd@example.org"]
    assert Invitation.objects.filter(max_uses=1).count() == 3
    assert mail.outbox == []  # no SMTP server configured
    client.logout()
    token = rows[0]["link"].rstrip("/").rsplit("/", 1)[1]
    assert signup(client, token, "ana").status_code == 302


def test_bad_bulk_file_names_the_file_lines_and_creates_nothing(client_for, project, lead):
    """Lines as an editor numbers them, as the item and gold imports do: the header is
    line 1 and blank lines count."""
    before = table_counts()
    response = bulk_upload(client_for(lead), project,
                           b"email\nana@example.org\n\nnot-an-email\nana@example.org\n")
    assert response.status_code == 422
    page = response.content.decode()
    assert "line 4: &#x27;not-an-email&#x27; is not an email address." in page
    assert "line 5: ana@example.org appears twice (first on line 2)." in page
    assert table_counts() == before


@override_settings(EMAIL_HOST="smtp.example.org",
                   EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_bulk_invitations_are_mailed_when_smtp_is_configured(client_for, project, lead):
    response = bulk_upload(client_for(lead), project, b"ana@example.org\nbo@example.org\n")
    assert response.status_code == 200
    assert sorted(message.to[0] for message in mail.outbox) == ["ana@example.org",
                                                                "bo@example.org"]
    assert "/invite/" in mail.outbox[0].body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptances_never_exceed_the_cap(project, lead):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); SQLite serializes writers")
    token = issue(lead, project, max_uses=3).token
    barrier, outcomes = threading.Barrier(8), []

    def accept(index: int) -> None:
        try:
            barrier.wait()
            invitation_accept(token=token, account=NewAccount(f"racer{index}", PASSWORD))
            outcomes.append("ok")
        except LinkRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert Invitation.objects.get().uses == 3
    assert User.objects.filter(username__startswith="racer").count() == 3
