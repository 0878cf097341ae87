"""Judging a pair entirely from the keyboard: per-criterion verdicts (c, then 1 0 2), the
rationale key (n), focus on the rationale when it is required, Ctrl+Enter to submit."""

from __future__ import annotations

import pytest

from annotations.models import PairwiseJudgment, Role
from tests.browser.helpers import log_in
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def keyboard_setup(db):
    project = ProjectFactory(name="Keyboard project", criteria=["Helpfulness", "Tone"],
                             rationale="required", instructions="Read **carefully**.")
    for group in ("g1", "g2", "g3"):
        ItemFactory(project=project, group=group, source="model-a", content=f"A {group}")
        ItemFactory(project=project, group=group, source="model-b", content=f"B {group}")
    rater = UserFactory(username="rater", password="correct horse")
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project


def active_element(page) -> str:
    return page.evaluate("() => { const e = document.activeElement;"
                         " return e.id || e.name || e.tagName; }")


def test_criteria_rationale_and_ctrl_enter_from_the_keyboard(page, live_server,
                                                              keyboard_setup, artifacts):
    project = keyboard_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#judgment-form")
    assert page.locator("details.instructions[open]").count() == 1  # a new rater reads them
    first_key = page.input_value("#judgment-form input[name=key]")

    page.keyboard.press("c")
    assert active_element(page) == "criterion_0"
    page.keyboard.press("1")  # Helpfulness: A better; focus moves to Tone
    assert active_element(page) == "criterion_1"
    page.keyboard.press("ArrowRight")  # Tone: B better; the keys judge the pair again
    assert page.is_checked("input[name=criterion_0][value=left]")
    assert page.is_checked("input[name=criterion_1][value=right]")

    page.keyboard.press("2")  # B is better, but the rationale is required
    page.wait_for_selector("#rationale-error")
    assert active_element(page) == "rationale"  # the focus is where the problem is
    assert page.get_attribute("button[data-outcome=right]", "aria-pressed") == "true"
    assert page.is_checked("input[name=criterion_0][value=left]")  # kept after the error
    page.screenshot(path=str(artifacts / "annotate-rationale-required.png"), full_page=True)
    page.keyboard.type("B is kinder 1 2 0")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "old => document.querySelector('#judgment-form input[name=key]').value !== old",
        arg=first_key)

    judgment = PairwiseJudgment.objects.get()
    assert (str(judgment.idempotency_key), judgment.outcome) == (first_key, "right")
    assert judgment.criteria_outcomes == {"Helpfulness": "left", "Tone": "right"}
    assert judgment.rationale == "B is kinder 1 2 0"


def test_n_focuses_the_rationale_and_escape_leaves_it(page, live_server, keyboard_setup):
    project = keyboard_setup
    log_in(page, live_server, "rater", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#judgment-form")
    page.keyboard.press("n")
    assert active_element(page) == "rationale"
    page.keyboard.type("no shortcuts here: 1 2 s")
    page.keyboard.press("Escape")
    assert active_element(page) != "rationale"
    assert not PairwiseJudgment.objects.exists()
    page.keyboard.press("Control+Enter")  # no verdict chosen yet: a hint, no submission
    assert "Choose the verdict first" in page.inner_text("[data-task-hint]")
    assert not PairwiseJudgment.objects.exists()
