"""Span selection in a real browser: mouse and keyboard selection, category keys,
highlights, draft restore after a reload, submission with exact code point offsets."""

from __future__ import annotations

import pytest

from annotations.models import Annotation, AnnotationDraft, Role, Span
from tests.annotations.fine_grained_setup import make_fine_grained
from tests.browser.helpers import log_in
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = ("Hi 👋🏽 family 👨‍👩‍👧 from 🇫🇷! The moon is made of cheese.\r\n"
        "Second line: cafe\u0301 au lait <script>alert(1)</script>.")


@pytest.fixture
def fine_setup(db):
    project = make_fine_grained(ProjectFactory(name="Span project"))
    item = ItemFactory(project=project, content=TEXT, prompt="Tell me about the moon.")
    rater = UserFactory(username="rater", password="correct horse")
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project, item


def drag_over(page, needle: str) -> None:
    """Select ``needle`` with the mouse: press left of its first glyph, release right of
    its last (coordinates measured in the page, offsets never computed by the test)."""
    box = page.evaluate("""needle => {
        const text = document.querySelector('[data-fg-text]');
        const at = text.textContent.indexOf(needle);
        if (at < 0) return null;
        const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
        const locate = (index) => {  // a UTF-16 index into textContent -> (node, offset)
            walker.currentNode = text;
            let seen = 0, node;
            while ((node = walker.nextNode())) {
                if (index <= seen + node.length) return [node, index - seen];
                seen += node.length;
            }
        };
        const range = document.createRange();
        range.setStart(...locate(at));
        range.setEnd(...locate(at + needle.length));
        const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
        const first = rects[0], last = rects[rects.length - 1];
        return {x1: first.left + 1, y1: first.top + first.height / 2,
                x2: last.right - 1, y2: last.top + last.height / 2};
    }""", needle)
    assert box, needle
    page.mouse.move(box["x1"], box["y1"])
    page.mouse.down()
    page.mouse.move((box["x1"] + box["x2"]) / 2, box["y2"], steps=4)
    page.mouse.move(box["x2"], box["y2"], steps=4)
    page.mouse.up()


def marks(page) -> list[str]:
    return page.eval_on_selector_all(".fg-text .fg-mark", "els => els.map(e => e.textContent)")


def wait_for_draft(page) -> None:
    page.wait_for_function(
        "() => (document.querySelector('[data-draft-status]')?.textContent || '')"
        ".startsWith('Draft saved')")


def test_mouse_and_keyboard_spans_survive_a_reload_and_are_stored_exactly(
        page, live_server, fine_setup, artifacts):
    project, _item = fine_setup
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/fine/")
    page.wait_for_selector("[data-fg-text]")

    drag_over(page, "made of cheese")
    page.keyboard.press("h")  # Hallucination, first severity (minor)
    page.wait_for_function("() => document.querySelectorAll('.fg-text .fg-mark').length > 0")
    assert "".join(marks(page)) == "made of cheese"
    page.keyboard.press("h")  # nothing selected: the newest span's severity steps up
    drag_over(page, "cafe\u0301")
    page.keyboard.press("s")

    page.keyboard.press("t")  # keyboard: the first word is selected
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # Hi -> 👋🏽 -> family
    page.keyboard.press("Shift+ArrowRight")  # family + 👨‍👩‍👧
    page.keyboard.press("s")
    assert page.locator(".fg-span-list li").count() == 3

    page.keyboard.press("r")
    for key in ("3", "1", "4"):  # Helpfulness, Correctness, Overall
        page.keyboard.press(key)
    wait_for_draft(page)
    page.screenshot(path=str(artifacts / "fine_grained.png"), full_page=True)
    assert AnnotationDraft.objects.count() == 1

    page.reload()
    page.wait_for_selector("[data-fg-text] .fg-mark")
    assert page.locator(".fg-span-list li").count() == 3
    assert page.is_checked("fieldset[data-rating-row] >> nth=0 >> input[value='3']")
    assert "".join(marks(page)).count("made of cheese") == 1

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Nothing left to annotate")
    annotation = Annotation.objects.get()
    spans = {(span.start, span.end, span.category.name, span.severity)
             for span in Span.objects.select_related("category")}
    cheese, cafe, family = TEXT.index("made of cheese"), TEXT.index("cafe"), TEXT.index("family")
    assert spans == {
        (cheese, cheese + len("made of cheese"), "Hallucination", "major"),
        (cafe, cafe + len("cafe\u0301"), "Style", ""),
        (family, family + len("family 👨‍👩‍👧"), "Style", ""),
    }
    # the browser counted UTF-16 units; the server got code points
    assert len(TEXT[:family].encode("utf-16-le")) // 2 == family + 2
    assert sorted(annotation.ratings.values_list("value", flat=True)) == [1, 3]
    assert annotation.overall_rating == 4
    assert not AnnotationDraft.objects.exists()
    assert dialogs == []  # the <script> in the item never ran


def test_overlapping_spans_can_be_edited_and_deleted(page, live_server, fine_setup):
    project, _item = fine_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/fine/")
    page.wait_for_selector("[data-fg-text]")
    drag_over(page, "The moon is made")
    page.keyboard.press("s")
    drag_over(page, "made of cheese")
    page.keyboard.press("h")
    assert page.locator(".fg-span-list li").count() == 2
    overlap = page.eval_on_selector_all(
        ".fg-text .fg-mark", "els => els.filter(e => e.title.includes('+'))"
                             ".map(e => e.textContent)")
    assert overlap == ["made"]
    # change the second span's category to Style, then delete the first span
    page.select_option(".fg-span-list li >> nth=1 >> select[data-edit=category]", label="Style")
    page.click(".fg-span-list li >> nth=0 >> button[data-action=fg-delete]")
    assert page.locator(".fg-span-list li").count() == 1
    assert "".join(marks(page)) == "made of cheese"
    page.click("fieldset[data-rating-row] >> nth=0 >> input[value='0']")
    page.click("fieldset[data-rating-row] >> nth=1 >> input[value='0']")
    page.click("fieldset[data-rating-row] >> nth=2 >> input[value='1']")
    page.click("[data-fg-submit]")
    page.wait_for_selector("text=Nothing left to annotate")
    span = Span.objects.select_related("category").get()
    start = TEXT.index("made of cheese")
    assert (span.start, span.end, span.category.name, span.severity) == (
        start, start + 14, "Style", "")


def test_a_rejected_submission_keeps_the_spans_on_screen(page, live_server, fine_setup):
    project, _item = fine_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/fine/")
    page.wait_for_selector("[data-fg-text]")
    drag_over(page, "moon")
    page.keyboard.press("s")
    page.keyboard.press("Control+Enter")  # no ratings yet: 422 with the reasons
    page.wait_for_selector("#fg-task .fg-rating.has-error")
    # each reason next to its control, the focus on the first one, none in a box on top
    assert page.locator("#fg-task .error-box").count() == 0
    first_row = page.locator("fieldset[data-rating-row] >> nth=0")
    assert "Rate “Helpfulness”" in first_row.inner_text()
    assert "Rate “Correctness”" in page.locator("fieldset[data-rating-row] >> nth=1").inner_text()
    assert page.evaluate("() => document.activeElement.name") == first_row.locator(
        "input >> nth=0").get_attribute("name")
    assert marks(page) == ["moon"]
    assert not Annotation.objects.exists()
