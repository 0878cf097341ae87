"""Crowd entry links (Prolific, MTurk): create or match the rater from the platform's ids,
serve tasks up to the quota, then show the completion code."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    CrowdIdentity,
    CrowdParticipation,
    CrowdStudy,
    Membership,
    RaterStatus,
    Role,
    WorkloadCap,
)
from annotations.services.crowd import CrowdStudyConfig, crowd_study_create
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import actor, link_token

User = get_user_model()
PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "study42",
            "SESSION_ID": "sess-1"}


@pytest.fixture
def study(project, items, lead):
    return crowd_study_create(actor=actor(lead), project=project, config=CrowdStudyConfig(
        name="Greeting study", platform="prolific", tasks_per_participant=2,
        completion_code="C0DE42"))


def join_url(token):
    return reverse("crowd-join", args=[token])


def submit_next(client, project):
    page = client.get(reverse("annotate", args=[project.pk])).content.decode()
    key = re.search(r'name="key" value="([0-9a-f-]{36})"', page).group(1)
    return client.post(reverse("annotate-submit", args=[project.pk]),
                       {"key": key, "outcome": "left"})


def test_lead_creates_a_study_and_sees_its_link_once(client_for, project, lead):
    response = client_for(lead).post(reverse("crowd-studies", args=[project.pk]), {
        "name": "Pilot", "platform": "prolific", "tasks_per_participant": "10"})
    assert response.status_code == 200
    token = link_token(response.content.decode(), prefix="/join/")
    assert CrowdStudy.objects.get().completion_code  # generated
    assert token not in str(list(CrowdStudy.objects.values()))


def test_prolific_participant_gets_an_account_and_lands_on_a_task(client, project, study):
    _study, token = study
    response = client.get(join_url(token), PROLIFIC)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotate", args=[project.pk])
    identity = CrowdIdentity.objects.get()
    assert (identity.platform, identity.worker_id) == ("prolific", PROLIFIC["PROLIFIC_PID"])
    user = identity.user
    assert not user.has_usable_password()
    assert Membership.objects.get(project=project, user=user).role == Role.ANNOTATOR
    assert WorkloadCap.objects.get(project=project, rater=user).per_project == 2
    participation = CrowdParticipation.objects.get()
    assert (participation.study_ref, participation.session_ref) == ("study42", "sess-1")
    assert client.get(response["Location"]).status_code == 200


def test_returning_participant_is_matched_not_duplicated(client, study):
    _study, token = study
    client.get(join_url(token), PROLIFIC)
    client.logout()
    client.get(join_url(token), {**PROLIFIC, "SESSION_ID": "sess-2"})
    assert User.objects.filter(crowd_identity__isnull=False).count() == 1
    assert CrowdParticipation.objects.count() == 1


def test_quota_done_shows_the_completion_code(client, project, study):
    _study, token = study
    client.get(join_url(token), PROLIFIC)
    assert submit_next(client, project).status_code == 302
    last = submit_next(client, project)  # the second and last task
    assert last.status_code == 302
    page = client.get(reverse("annotate", args=[project.pk]))
    assert page.status_code == 302
    done = client.get(page["Location"])
    html = done.content.decode()
    assert "C0DE42" in html
    assert "https://app.prolific.com/submissions/complete?cc=C0DE42" in html
    assert CrowdParticipation.objects.get().completed_at is not None


def test_htmx_submission_of_the_last_task_redirects_to_the_code(client, project, study):
    crowd_study, token = study
    client.get(join_url(token), PROLIFIC)
    submit_next(client, project)
    page = client.get(reverse("annotate", args=[project.pk])).content.decode()
    key = re.search(r'name="key" value="([0-9a-f-]{36})"', page).group(1)
    response = client.post(reverse("annotate-submit", args=[project.pk]),
                           {"key": key, "outcome": "left"}, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == reverse("crowd-complete", args=[crowd_study.pk])


def test_completion_page_before_the_quota_says_how_far(client, project, study):
    crowd_study, token = study
    client.get(join_url(token), PROLIFIC)
    page = client.get(reverse("crowd-complete", args=[crowd_study.pk])).content.decode()
    assert "done 0 of 2" in page
    assert "C0DE42" not in page


def test_mturk_preview_creates_nothing_and_accepted_hit_joins(client, project, items, lead):
    _study, token = crowd_study_create(actor=actor(lead), project=project,
                                       config=CrowdStudyConfig(name="HIT", platform="mturk",
                                                               tasks_per_participant=1))
    before = table_counts()
    preview = client.get(join_url(token), {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE",
                                           "hitId": "H1"})
    assert preview.status_code == 200
    assert "Accept the HIT" in preview.content.decode()
    assert table_counts() == before
    joined = client.get(join_url(token), {"workerId": "A1B2C3", "hitId": "H1",
                                          "assignmentId": "AS9"})
    assert joined.status_code == 302
    assert CrowdIdentity.objects.get().worker_id == "A1B2C3"


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"STUDY_ID": "s"}, 400, "needs your Prolific id"),
    ({**PROLIFIC, "PROLIFIC_PID": "bad id!"}, 400, "PROLIFIC_PID must be"),
])
def test_bad_platform_parameters_are_explained_and_write_nothing(client, study, params,
                                                                  status, message):
    _study, token = study
    before = table_counts()
    response = client.get(join_url(token), params)
    assert response.status_code == status
    assert message in response.content.decode()
    assert table_counts() == before


def test_wrong_closed_or_full_studies_are_refused(client, project, study):
    crowd_study, token = study
    before = table_counts()
    assert client.get(join_url("nope"), PROLIFIC).status_code == 404
    CrowdStudy.objects.filter(pk=crowd_study.pk).update(
        expires_at=timezone.now() - timedelta(hours=1))
    assert client.get(join_url(token), PROLIFIC).status_code == 410
    assert table_counts() == before
    CrowdStudy.objects.filter(pk=crowd_study.pk).update(expires_at=None, max_participants=1)
    client.get(join_url(token), PROLIFIC)
    client.logout()
    before = table_counts()
    full = client.get(join_url(token), {**PROLIFIC, "PROLIFIC_PID": "other"})
    assert full.status_code == 410
    assert "full" in full.content.decode()
    assert table_counts() == before


def test_blocked_participant_is_turned_away(client, study):
    _study, token = study
    client.get(join_url(token), PROLIFIC)
    client.logout()
    user = CrowdIdentity.objects.get().user
    RaterStatus.objects.create(user=user, status="blocked", reason="duplicate accounts")
    response = client.get(join_url(token), PROLIFIC)
    assert response.status_code == 403
    assert "duplicate accounts" in response.content.decode()


def test_crowd_accounts_never_collide_with_real_usernames(client, study):
    _study, token = study
    User.objects.create_user(username=f"prolific-{PROLIFIC['PROLIFIC_PID']}", password="x")
    client.get(join_url(token), PROLIFIC)
    identity = CrowdIdentity.objects.get()
    assert identity.user.username.endswith("-2")


def test_other_peoples_completion_pages_are_404(client_for, study, annotator):
    crowd_study, _token = study
    assert client_for(annotator).get(reverse("crowd-complete", args=[crowd_study.pk])
                                     ).status_code == 404


def test_a_crowd_account_given_more_rights_no_longer_signs_in_by_link(client, project, study):
    _study, token = study
    client.get(join_url(token), PROLIFIC)
    client.logout()
    user = CrowdIdentity.objects.get().user
    Membership.objects.filter(user=user).update(role=Role.REVIEWER)
    before = table_counts()
    response = client.get(join_url(token), PROLIFIC)
    assert response.status_code == 403
    assert "cannot sign in through a study link" in response.content.decode()
    assert table_counts() == before
