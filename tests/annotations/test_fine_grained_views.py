"""Fine-grained pages over HTTP: full page and htmx fragment, plain POST, drafts, settings,
and permissions (outsiders 404 and nothing written, annotators 403 on lead pages)."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from annotations.models import (
    Annotation,
    AnnotationDraft,
    Assignment,
    ProjectKind,
    SpanCategory,
)
from annotations.selectors.fine_grained import fine_grained_task
from annotations.services.fine_grained import item_assignment_for_rater
from tests.annotations.fine_grained_setup import make_fine_grained
from tests.annotations.helpers import table_counts
from tests.factories import ItemFactory, MembershipFactory, UserFactory

FINE_URLS = ["fine-annotate", "fine-submit", "fine-draft", "fine-settings", "fine-results",
             "fine-item-results", "fine-raters", "fine-refit"]
LEAD_URLS = ["fine-settings", "fine-results", "fine-item-results", "fine-raters", "fine-refit"]


@pytest.fixture
def fine_project(project):
    return make_fine_grained(project)


@pytest.fixture
def fine_item(fine_project):
    return ItemFactory(project=fine_project,
                       content="<script>alert('x')</script> Emoji 👋🏽 then text.")


def answer(project, assignment, **extra):
    task = fine_grained_task(project)
    style = next(c for c in task.categories if c.name == "Style")
    data = {"key": str(assignment.key), "overall": "3", "rationale": "ok",
            "spans": json.dumps([{"start": 0, "end": 8, "category": style.pk}])}
    data.update({f"rating_{attribute.pk}": "2" for attribute in task.attributes})
    data.update(extra)
    return data


@pytest.mark.parametrize("name", FINE_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_everywhere_and_nothing_is_written(client_for, outsider, annotator,
                                                             fine_project, fine_item, name,
                                                             method):
    assignment = item_assignment_for_rater(project=fine_project, rater=annotator)
    before = table_counts()
    url = reverse(name, args=[fine_project.pk])
    data = answer(fine_project, assignment)
    response = (client_for(outsider).get(url, {"item": fine_item.pk}) if method == "get"
                else client_for(outsider).post(f"{url}?item={fine_item.pk}", data))
    assert response.status_code == 404
    assert table_counts() == before


@pytest.mark.parametrize("name", LEAD_URLS)
def test_annotator_gets_403_on_lead_pages(client_for, annotator, fine_project, fine_item, name):
    before = table_counts()
    client = client_for(annotator)
    url = reverse(name, args=[fine_project.pk])
    assert client.get(url, {"item": fine_item.pk}).status_code in (403, 405)
    assert client.post(url, {"categories": "x | X"}).status_code == 403
    assert table_counts() == before


def test_lead_sees_every_fine_grained_page(client_for, lead, fine_project, fine_item):
    client = client_for(lead)
    for name in ("fine-annotate", "fine-settings", "fine-results", "fine-raters"):
        assert client.get(reverse(name, args=[fine_project.pk])).status_code == 200, name
    page = client.get(reverse("fine-item-results", args=[fine_project.pk]),
                      {"item": fine_item.pk})
    assert page.status_code == 200
    assert client.get(reverse("fine-item-results", args=[fine_project.pk]),
                      {"item": "nope"}).status_code == 404


def test_item_of_another_project_is_404(client_for, lead, fine_project, outsider):
    elsewhere = ItemFactory()  # another project's item
    response = client_for(lead).get(reverse("fine-item-results", args=[fine_project.pk]),
                                    {"item": elsewhere.pk})
    assert response.status_code == 404


def test_full_page_and_htmx_fragment(client_for, annotator, fine_project, fine_item):
    client = client_for(annotator)
    url = reverse("fine-annotate", args=[fine_project.pk])
    full = client.get(url).content.decode()
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" in full
    assert 'id="fg-task"' in full
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<section id="fg-task"')
    # untrusted text is escaped; no inline styles or scripts (the CSP would block them)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in full
    assert "<script>alert" not in full
    assert 'style="' not in full
    assert "<script>" not in full.replace('<script src="', "")


def test_plain_post_stores_the_annotation_and_redirects(client_for, annotator, fine_project,
                                                        fine_item):
    client = client_for(annotator)
    client.get(reverse("fine-annotate", args=[fine_project.pk]))
    assignment = Assignment.objects.get(rater=annotator)
    response = client.post(reverse("fine-submit", args=[fine_project.pk]),
                           answer(fine_project, assignment))
    assert response.status_code == 302
    assert response["Location"] == reverse("fine-annotate", args=[fine_project.pk])
    annotation = Annotation.objects.get()
    assert list(annotation.spans.values_list("start", "end")) == [(0, 8)]
    assert annotation.overall_rating == 3
    # a retried POST (same key) stores nothing more
    client.post(reverse("fine-submit", args=[fine_project.pk]), answer(fine_project, assignment))
    assert Annotation.objects.count() == 1


def test_htmx_post_swaps_in_the_next_task(client_for, annotator, fine_project, fine_item):
    second = ItemFactory(project=fine_project, content="Second item.")
    client = client_for(annotator)
    client.get(reverse("fine-annotate", args=[fine_project.pk]))
    assignment = Assignment.objects.get(rater=annotator)
    response = client.post(reverse("fine-submit", args=[fine_project.pk]),
                           answer(fine_project, assignment, spans="[]"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    following = Assignment.objects.get(rater=annotator, status="open")
    assert str(following.key) in page
    assert following.left_item_id in {fine_item.pk, second.pk} - {assignment.left_item_id}


def test_bad_submission_is_422_with_the_reason_and_keeps_the_answer(client_for, annotator,
                                                                     fine_project, fine_item):
    client = client_for(annotator)
    client.get(reverse("fine-annotate", args=[fine_project.pk]))
    assignment = Assignment.objects.get(rater=annotator)
    spans = json.dumps([{"start": 0, "end": 9999, "category": fine_project.span_categories
                         .get(name="Style").pk}])
    before = table_counts()
    response = client.post(reverse("fine-submit", args=[fine_project.pk]),
                           answer(fine_project, assignment, spans=spans, overall="9"),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    page = response.content.decode()
    assert "is outside the text" in page
    assert "The overall rating must be between 1 to 5, not 9." in page
    assert "9999" in page  # the spans are still on the form
    assert table_counts() == before


def test_another_raters_task_key_is_404(client_for, annotator, fine_project, fine_item):
    other = UserFactory(username="other")
    MembershipFactory(project=fine_project, user=other)
    theirs = item_assignment_for_rater(project=fine_project, rater=other)
    before = table_counts()
    client = client_for(annotator)
    for name in ("fine-submit", "fine-draft"):
        response = client.post(reverse(name, args=[fine_project.pk]),
                               answer(fine_project, theirs))
        assert response.status_code == 404
    assert table_counts() == before


def test_draft_endpoint_saves_and_the_page_restores_it(client_for, annotator, fine_project,
                                                      fine_item):
    client = client_for(annotator)
    client.get(reverse("fine-annotate", args=[fine_project.pk]))
    assignment = Assignment.objects.get(rater=annotator)
    data = answer(fine_project, assignment, rationale="thinking <b>hard</b>", active_ms="4200")
    response = client.post(reverse("fine-draft", args=[fine_project.pk]), data,
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert AnnotationDraft.objects.get().data["rationale"] == "thinking <b>hard</b>"
    page = client.get(reverse("fine-annotate", args=[fine_project.pk])).content.decode()
    assert "thinking &lt;b&gt;hard&lt;/b&gt;</textarea>" in page
    assert 'value="4200"' in page
    attribute = fine_grained_task(fine_project).attributes[0]
    assert f'name="rating_{attribute.pk}" value="2" checked' in page
    restored = re.search(r'name="spans" value="([^"]*)"', page).group(1)
    assert [(s["start"], s["end"]) for s in json.loads(html.unescape(restored))] == [(0, 8)]


def test_malformed_draft_is_422_and_not_stored(client_for, annotator, fine_project, fine_item):
    client = client_for(annotator)
    client.get(reverse("fine-annotate", args=[fine_project.pk]))
    assignment = Assignment.objects.get(rater=annotator)
    response = client.post(reverse("fine-draft", args=[fine_project.pk]),
                           answer(fine_project, assignment, spans="{oops"))
    assert response.status_code == 422
    assert "not valid JSON" in response.content.decode()
    assert not AnnotationDraft.objects.exists()


def test_pairwise_project_has_no_fine_grained_task(client_for, annotator, project, items):
    page = client_for(annotator).get(reverse("fine-annotate", args=[project.pk]))
    assert page.status_code == 404
    assert "has no fine-grained annotation" in page.content.decode()
    assert not Assignment.objects.exists()


def test_settings_page_saves_the_text_format_and_reports_errors(client_for, lead, project):
    project.kind = ProjectKind.FINE_GRAINED
    project.save(update_fields=["kind"])
    client = client_for(lead)
    url = reverse("fine-settings", args=[project.pk])
    good = {"categories": "h | Halluc<b>ination</b> | #ff0000 | made up | minor, major\n"
                          "x | Style",
            "attributes": "Helpfulness | 0-4 | Useful?\n0: no\n1: a bit\n2: some\n3: mostly\n"
                          "4: fully\nHonesty | 0-4",
            "overall_scale": "1-5", "overall_descriptors": "", "missing_flag": "on",
            "rationale": "required"}
    response = client.post(url, good)
    assert response.status_code == 302
    categories = list(SpanCategory.objects.filter(project=project).values_list("name", "key"))
    assert categories == [("Halluc<b>ination</b>", "h"), ("Style", "x")]
    project.refresh_from_db()
    project.kind = ProjectKind.BOTH
    project.save()
    page = client.get(url).content.decode()
    assert "Halluc&lt;b&gt;ination&lt;/b&gt;" in page
    bad = {**good, "categories": "? | Question"}
    response = client.post(url, bad)
    assert response.status_code == 422
    assert "taken by the page&#x27;s own shortcuts" in response.content.decode()
    assert SpanCategory.objects.filter(project=project).count() == 2


def test_refit_with_no_annotations_says_so(client_for, lead, fine_project):
    response = client_for(lead).post(reverse("fine-refit", args=[fine_project.pk]),
                                     follow=True)
    assert "Nothing to fit yet" in response.content.decode()
