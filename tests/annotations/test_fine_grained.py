"""Fine-grained annotation services: configuration, serving, submission, drafts, offsets."""

from __future__ import annotations

import json
import unicodedata

import pytest
from django.core.exceptions import ValidationError

from annotations.forms_fine_grained import AnnotationForm, FineGrainedSettingsForm
from annotations.models import (
    Annotation,
    AnnotationDraft,
    Assignment,
    Rating,
    RatingAttribute,
    RationaleMode,
    Span,
    SpanCategory,
)
from annotations.selectors.fine_grained import fine_grained_task, text_pieces
from annotations.services.fine_grained import (
    AnnotationInput,
    SpanInput,
    annotation_draft_save,
    annotation_submit,
    item_assignment_for_rater,
)
from annotations.services.fine_grained_config import (
    AttributeSpec,
    CategorySpec,
    fine_grained_configure,
)
from tests.annotations.fine_grained_setup import make_fine_grained, standard_settings
from tests.annotations.helpers import table_counts
from tests.factories import ItemFactory, MembershipFactory, UserFactory

EMOJI_TEXT = "Hi 👋🏽 family 👨‍👩‍👧 from 🇫🇷: cafe\u0301 is wrong."


@pytest.fixture
def fine_project(project):
    return make_fine_grained(project)


@pytest.fixture
def fine_items(fine_project):
    return [ItemFactory(project=fine_project, content=EMOJI_TEXT),
            ItemFactory(project=fine_project, content="Plain text.\r\nSecond line.")]


def ids(project):
    task = fine_grained_task(project)
    categories = {category.name: category for category in task.categories}
    attributes = {attribute.name: attribute for attribute in task.attributes}
    return categories, attributes


def valid_answer(project, *, spans=None, **changes) -> AnnotationInput:
    categories, attributes = ids(project)
    values = {
        "ratings": {attributes["Helpfulness"].pk: 3, attributes["Correctness"].pk: 0},
        "spans": spans if spans is not None else (
            SpanInput(start=0, end=2, category=categories["Style"].pk),
            SpanInput(start=1, end=6, category=categories["Hallucination"].pk,
                      severity="major", note="made up"),
        ),
        "overall": 4, "rationale": "Mostly fine.", "active_seconds": 2.0,
    }
    values.update(changes)
    return AnnotationInput(**values)


def serve(project, rater) -> Assignment:
    assignment = item_assignment_for_rater(project=project, rater=rater)
    assert assignment is not None
    return assignment


# --- configuration ------------------------------------------------------------------------


def test_configuration_creates_categories_and_attributes(fine_project):
    categories, attributes = ids(fine_project)
    assert list(categories) == ["Hallucination", "Style"]
    assert categories["Hallucination"].severities == ["minor", "major", "critical"]
    assert attributes["Helpfulness"].levels[0] == (0, "Very poor")
    assert fine_project.fine_grained_config.overall_levels[-1] == (5, "")


@pytest.mark.parametrize(("change", "message"), [
    ({"categories": (CategorySpec(name="A", key="1"),)}, "taken by the page's own shortcuts"),
    ({"categories": (CategorySpec(name="A", key="t"),)}, "taken by the page's own shortcuts"),
    ({"categories": (CategorySpec(name="A", key="ab"),)}, "one printable character"),
    ({"categories": (CategorySpec(name="A", key=" "),)}, "one printable character"),
    ({"categories": (CategorySpec(name="A", key="a"), CategorySpec(name="B", key="A"))},
     "shortcut keys must be distinct"),
    ({"categories": (CategorySpec(name="A", key="a"), CategorySpec(name="a", key="b"))},
     "names must be distinct"),
    ({"categories": (CategorySpec(name="A", key="a", color="red"),)}, "colour"),
    ({"attributes": (AttributeSpec(name="X", low=1, high=10),)}, "between 0 and 9"),
    ({"attributes": (AttributeSpec(name="X", low=3, high=3),)}, "lower to a higher"),
    ({"attributes": (AttributeSpec(name="X", low=0, high=4, descriptors=("a", "b")),)},
     "one descriptor per level"),
    ({"attributes": (AttributeSpec(name="X", low=0, high=4),
                     AttributeSpec(name="Y", low=1, high=5))}, "same scale"),
    ({"categories": (), "attributes": (), "overall": None}, "at least one"),
    ({"rationale": "sometimes"}, "Unknown rationale mode"),
])
def test_bad_configuration_is_rejected_and_nothing_changes(project, change, message):
    before = table_counts()
    with pytest.raises(ValidationError) as caught:
        fine_grained_configure(project=project, settings=standard_settings(**change))
    assert message in " ".join(caught.value.messages)
    assert table_counts() == before


