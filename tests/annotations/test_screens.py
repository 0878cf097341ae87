"""What raters and leads read on the pages (issue 13): the project list's progress and
refusals, fine-grained progress and quality, the prompt of a pair, wording, guideline
versions, instructions, inline errors, and quiet logs for expected refusals."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from django.urls import reverse

from annotations.models import (
    Annotation,
    Assignment,
    Membership,
    PairwiseJudgment,
    ProjectKind,
    RaterStatus,
    Rating,
    Role,
)
from annotations.services.fine_grained_config import fine_grained_configure
from annotations.services.imports import project_import_items
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from annotations.services.projects import TaskConfig, project_update
from tests.annotations.fine_grained_setup import make_fine_grained, standard_settings
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def fine_project(db):
    project = make_fine_grained(ProjectFactory(name="Spans", instructions="Mark errors."))
    items = [ItemFactory(project=project, group=f"g{k}") for k in range(4)]
    return project, items


def annotate(project, rater, item, *, skipped=False, ratings=()):
    annotation = Annotation.objects.create(
        project=project, rater=rater, item=item, skipped=skipped, active_seconds=4.0,
        guideline_version=project.guideline_version, selection_strategy="test",
        idempotency_key=uuid.uuid4())
    for attribute, value in ratings:
        Rating.objects.create(annotation=annotation, attribute=attribute, value=value)
    return annotation


# --- the project list ---------------------------------------------------------------------

def test_globally_blocked_rater_sees_the_reason_and_no_annotate_button(client_for, project,
                                                                         items, annotator):
    RaterStatus.objects.create(user=annotator, status="blocked", reason="identity check")
    page = text_of(client_for(annotator).get(reverse("project-list")))
    assert "Your work on all projects is blocked: identity check" in page
    assert reverse("annotate", args=[project.pk]) not in \
        client_for(annotator).get(reverse("project-list")).content.decode()


def test_paused_rater_sees_the_reason_on_the_list(client_for, project, items, annotator):
    Membership.objects.filter(user=annotator).update(status="paused", status_reason="too fast")
    page = text_of(client_for(annotator).get(reverse("project-list")))
    assert "Your work on this project is paused: too fast" in page


def test_fine_grained_progress_on_the_list_with_totals(client_for, fine_project):
    project, items = fine_project
    rater = UserFactory(username="fine-rater")
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    annotate(project, rater, items[0])
    annotate(project, rater, items[1], skipped=True)
    page = text_of(client_for(rater).get(reverse("project-list")))
    assert "1 / 4 pairs" not in page
    assert "2 / 4 items" in page
    task = text_of(client_for(rater).get(reverse("fine-annotate", args=[project.pk])))
    assert "2 of 4 items done" in task


def test_both_kinds_show_both_progress_bars(client_for, project, items, annotator):
    project.kind = ProjectKind.BOTH
    project.save(update_fields=["kind"])
    page = text_of(client_for(annotator).get(reverse("project-list")))
    assert "0 / 4 pairs" in page
    assert "0 / 5 items" in page


def test_my_quality_includes_fine_grained_projects(client_for, fine_project):
    project, items = fine_project
    helpfulness = project.rating_attributes.get(name="Helpfulness")
    me, *others = [UserFactory(username=f"r{k}") for k in range(4)]
    for rater in (me, *others):
        MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    for item in items:
        annotate(project, me, item, ratings=[(helpfulness, 3)])
        for rater, value in zip(others, (3, 3, 1), strict=True):
            annotate(project, rater, item, ratings=[(helpfulness, value)])
    page = text_of(client_for(me).get(reverse("my-quality")))
    assert "Spans" in page
    assert "4 / 4 items done" in page
    assert "1.00 agreement with consensus (4 ratings)" in page


# --- the pairwise task --------------------------------------------------------------------

def test_the_pair_shows_one_prompt_whichever_side_is_left(client_for, project, annotator):
    first = ItemFactory(project=project, group="g", prompt="Prompt of the group")
    second = ItemFactory(project=project, group="g", prompt="A stray prompt")
    client = client_for(annotator)
    for left, right in ((first, second), (second, first)):
        Assignment.objects.filter(rater=annotator).delete()
        Assignment.objects.create(project=project, rater=annotator, left_item=left,
                                  right_item=right, selection_strategy="test",
                                  expires_at="2999-01-01T00:00:00Z")
        page = text_of(client.get(reverse("annotate", args=[project.pk])))
        assert "Prompt of the group" in page
        assert "A stray prompt" not in page


def test_instructions_are_open_for_a_new_rater_and_closed_after_work(client_for, project,
                                                                     items, annotator):
    project.instructions = "Prefer the **correct** answer."
    project.save(update_fields=["instructions"])
    client = client_for(annotator)
    url = reverse("annotate", args=[project.pk])
    assert '<details class="instructions card" open>' in client.get(url).content.decode()
    judgment_submit(assignment=assignment_for_rater(project=project, rater=annotator),
                    answer=JudgmentInput(outcome="left"))
    assert '<details class="instructions card">' in client.get(url).content.decode()


def test_no_instructions_no_empty_card(client_for, project, items, annotator, lead):
    assert "Instructions" not in client_for(annotator).get(
        reverse("annotate", args=[project.pk])).content.decode()
    detail = text_of(client_for(lead).get(reverse("project-detail", args=[project.pk])))
    assert "No instructions yet" in detail


# --- wording ------------------------------------------------------------------------------

def test_import_message_counts_in_words(client_for, project, lead):
    data = b'{"external_id": "a", "group": "g", "source": "s", "prompt": "p", "content": "c"}'
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(lead).post(reverse("project-import", args=[project.pk]), {
        "file": SimpleUploadedFile("one.jsonl", data)}, follow=True)
    assert "Imported 1 item in 1 group from 1 source." in text_of(response)


@pytest.mark.parametrize(("role", "message"), [
    ("annotator", "annotator is already an annotator here; nothing changed."),
    ("reviewer", "annotator is now a reviewer (was annotator)."),
])
def test_re_adding_a_member_says_what_happened(client_for, project, lead, annotator, role,
                                               message):
    response = client_for(lead).post(reverse("project-member-add", args=[project.pk]),
                                     {"username": "annotator", "role": role}, follow=True)
    assert message in text_of(response)


def test_adding_a_new_member_says_added(client_for, project, lead):
    UserFactory(username="newcomer")
    response = client_for(lead).post(reverse("project-member-add", args=[project.pk]),
                                     {"username": "newcomer", "role": "annotator"}, follow=True)
    assert "newcomer added as annotator." in text_of(response)


def test_gate_defaults_use_the_form_labels(client_for, project, lead):
    page = text_of(client_for(lead).get(reverse("project-raters", args=[project.pk])))
    assert "Gold accuracy pause when below 0.6" in page
    assert "gold_accuracy" not in page.split("Usual settings")[1]


def test_the_first_configuration_keeps_guideline_version_1(fine_project):
    project, _items = fine_project
    assert project.guideline_version == 1
    fine_grained_configure(project=project, settings=standard_settings())  # nothing changed
    project.refresh_from_db()
    assert project.guideline_version == 1


def test_a_change_after_work_starts_a_new_guideline_version(fine_project):
    project, items = fine_project
    rater = UserFactory(username="worker")
    annotate(project, rater, items[0])
    fine_grained_configure(project=project, settings=standard_settings(missing_flag=False))
    project.refresh_from_db()
    assert project.guideline_version == 2
    fine_grained_configure(project=project, settings=standard_settings(missing_flag=True))
    project.refresh_from_db()
    assert project.guideline_version == 2  # nobody worked under version 2 yet


def test_pairwise_settings_bump_the_version_only_once_work_exists(project, items, annotator):
    config = TaskConfig(name=project.name, instructions="New text", criteria=("Helpfulness",))
    project_update(project=project, config=config)
    project.refresh_from_db()
    assert project.guideline_version == 1
    judgment_submit(assignment=assignment_for_rater(project=project, rater=annotator),
                    answer=JudgmentInput(outcome="left"))
    project_update(project=project, config=TaskConfig(name=project.name, instructions="Newer",
                                                      criteria=("Helpfulness",)))
    project.refresh_from_db()
    assert project.guideline_version == 2


def test_a_paused_raters_requests_log_one_line_not_a_traceback(client_for, project, items,
                                                                annotator, caplog):
    Membership.objects.filter(user=annotator).update(status="paused", status_reason="wait")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for(annotator).get(reverse("annotate", args=[project.pk]))
    assert response.status_code == 403
    assert "paused: wait" in response.content.decode()
    assert all(record.exc_info is None for record in caplog.records)


# --- imports -----------------------------------------------------------------------------

def jsonl(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def test_items_of_one_group_with_different_prompts_are_rejected_with_lines(project):
    from annotations.services.imports import ImportRejected

    ItemFactory(project=project, group="old", prompt="Old prompt")
    data = jsonl(
        '{"external_id": "a", "group": "g", "source": "s", "prompt": "P", "content": "1"}',
        '{"external_id": "b", "group": "g", "source": "t", "prompt": "Q", "content": "2"}',
        '{"external_id": "c", "group": "old", "source": "t", "prompt": "New", "content": "3"}')
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, data=data, filename="x.jsonl")
    messages = [str(error) for error in rejected.value.errors]
    assert messages[0].startswith("line 2: The prompt differs from the one of group 'g' on "
                                  "line 1")
    assert messages[1].startswith("line 3: group 'old' already has items")
    assert project.items.count() == 1


def test_invalid_json_names_the_column_within_its_line(project):
    from annotations.services.imports import ImportRejected

    good = '{"external_id": "%s", "group": "g", "source": "s", "prompt": "P", "content": "1"}'
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, data=jsonl(good % "a", good % "b",
                                                         '{"external_id": "c",, "x": 1}'),
                             filename="x.jsonl")
    [error] = rejected.value.errors
    assert str(error) == ("line 3, column 21: Invalid JSON: Expecting property name enclosed "
                          "in double quotes.")


def test_suspicious_content_imports_with_warnings(client_for, project, lead):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = jsonl(
        '{"external_id": "a", "group": "g", "source": "s", "prompt": "", "content": "fine"}',
        '{"external_id": "b", "group": "g", "source": "t", "prompt": "", '
        '"content": "=HYPERLINK(1)"}')
    response = client_for(lead).post(reverse("project-import", args=[project.pk]), {
        "file": SimpleUploadedFile("x.jsonl", data)}, follow=True)
    page = text_of(response)
    assert "Imported 2 items" in page
    assert "line 2: content starts with “=”, like a spreadsheet formula" in page
    assert "line 1: The prompt is empty" in page
    assert project.items.count() == 2


# --- the fine-grained task ---------------------------------------------------------------

def test_each_fine_grained_error_is_next_to_its_control(client_for, fine_project):
    project, _items = fine_project
    rater = UserFactory(username="fine-rater")
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    client = client_for(rater)
    client.get(reverse("fine-annotate", args=[project.pk]))
    key = Assignment.objects.get(rater=rater).key
    response = client.post(reverse("fine-submit", args=[project.pk]), {"key": key, "spans": "[]"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "error-box" not in html  # nothing left for a box at the top
    for attribute in project.rating_attributes.all():
        fieldset = re.search(rf"<legend>{attribute.name}</legend>.*?</fieldset>", html, re.S)
        assert f"Rate “{attribute.name}”" in fieldset.group(0)
    overall = re.search(r"<legend>Overall</legend>.*?</fieldset>", html, re.S).group(0)
    assert "Give an overall rating" in overall
    assert not PairwiseJudgment.objects.exists()
