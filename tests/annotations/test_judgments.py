"""Serving pairs and recording judgments: exactly once, validated, undoable."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from annotations.models import Assignment, MembershipStatus, PairwiseJudgment, Role
from annotations.services.judgments import (
    JudgmentInput,
    assignment_for_rater,
    judgment_submit,
    judgment_undo,
)
from tests.annotations.helpers import table_counts
from tests.factories import ItemFactory, MembershipFactory, UserFactory


def task_key(html: str) -> str:
    return re.search(r'name="key" value="([0-9a-f-]{36})"', html).group(1)


def judge(project, rater, outcome="left", **answer):
    assignment = assignment_for_rater(project=project, rater=rater)
    return judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome, **answer))


def test_pair_is_two_items_of_one_group(project, items, annotator):
    assignment = assignment_for_rater(project=project, rater=annotator)
    assert assignment.left_item.group == assignment.right_item.group
    assert assignment.left_item != assignment.right_item
    assert assignment.selection_strategy == "fewest_judgments"


def test_reloading_keeps_the_same_task(project, items, annotator):
    first = assignment_for_rater(project=project, rater=annotator)
    assert assignment_for_rater(project=project, rater=annotator) == first


def test_expired_lease_is_renewed_for_the_same_rater(project, items, annotator):
    first = assignment_for_rater(project=project, rater=annotator)
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(1))
    again = assignment_for_rater(project=project, rater=annotator)
    assert again == first
    assert again.expires_at > timezone.now()


def test_left_side_is_randomized_and_stored(project, annotator):
    sides = set()
    for index in range(40):
        low = ItemFactory(project=project, group=f"r{index}")
        ItemFactory(project=project, group=f"r{index}")
        result = judge(project, annotator)
        sides.add(result.judgment.left_item_id == low.pk)
        assert result.judgment.left_item_id == result.judgment.assignment.left_item_id
    assert sides == {True, False}


def test_rater_never_sees_a_pair_twice_and_then_is_done(project, items, annotator):
    seen = set()
    for _ in range(4):  # 3 pairs in g1, 1 in g2
        result = judge(project, annotator, outcome="skip" if len(seen) == 1 else "left")
        pair = (result.judgment.pair_low, result.judgment.pair_high)
        assert pair not in seen
        seen.add(pair)
    assert assignment_for_rater(project=project, rater=annotator) is None


def test_prefers_pairs_with_fewest_judgments(project, items, annotator):
    others = [UserFactory() for _ in range(3)]
    for other in others:
        MembershipFactory(project=project, user=other)
    # The g2 pair gets judged by all three others; g1 pairs by nobody.
    g2 = [item for item in items if item.group == "g2"]
    for other in others:
        assignment = Assignment.objects.create(
            project=project, rater=other, left_item=g2[0], right_item=g2[1],
            selection_strategy="test", expires_at=timezone.now() + timedelta(hours=1))
        judgment_submit(assignment=assignment, answer=JudgmentInput(outcome="left"))
    for _ in range(3):
        assert judge(project, annotator).judgment.left_item.group == "g1"
    assert judge(project, annotator).judgment.left_item.group == "g2"


def test_skips_do_not_count_as_judgments_for_others(project, annotator):
    a, b = ItemFactory(project=project, group="x"), ItemFactory(project=project, group="x")
    c, d = ItemFactory(project=project, group="y"), ItemFactory(project=project, group="y")
    other = UserFactory()
    MembershipFactory(project=project, user=other)
    for pair, outcome in (((a, b), "skip"), ((c, d), "left")):
        assignment = Assignment.objects.create(
            project=project, rater=other, left_item=pair[0], right_item=pair[1],
            selection_strategy="test", expires_at=timezone.now() + timedelta(hours=1))
        judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome))
    assert assignment_for_rater(project=project, rater=annotator).left_item.group == "x"


def test_submission_records_everything(project, items, annotator):
    project.strength_scale = ["slightly", "clearly", "much"]
    project.rationale = "optional"
    project.save()
    result = judge(project, annotator, outcome="right", strength=2, rationale=" because ",
                   criteria_outcomes={"Helpfulness": "right", "Tone": "tie"},
                   active_seconds=0.0)
    judgment = result.judgment
    assert result.created
    assert (judgment.outcome, judgment.strength, judgment.rationale) == ("right", 2, "because")
    assert judgment.criteria_outcomes == {"Helpfulness": "right", "Tone": "tie"}
    assert judgment.idempotency_key == judgment.assignment.key
    assert judgment.assignment.status == "done"
    assert judgment.guideline_version == project.guideline_version
    assert judgment.winner == judgment.right_item


def test_repeated_submission_gives_one_row_and_the_original_result(project, items, annotator):
    assignment = assignment_for_rater(project=project, rater=annotator)
    first = judgment_submit(assignment=assignment, answer=JudgmentInput(outcome="left"))
    again = judgment_submit(assignment=assignment, answer=JudgmentInput(outcome="right"))
    assert not again.created
    assert again.judgment == first.judgment
    assert again.judgment.outcome == "left"
    assert PairwiseJudgment.objects.count() == 1


def test_double_post_through_http_gives_one_row(client_for, project, items, annotator):
    client = client_for(annotator)
    key = task_key(client.get(reverse("annotate", args=[project.pk])).content.decode())
    url = reverse("annotate-submit", args=[project.pk])
    responses = [client.post(url, {"key": key, "outcome": "left"}, headers={"HX-Request": "true"})
                 for _ in range(2)]
    assert [response.status_code for response in responses] == [200, 200]
    assert PairwiseJudgment.objects.count() == 1
    # both answers show the next pair, not the one just judged
    assert task_key(responses[1].content.decode()) != key


def test_two_tabs_share_one_task_and_give_one_row(client_for, project, items, annotator):
    client = client_for(annotator)
    page = reverse("annotate", args=[project.pk])
    tab_one, tab_two = (task_key(client.get(page).content.decode()) for _ in range(2))
    assert tab_one == tab_two
    url = reverse("annotate-submit", args=[project.pk])
    client.post(url, {"key": tab_one, "outcome": "left"})
    client.post(url, {"key": tab_two, "outcome": "right"})
    assert list(PairwiseJudgment.objects.values_list("outcome", flat=True)) == ["left"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_submissions_give_one_row(project, items, annotator):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); SQLite serializes writers")
    assignment = assignment_for_rater(project=project, rater=annotator)
    barrier, results, errors = threading.Barrier(8), [], []

    def submit() -> None:
        try:
            barrier.wait()
            results.append(judgment_submit(assignment=assignment,
                                           answer=JudgmentInput(outcome="left")))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert PairwiseJudgment.objects.count() == 1
    assert {result.judgment.pk for result in results} == {PairwiseJudgment.objects.get().pk}
    assert sum(result.created for result in results) == 1


@pytest.mark.parametrize(("setup", "answer", "field"), [
    ({"rationale": "required"}, {"outcome": "left"}, "rationale"),
    ({"rationale": "required"}, {"outcome": "left", "rationale": "   "}, "rationale"),
    ({"rationale": "off"}, {"outcome": "left", "rationale": "why"}, "rationale"),
    ({"allow_ties": False}, {"outcome": "tie"}, "outcome"),
    ({"allow_both_bad": False}, {"outcome": "both_bad"}, "outcome"),
    ({"strength_scale": ["a", "b"]}, {"outcome": "left"}, "strength"),
    ({"strength_scale": ["a", "b"]}, {"outcome": "left", "strength": 3}, "strength"),
    ({"strength_scale": []}, {"outcome": "left", "strength": 1}, "strength"),
    ({"strength_scale": ["a", "b"]}, {"outcome": "tie", "strength": 1}, "strength"),
    ({}, {"outcome": "left", "criteria_outcomes": {"Nope": "left"}}, "criteria"),
    ({}, {"outcome": "left", "criteria_outcomes": {"Tone": "maybe"}}, "criteria"),
    ({}, {"outcome": "sideways"}, "outcome"),
])
def test_invalid_answers_are_rejected_and_nothing_is_stored(project, items, annotator, setup,
                                                            answer, field):
    for name, value in setup.items():
        setattr(project, name, value)
    project.save()
    assignment = assignment_for_rater(project=project, rater=annotator)
    before = table_counts()
    with pytest.raises(ValidationError) as error:
        judgment_submit(assignment=assignment, answer=JudgmentInput(**answer))
    assert field in error.value.message_dict
    assert table_counts() == before


def test_skip_needs_no_rationale(project, items, annotator):
    project.rationale = "required"
    project.save()
    assert judge(project, annotator, outcome="skip").created


def test_required_rationale_message_in_the_page(client_for, project, items, annotator):
    project.rationale = "required"
    project.save()
    client = client_for(annotator)
    key = task_key(client.get(reverse("annotate", args=[project.pk])).content.decode())
    response = client.post(reverse("annotate-submit", args=[project.pk]),
                           {"key": key, "outcome": "left"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "A rationale is required" in response.content.decode()
    assert key in response.content.decode()  # the same task stays on screen
    assert not PairwiseJudgment.objects.exists()


def test_plain_post_without_javascript_redirects_to_next_task(client_for, project, items,
                                                               annotator):
    client = client_for(annotator)
    key = task_key(client.get(reverse("annotate", args=[project.pk])).content.decode())
    response = client.post(reverse("annotate-submit", args=[project.pk]),
                           {"key": key, "outcome": "tie"})
    assert response.status_code == 302
    assert response["Location"] == reverse("annotate", args=[project.pk])
    assert PairwiseJudgment.objects.get().outcome == "tie"


def test_someone_elses_task_key_is_404(client_for, project, items, annotator):
    other = UserFactory()
    MembershipFactory(project=project, user=other)
    assignment = assignment_for_rater(project=project, rater=other)
    before = table_counts()
    response = client_for(annotator).post(reverse("annotate-submit", args=[project.pk]),
                                          {"key": str(assignment.key), "outcome": "left"})
    assert response.status_code == 404
    assert table_counts() == before


def test_active_time_is_clamped_to_time_since_serving(project, items, annotator):
    assignment = assignment_for_rater(project=project, rater=annotator)
    Assignment.objects.filter(pk=assignment.pk).update(
        created_at=timezone.now() - timedelta(seconds=30))
    assignment.refresh_from_db()
    judgment = judgment_submit(assignment=assignment, answer=JudgmentInput(
        outcome="left", active_seconds=3600)).judgment
    assert 29 < judgment.active_seconds < 40


def test_active_time_from_the_client_is_kept(client_for, project, items, annotator):
    client = client_for(annotator)
    key = task_key(client.get(reverse("annotate", args=[project.pk])).content.decode())
    Assignment.objects.filter(key=key).update(created_at=timezone.now() - timedelta(minutes=5))
    client.post(reverse("annotate-submit", args=[project.pk]),
                {"key": key, "outcome": "left", "active_ms": "12500"})
    assert PairwiseJudgment.objects.get().active_seconds == pytest.approx(12.5)


def test_undo_withdraws_the_last_judgment_and_serves_the_pair_again(project, items, annotator):
    first = judge(project, annotator).judgment
    last = judge(project, annotator).judgment
    again = judgment_undo(project=project, rater=annotator, key=last.idempotency_key)
    last.refresh_from_db()
    assert last.undone_at is not None
    assert (again.left_item_id, again.right_item_id) == (last.left_item_id, last.right_item_id)
    assert assignment_for_rater(project=project, rater=annotator) == again
    # repeating the same undo changes nothing more
    assert judgment_undo(project=project, rater=annotator, key=last.idempotency_key) == again
    first.refresh_from_db()
    assert first.undone_at is None
    # the earlier judgment is now the latest, so it can be undone too
    judgment_undo(project=project, rater=annotator, key=first.idempotency_key)
    first.refresh_from_db()
    assert first.undone_at is not None


def test_only_the_latest_judgment_can_be_undone(project, items, annotator):
    first = judge(project, annotator).judgment
    judge(project, annotator)
    with pytest.raises(ValidationError):
        judgment_undo(project=project, rater=annotator, key=first.idempotency_key)
    first.refresh_from_db()
    assert first.undone_at is None


def test_undone_judgment_is_excluded_from_counts(client_for, lead, project, items, annotator):
    last = judge(project, annotator).judgment
    judgment_undo(project=project, rater=annotator, key=last.idempotency_key)
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert re.search(r'<span class="value">0</span><span class="label">judgments', page)


def test_paused_rater_is_told_why(client_for, project, items, annotator):
    membership = annotator.memberships.get(project=project)
    membership.status = MembershipStatus.PAUSED
    membership.status_reason = "gold accuracy below 60 %"
    membership.save()
    response = client_for(annotator).get(reverse("annotate", args=[project.pk]))
    assert response.status_code == 403
    assert "paused: gold accuracy below 60 %" in response.content.decode()


def test_nothing_left_page(client_for, project, annotator):
    response = client_for(annotator).get(reverse("annotate", args=[project.pk]))
    assert "Nothing left to judge" in response.content.decode()


def test_lead_page_counts(client_for, lead, project, items, annotator):
    for outcome in ("left", "right", "tie", "skip"):
        judge(project, annotator, outcome=outcome)
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    flat = re.sub(r"\s+", " ", page)
    assert '<span class="value">5</span><span class="label">items' in flat
    assert '<span class="value">3</span><span class="label">judgments' in flat
    assert "<td>annotator</td><td class=\"num\">3</td>" in flat
    # every decided judgment gives one win or tie to some source
    wins = sum(int(n) for n in re.findall(r"<td>model-\w</td><td class=\"num\">(\d+)", flat))
    assert wins == 2


def test_lead_can_add_annotator_by_username(client_for, lead, project):
    newcomer = UserFactory(username="newcomer")
    client_for(lead).post(reverse("project-member-add", args=[project.pk]),
                          {"username": "newcomer", "role": Role.ANNOTATOR})
    assert newcomer.memberships.get(project=project).role == Role.ANNOTATOR


def test_adding_unknown_user_writes_nothing(client_for, lead, project):
    before = table_counts()
    response = client_for(lead).post(reverse("project-member-add", args=[project.pk]),
                                     {"username": "ghost", "role": Role.ANNOTATOR}, follow=True)
    assert "No active user named" in response.content.decode()
    assert table_counts() == before


def test_a_single_item_task_key_is_not_a_pair(client_for, project, items, annotator):
    single = Assignment.objects.create(project=project, rater=annotator, left_item=items[0],
                                       selection_strategy="test",
                                       expires_at=timezone.now() + timedelta(hours=1))
    before = table_counts()
    response = client_for(annotator).post(reverse("annotate-submit", args=[project.pk]),
                                          {"key": str(single.key), "outcome": "left"})
    assert response.status_code == 404
    assert table_counts() == before