def test_reconfiguring_keeps_used_rows_and_refuses_to_drop_them(fine_project, fine_items,
                                                                 annotator):
    annotation_submit(assignment=serve(fine_project, annotator),
                      answer=valid_answer(fine_project))
    version = fine_project.guideline_version
    categories, _attributes = ids(fine_project)
    # renaming a used category is refused, and nothing changes
    settings = standard_settings(categories=(
        CategorySpec(name="Made up", key="h", severities=("minor", "major", "critical")),
        CategorySpec(name="Style", key="s")))
    with pytest.raises(ValidationError, match="cannot be removed or renamed"):
        fine_grained_configure(project=fine_project, settings=settings)
    with pytest.raises(ValidationError, match="its scale stays 0-4"):
        fine_grained_configure(project=fine_project, settings=standard_settings(attributes=(
            AttributeSpec(name="Helpfulness", low=1, high=5),
            AttributeSpec(name="Correctness", low=1, high=5))))
    assert SpanCategory.objects.get(pk=categories["Hallucination"].pk).name == "Hallucination"
    # swapping keys and adding a category keeps the ids of the used rows
    fine_grained_configure(project=fine_project, settings=standard_settings(categories=(
        CategorySpec(name="Hallucination", key="s", severities=("minor", "major", "critical")),
        CategorySpec(name="Style", key="h"), CategorySpec(name="Tone", key="o"))))
    after, _ = ids(fine_project)
    assert after["Hallucination"].pk == categories["Hallucination"].pk
    assert (after["Hallucination"].key, after["Style"].key) == ("s", "h")
    fine_project.refresh_from_db()
    assert fine_project.guideline_version == version + 1
    assert Span.objects.count() == 2
    assert Rating.objects.count() == 2


def test_saving_the_same_configuration_keeps_the_guideline_version(fine_project):
    version = fine_project.guideline_version
    fine_grained_configure(project=fine_project, settings=standard_settings())
    fine_project.refresh_from_db()
    assert fine_project.guideline_version == version


def test_settings_form_round_trips_its_text_format(fine_project):
    initial = FineGrainedSettingsForm.initial_from(fine_grained_task(fine_project))
    form = FineGrainedSettingsForm(data=initial)
    assert form.is_valid(), form.errors
    assert form.to_settings() == standard_settings(categories=(
        CategorySpec(name="Hallucination", key="h", color="#e4572e",
                     description="Not supported by the prompt or by facts",
                     severities=("minor", "major", "critical")),
        CategorySpec(name="Style", key="s", color="#29335c")))


def test_settings_form_reports_bad_lines_by_number():
    form = FineGrainedSettingsForm(data={
        "categories": "h | Hallucination\njust a name", "rationale": "optional",
        "attributes": "  0: orphan descriptor\nHelpfulness | zero to four",
        "overall_scale": "1-5", "overall_descriptors": "1: bad\n3: skipped a level"})
    assert not form.is_valid()
    assert "Line 2" in form.errors["categories"][0]
    assert "Line 1" in form.errors["attributes"][0]
    assert "Line 2" in form.errors["attributes"][1]
    assert "in order" in form.errors["overall_descriptors"][0]


# --- serving ------------------------------------------------------------------------------


def test_items_are_served_fewest_annotations_first_and_never_twice(fine_project, annotator):
    items = [ItemFactory(project=fine_project, content=f"text {n}") for n in range(3)]
    other = UserFactory(username="other")
    MembershipFactory(project=fine_project, user=other)
    first = serve(fine_project, other)
    annotation_submit(assignment=first, answer=valid_answer(fine_project, spans=()))
    seen = []
    for _ in range(3):
        assignment = serve(fine_project, annotator)
        assert assignment.right_item_id is None
        assert serve(fine_project, annotator) == assignment  # the open task is kept
        seen.append(assignment.left_item_id)
        annotation_submit(assignment=assignment, answer=valid_answer(fine_project, spans=()))
    assert sorted(seen) == sorted(item.pk for item in items)
    assert seen[-1] == first.left_item_id  # the item someone already did comes last
    assert item_assignment_for_rater(project=fine_project, rater=annotator) is None


# --- submission ---------------------------------------------------------------------------


