"""Reviewers see a project's judgments and accept or reject them with a reason; rejected
judgments are kept but left out of fits; reviewers never write judgments."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotations.models import AuditEntry, JudgmentReview, PairwiseJudgment, Role
from annotations.selectors.fits import LIVE_JUDGMENT
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import judge, member


@pytest.fixture
def reviewer(project):
    return member(project, "reviewer", Role.REVIEWER)


@pytest.fixture
def judgments(project, items, annotator):
    return [judge(project, annotator, outcome).judgment for outcome in ("left", "right", "tie")]


def review_url(project, judgment):
    return reverse("judgment-review", args=[project.pk, judgment.pk])


def test_reviewer_sees_the_queue_with_rater_and_content(client_for, project, judgments,
                                                        reviewer):
    page = client_for(reviewer).get(reverse("review-queue", args=[project.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for judgment in judgments:
        assert f'id="judgment-{judgment.pk}"' in html
    assert "by annotator" in html


def test_reject_needs_a_reason_and_rejected_judgments_leave_the_fits(client_for, project,
                                                                     judgments, reviewer):
    client = client_for(reviewer)
    target = judgments[0]
    before = table_counts()
    response = client.post(review_url(project, target), {"verdict": "rejected"})
    assert response.status_code == 422
    assert "Say why" in response.content.decode()
    assert table_counts() == before
    response = client.post(review_url(project, target),
                           {"verdict": "rejected", "reason": "did not read the prompt"})
    assert response.status_code == 302
    review = JudgmentReview.objects.get()
    assert (review.verdict, review.reason, review.reviewer) == (
        "rejected", "did not read the prompt", reviewer)
    assert PairwiseJudgment.objects.count() == 3  # kept
    used = set(PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project)
               .values_list("pk", flat=True))
    assert used == {judgments[1].pk, judgments[2].pk}


def test_changing_a_verdict_is_audited_with_before_and_after(client_for, project, judgments,
                                                              reviewer):
    client = client_for(reviewer)
    client.post(review_url(project, judgments[1]), {"verdict": "rejected", "reason": "spam"})
    client.post(review_url(project, judgments[1]), {"verdict": "accepted"})
    entries = list(AuditEntry.objects.filter(action="judgment.review").order_by("id"))
    assert entries[0].before == {}
    assert entries[1].before["verdict"] == "rejected"
    assert entries[1].after["verdict"] == "accepted"
    assert JudgmentReview.objects.get().verdict == "accepted"


def test_htmx_review_answers_with_the_judgment_card(client_for, project, judgments, reviewer):
    response = client_for(reviewer).post(review_url(project, judgments[2]),
                                         {"verdict": "accepted"},
                                         headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article class="card review" id="judgment-'
                                    f'{judgments[2].pk}"')
    assert "accepted" in html


def test_queue_filters_by_review_state(client_for, project, judgments, reviewer):
    client = client_for(reviewer)
    client.post(review_url(project, judgments[0]), {"verdict": "rejected", "reason": "x"})
    unreviewed = client.get(reverse("review-queue", args=[project.pk])).content.decode()
    rejected = client.get(reverse("review-queue", args=[project.pk]),
                          {"show": "rejected"}).content.decode()
    assert f'id="judgment-{judgments[0].pk}"' not in unreviewed
    assert f'id="judgment-{judgments[0].pk}"' in rejected
    assert f'id="judgment-{judgments[1].pk}"' not in rejected


def test_nobody_reviews_their_own_judgments(client_for, project, items, lead):
    own = judge(project, lead).judgment
    before = table_counts()
    response = client_for(lead).post(review_url(project, own), {"verdict": "accepted"})
    assert response.status_code == 422
    assert "your own judgments" in response.content.decode()
    assert table_counts() == before


def test_reviewers_cannot_write_judgments(client_for, project, items, judgments, reviewer):
    client = client_for(reviewer)
    before = table_counts()
    assert client.get(reverse("annotate", args=[project.pk])).status_code == 403
    key = str(judgments[0].assignment.key)
    for name, data in (("annotate-submit", {"key": key, "outcome": "right"}),
                       ("annotate-undo", {"key": key})):
        assert client.post(reverse(name, args=[project.pk]), data).status_code == 403
    assert table_counts() == before


def test_annotators_cannot_review(client_for, project, judgments, annotator):
    before = table_counts()
    assert client_for(annotator).get(reverse("review-queue", args=[project.pk])
                                     ).status_code == 403
    assert client_for(annotator).post(review_url(project, judgments[0]),
                                      {"verdict": "rejected", "reason": "x"}).status_code == 403
    assert table_counts() == before


def test_judgments_of_another_project_are_404(client_for, project, judgments, outsider):
    elsewhere = outsider.memberships.get().project
    before = table_counts()
    response = client_for(outsider).post(
        reverse("judgment-review", args=[elsewhere.pk, judgments[0].pk]),
        {"verdict": "rejected", "reason": "x"})
    assert response.status_code == 404
    assert table_counts() == before
