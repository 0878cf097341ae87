"""What only a browser shows: keyboard shortcuts, htmx swaps without reloads, undo."""

from __future__ import annotations

import pytest

from annotations.models import PairwiseJudgment, Role
from tests.browser.helpers import log_in
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pairwise_setup(db):
    project = ProjectFactory(name="Browser project", criteria=["Helpfulness"], allow_ties=True,
                             allow_both_bad=True, rationale="optional")
    for group in ("g1", "g2", "g3", "g4"):
        ItemFactory(project=project, group=group, source="model-a",
                    content=f"**Answer A** for {group} <script>alert(1)</script>")
        ItemFactory(project=project, group=group, source="model-b",
                    content=f"Answer B for {group}")
    rater = UserFactory(username="rater", password="correct horse")
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project, rater


def current_key(page) -> str:
    return page.input_value("#judgment-form input[name=key]")


def press_and_wait_for_next(page, key: str) -> None:
    before = current_key(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "old => { const f = document.querySelector('#judgment-form input[name=key]');"
        " return f && f.value !== old; }", arg=before)


def test_judge_three_pairs_with_the_keyboard_then_undo(page, live_server, pairwise_setup,
                                                       artifacts):
    project, rater = pairwise_setup
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#judgment-form")
    page.evaluate("window.__noReload = true")
    page.mouse.move(200, 200)  # the rater is active
    page.screenshot(path=str(artifacts / "annotate.png"), full_page=True)

    press_and_wait_for_next(page, "1")
    press_and_wait_for_next(page, "ArrowRight")
    press_and_wait_for_next(page, "0")
    assert PairwiseJudgment.objects.filter(undone_at__isnull=True).count() == 3

    undone_key = page.input_value("form[data-undo-form] input[name=key]")
    page.keyboard.press("u")
    page.wait_for_function(
        "k => document.querySelector('#judgment-form input[name=key]').value !== k",
        arg=current_key(page))

    assert page.evaluate("window.__noReload") is True  # htmx swapped, no page load
    assert dialogs == []  # the <script> in an item never ran
    judgments = list(PairwiseJudgment.objects.order_by("id"))
    assert [j.outcome for j in judgments] == ["left", "right", "tie"]
    assert [j.undone_at is None for j in judgments] == [True, True, False]
    assert str(judgments[2].idempotency_key) == undone_key
    assert all(j.rater == rater for j in judgments)
    # the undone pair is on screen again, same sides
    again = page.locator("#judgment-form article[data-side=left]").inner_text()
    assert judgments[2].left_item.content.split("<script>")[0].replace("**", "").strip() in again


def test_question_mark_shows_shortcuts_and_keys_are_on_buttons(page, live_server,
                                                               pairwise_setup):
    project, _rater = pairwise_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    for outcome, key in (("left", "1"), ("right", "2"), ("tie", "0"), ("both_bad", "b"),
                         ("skip", "s")):
        assert key in page.inner_text(f"button[data-outcome={outcome}] kbd >> nth=0")
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")
    assert "Undo the last judgment" in page.inner_text("#shortcuts")


def test_typing_a_rationale_does_not_trigger_shortcuts(page, live_server, pairwise_setup):
    project, _rater = pairwise_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.fill("#rationale", "")
    page.click("#rationale")
    page.keyboard.type("1 2 0 b s u because")
    assert not PairwiseJudgment.objects.exists()
    press_and_wait_for_next_after_escape(page)
    assert PairwiseJudgment.objects.get().rationale == "1 2 0 b s u because"


def press_and_wait_for_next_after_escape(page) -> None:
    page.keyboard.press("Escape")
    press_and_wait_for_next(page, "2")


def test_without_javascript_the_same_form_posts_and_the_next_pair_loads(browser, live_server,
                                                                        pairwise_setup):
    project, _rater = pairwise_setup
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, "rater", "correct horse")
        page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
        first = current_key(page)
        with page.expect_navigation():
            page.click("button[data-outcome=right]")
        assert current_key(page) != first
        judgment = PairwiseJudgment.objects.get()
        assert (str(judgment.idempotency_key), judgment.outcome) == (first, "right")
        assert "1 of 4 pairs done" in page.inner_text("#task .progress")
    finally:
        context.close()