def test_valid_submission_is_stored_with_all_parts(fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    AnnotationDraft.objects.create(rater=annotator, item=assignment.left_item, data={"x": 1})
    result = annotation_submit(assignment=assignment, answer=valid_answer(fine_project))
    annotation = result.annotation
    assert result.created
    assert (annotation.item_id, annotation.rater, annotation.overall_rating) == (
        assignment.left_item_id, annotator, 4)
    assert annotation.guideline_version == fine_project.guideline_version
    assert annotation.idempotency_key == assignment.key
    assert 0 <= annotation.active_seconds <= 2.0
    assert sorted(Rating.objects.values_list("value", flat=True)) == [0, 3]
    spans = list(Span.objects.order_by("start").values_list("start", "end", "severity", "note"))
    assert spans == [(0, 2, "", ""), (1, 6, "major", "made up")]  # overlapping is fine
    assignment.refresh_from_db()
    assert assignment.status == "done"
    assert not AnnotationDraft.objects.exists()


def test_resubmission_is_idempotent(fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    first = annotation_submit(assignment=assignment, answer=valid_answer(fine_project))
    again = annotation_submit(assignment=assignment, answer=valid_answer(fine_project, overall=1))
    assert not again.created
    assert again.annotation == first.annotation
    assert Annotation.objects.count() == 1
    assert Span.objects.count() == 2
    assert Annotation.objects.get().overall_rating == 4


def _bad(project, item_length):
    categories, attributes = ids(project)
    hallucination, style = categories["Hallucination"].pk, categories["Style"].pk
    helpfulness = attributes["Helpfulness"].pk
    return [
        ({"spans": (SpanInput(start=0, end=item_length + 1, category=style),)},
         "outside the text"),
        ({"spans": (SpanInput(start=-1, end=2, category=style),)}, "outside the text"),
        ({"spans": (SpanInput(start=3, end=3, category=style),)}, "outside the text"),
        ({"spans": (SpanInput(start=0, end=2, category=987654),)}, "unknown category"),
        ({"spans": (SpanInput(start=0, end=2, category=hallucination, severity="huge"),)},
         "choose a severity"),
        ({"spans": (SpanInput(start=0, end=2, category=hallucination),)}, "choose a severity"),
        ({"spans": (SpanInput(start=0, end=2, category=style, severity="minor"),)},
         "has no severity levels"),
        ({"ratings": {helpfulness: 5}}, "must be between 0 to 4, not 5"),
        ({"ratings": {helpfulness: 2, 999999: 1}}, "Unknown rating attribute"),
        ({"overall": 0}, "overall rating must be between 1 to 5"),
        ({"overall": None}, "Give an overall rating"),
        ({"missing": True, "missing_note": " "}, "Say what is missing"),
        ({"missing_note": "a note without the flag"}, "needs the “something is missing” flag"),
    ]


def test_bad_submissions_are_rejected_with_a_clear_message_and_nothing_stored(
        fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    length = len(assignment.left_item.content)
    for change, message in _bad(fine_project, length):
        before = table_counts()
        with pytest.raises(ValidationError) as caught:
            annotation_submit(assignment=assignment, answer=valid_answer(fine_project, **change))
        assert message in " ".join(caught.value.messages), change
        assert table_counts() == before
    assignment.refresh_from_db()
    assert assignment.status == "open"


def test_missing_rationale_is_rejected_when_required(fine_project, fine_items, annotator):
    fine_grained_configure(project=fine_project,
                           settings=standard_settings(rationale=RationaleMode.REQUIRED))
    assignment = serve(fine_project, annotator)
    with pytest.raises(ValidationError, match="A rationale is required"):
        annotation_submit(assignment=assignment,
                          answer=valid_answer(fine_project, rationale="   "))
    assert not Annotation.objects.exists()
    skipped = annotation_submit(assignment=assignment,
                                answer=AnnotationInput(skipped=True, rationale=""))
    assert skipped.annotation.skipped
    assert not Rating.objects.exists()


def test_a_rater_cannot_annotate_the_same_item_twice(fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    annotation_submit(assignment=assignment, answer=valid_answer(fine_project))
    duplicate = Assignment.objects.create(
        project=fine_project, rater=annotator, left_item=assignment.left_item,
        selection_strategy="test", expires_at=assignment.expires_at)
    with pytest.raises(ValidationError, match="already annotated"):
        annotation_submit(assignment=duplicate, answer=valid_answer(fine_project))
    assert Annotation.objects.count() == 1


def test_a_pairwise_assignment_is_not_a_fine_grained_task(fine_project, fine_items, annotator):
    pair = Assignment.objects.create(
        project=fine_project, rater=annotator, left_item=fine_items[0],
        right_item=fine_items[1], selection_strategy="test",
        expires_at=serve(fine_project, annotator).expires_at)
    with pytest.raises(ValidationError, match="not a fine-grained task"):
        annotation_submit(assignment=pair, answer=valid_answer(fine_project))


# --- offsets ------------------------------------------------------------------------------


def test_offsets_are_code_points_of_the_stored_text(fine_project, annotator):
    item = ItemFactory(project=fine_project, content=EMOJI_TEXT)
    categories, _ = ids(fine_project)
    wave = EMOJI_TEXT.index("👋")
    family = EMOJI_TEXT.index("👨")
    cafe = EMOJI_TEXT.index("cafe")
    wanted = [(wave, wave + 2), (family, family + 5), (cafe, cafe + 5)]  # 👋🏽, ZWJ family, cafe+◌́
    spans = tuple(SpanInput(start=a, end=b, category=categories["Style"].pk) for a, b in wanted)
    assignment = serve(fine_project, annotator)
    assert assignment.left_item == item
    annotation_submit(assignment=assignment, answer=valid_answer(fine_project, spans=spans))
    stored = [(span.start, span.end) for span in Span.objects.order_by("start")]
    assert stored == wanted
    texts = [item.content[a:b] for a, b in stored]
    assert texts == ["👋🏽", "👨‍👩‍👧", "cafe\u0301"]
    assert unicodedata.normalize("NFC", texts[2]) == "café"  # stored as imported (NFD)


def test_text_pieces_isolate_line_breaks_and_cover_the_text_exactly():
    text = "a😀\r\nb\rc\x00d"
    pieces = text_pieces(text)
    assert [(p.offset, p.length, p.text, p.special) for p in pieces] == [
        (0, 2, "a😀", False), (2, 2, "\n", True), (4, 1, "b", False), (5, 1, "\n", True),
        (6, 1, "c", False), (7, 1, "\ufffd", True), (8, 1, "d", False)]
    assert sum(p.length for p in pieces) == len(text)
    assert text_pieces("") == []


# --- drafts -------------------------------------------------------------------------------


def test_drafts_are_saved_restored_and_deleted_on_submit(fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    task = fine_grained_task(fine_project)
    categories, attributes = ids(fine_project)
    spans = [{"start": 1, "end": 4, "category": categories["Style"].pk}]
    form = AnnotationForm(data={"key": str(assignment.key), "spans": json.dumps(spans),
                                f"rating_{attributes['Helpfulness'].pk}": "2",
                                "rationale": "half done", "active_ms": "1500"}, task=task)
    assert form.is_valid(), form.errors
    annotation_draft_save(assignment=assignment, data=form.to_draft())
    annotation_draft_save(assignment=assignment, data=form.to_draft())  # an update, not a copy
    draft = AnnotationDraft.objects.get()
    initial = AnnotationForm.initial_from_draft(assignment.key, draft.data)
    assert initial[f"rating_{attributes['Helpfulness'].pk}"] == 2
    assert initial["rationale"] == "half done"
    assert initial["active_ms"] == 1500
    assert json.loads(initial["spans"]) == [{**spans[0], "severity": "", "note": ""}]
    annotation_submit(assignment=assignment, answer=valid_answer(fine_project))
    assert not AnnotationDraft.objects.exists()
    # a late autosave after the submission is dropped
    assert annotation_draft_save(assignment=assignment, data=form.to_draft()) is None
    assert not AnnotationDraft.objects.exists()


def test_oversized_draft_is_refused(fine_project, fine_items, annotator):
    assignment = serve(fine_project, annotator)
    with pytest.raises(ValidationError, match="too large"):
        annotation_draft_save(assignment=assignment, data={"rationale": "x" * 300_000})
    assert not AnnotationDraft.objects.exists()


@pytest.mark.parametrize(("spans", "message"), [
    ("not json", "not valid JSON"),
    ('{"start": 1}', "must be a list"),
    ('[{"start": 1, "end": 2}]', "needs start, end and category"),
    ('[{"start": "1", "end": 2, "category": 3}]', "whole numbers"),
    ('[{"start": true, "end": 2, "category": 3}]', "whole numbers"),
    ('[{"start": 1, "end": 2, "category": 3, "note": 5}]', "must be text"),
])
def test_malformed_spans_field_is_a_form_error(fine_project, spans, message):
    form = AnnotationForm(data={"key": "0" * 32, "spans": spans},
                          task=fine_grained_task(fine_project))
    assert not form.is_valid()
    assert message in form.errors["spans"][0]


def test_unknown_attribute_values_in_the_form_are_not_passed_on(fine_project):
    _, attributes = ids(fine_project)
    form = AnnotationForm(data={"key": "0" * 32, "rating_999": "3",
                                f"rating_{attributes['Correctness'].pk}": "1"},
                          task=fine_grained_task(fine_project))
    assert form.is_valid(), form.errors
    assert form.to_input().ratings == {attributes["Correctness"].pk: 1}
    assert RatingAttribute.objects.count() == 2
