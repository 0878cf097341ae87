"""Ranking k responses in chromium: by keys (numbers, arrows, Home/End, j/k, Enter, s, u,
?), by dragging with a mouse and with a finger at 390 px, the phone layout (no sideways
scrolling), contrast of the main controls in the light and dark themes, and screenshots
under artifacts/ (1366 px and 390 px, light and dark)."""

from __future__ import annotations

import pytest

from annotations.models import Ranking, Role
from annotations.services.audit import Actor
from annotations.services.ranking_config import RankingSettings, project_ranking_configure
from tests.browser.helpers import CONTRAST_JS, log_in, shoot
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse"
RESPONSES = ["**Paris** is the capital of France.", "It is Lyon, probably.",
             "France's capital: Paris (since 987).",
             "I cannot answer questions about geography, but here is a very long word: "
             "Pneumonoultramicroscopicsilicovolcanoconiosis."]


@pytest.fixture
def ranking_setup(db):
    project = ProjectFactory(name="Ranking project", instructions="Rank by **accuracy**.")
    for group in ("g1", "g2"):
        for index, content in enumerate(RESPONSES):
            ItemFactory(project=project, group=group, source=f"model-{index}",
                        prompt="What is the capital of France?", content=content)
    lead = UserFactory(username="lead", password=PASSWORD)
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    rater = UserFactory(username="rater", password=PASSWORD)
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project_ranking_configure(actor=Actor(user=lead), project=project,
                                     settings=RankingSettings("alongside", 4, 3))


def order(page) -> list[int]:
    return page.eval_on_selector_all("#task [data-rank-item]",
                                     "items => items.map(item => Number(item.dataset.itemId))")


def places(page) -> list[int]:
    return page.eval_on_selector_all("#task [data-place-select]",
                                     "selects => selects.map(select => Number(select.value))")


def focused_item(page) -> int | None:
    return page.evaluate("() => { const item = document.activeElement.closest('[data-rank-item]');"
                         " return item ? Number(item.dataset.itemId) : null; }")


def open_rank_page(page, live_server, project) -> str:
    log_in(page, live_server, "rater", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.wait_for_selector("#ranking-form [data-drag-handle]:not([hidden])")
    return page.input_value("#ranking-form input[name=key]")


def wait_for_next_task(page, old_key: str) -> None:
    page.wait_for_function(
        "old => { const key = document.querySelector('#ranking-form input[name=key]');"
        " return key && key.value !== old; }", arg=old_key)


def test_ranking_by_keys_then_undo_skip_and_shortcuts(page, live_server, ranking_setup):
    key = open_rank_page(page, live_server, ranking_setup)
    a, b, c, d = start = order(page)
    assert focused_item(page) == a  # ready for keys at once
    page.keyboard.press("4")  # A to the bottom
    assert order(page) == [b, c, d, a]
    assert focused_item(page) == a
    assert places(page) == [1, 2, 3, 4]
    page.keyboard.press("ArrowUp")  # A up one place
    assert order(page) == [b, c, a, d]
    page.keyboard.press("k")  # focus moves to C, nothing moves
    assert focused_item(page) == c
    assert order(page) == [b, c, a, d]
    page.keyboard.press("Home")  # C to the top
    assert order(page) == [c, b, a, d]
    page.keyboard.press("j")
    page.keyboard.press("ArrowDown")  # B below A
    assert order(page) == [c, a, b, d]
    assert "is now in place 3 of 4" in page.inner_text("[data-rank-announce]")
    page.keyboard.press("Enter")
    wait_for_next_task(page, key)
    ranking = Ranking.objects.get()
    assert list(ranking.places.values_list("item_id", flat=True)) == [c, a, b, d]
    assert list(ranking.places.values_list("shown", flat=True)) == [
        start.index(item) + 1 for item in (c, a, b, d)]
    assert ranking.active_seconds > 0

    page.keyboard.press("u")  # undo: the same task, in the order given
    page.wait_for_function("() => document.querySelector('#task [data-undo]') === null")
    assert order(page) == [c, a, b, d]
    ranking.refresh_from_db()
    assert ranking.undone_at is not None
    key = page.input_value("#ranking-form input[name=key]")
    page.keyboard.press("s")
    wait_for_next_task(page, key)
    assert Ranking.objects.filter(skipped=True, undone_at__isnull=True).count() == 1
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")
    assert "Drag a response by its handle" in page.inner_text("#shortcuts")


def drag_to(page, handle, target, *, below: bool = False) -> None:
    """Press the mouse on ``handle`` and release it over the top (``below``: the bottom)
    of ``target``: past a response's middle is past the response."""
    handle.evaluate("handle => handle.scrollIntoView({block: 'center'})")  # off the bar
    start, end = handle.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    y = end["y"] + end["height"] - 5 if below else end["y"] + 5
    page.mouse.move(end["x"] + 20, y, steps=12)
    page.mouse.up()


def test_ranking_by_mouse_drag_and_ctrl_enter(page, live_server, ranking_setup, artifacts):
    page.set_viewport_size({"width": 1366, "height": 1200})
    key = open_rank_page(page, live_server, ranking_setup)
    a, b, c, d = order(page)
    items = page.locator("#task [data-rank-item]")
    drag_to(page, items.nth(3).locator("[data-drag-handle]"), items.nth(0))  # D to the top
    assert order(page) == [d, a, b, c]
    assert places(page) == [1, 2, 3, 4]
    assert focused_item(page) == d
    drag_to(page, items.nth(1).locator("[data-drag-handle]"), items.nth(3), below=True)
    assert order(page) == [d, b, c, a]
    shoot(page, artifacts / "rank-1366-light-dragged.png")
    page.keyboard.press("Control+Enter")
    wait_for_next_task(page, key)
    ranking = Ranking.objects.get()
    assert list(ranking.places.values_list("item_id", flat=True)) == [d, b, c, a]


def touch_drag(page, handle, target) -> None:
    """A finger on ``handle``, moved to the top of ``target``, lifted (CDP touch events,
    which chromium turns into pointer events of type touch)."""
    target.evaluate("target => target.scrollIntoView({block: 'start'})")
    start, end = handle.bounding_box(), target.bounding_box()
    assert 0 < end["y"] < start["y"] < page.viewport_size["height"] - 100  # both in view
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    session = page.context.new_cdp_session(page)
    session.send("Input.dispatchTouchEvent",
                 {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    goal = end["y"] + 5
    for step in range(1, 11):  # at a finger's pace, then held still: no fling
        session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
            {"x": x, "y": y + (goal - y) * step / 10}]})
        page.wait_for_timeout(16)
    page.wait_for_timeout(150)
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    session.detach()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


def test_ranking_by_touch_on_a_phone_without_sideways_scrolling(phone, live_server,
                                                                ranking_setup, artifacts):
    key = open_rank_page(phone, live_server, ranking_setup)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    a, b, c, d = order(phone)
    items = phone.locator("#task [data-rank-item]")
    touch_drag(phone, items.nth(1).locator("[data-drag-handle]"), items.nth(0))  # B to top
    assert order(phone) == [b, a, c, d]
    assert places(phone) == [1, 2, 3, 4]
    shoot(phone, artifacts / "rank-390-light-touch.png")
    submit = phone.locator("[data-rank-submit]").bounding_box()
    assert submit["height"] >= 44  # a large touch target, in the sticky bar
    assert submit["y"] + submit["height"] <= 844
    phone.locator("[data-rank-submit]").tap()
    wait_for_next_task(phone, key)
    ranking = Ranking.objects.get()
    assert list(ranking.places.values_list("item_id", flat=True)) == [b, a, c, d]
    phone.goto(f"{live_server.url}/projects/{ranking_setup.pk}/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


# The main controls have text of their own, so CONTRAST_JS measures each of them.
MEASURED_JS = """() => Object.fromEntries(["[data-rank-submit]", "[data-rank-skip]",
  "[data-place-select]", ".rank-title", ".rank-help", ".progress"].map(selector => {
  const element = document.querySelector("#task " + selector);
  const box = element && element.getBoundingClientRect();
  return [selector, Boolean(box && box.width && box.height)];
}))"""


@pytest.mark.parametrize(("scheme", "width"), [("light", 1366), ("dark", 1366),
                                               ("light", 390), ("dark", 390)])
def test_main_controls_keep_aa_contrast_in_both_themes(browser, live_server, ranking_setup,
                                                       artifacts, scheme, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        open_rank_page(page, live_server, ranking_setup)
        contrast = page.evaluate(CONTRAST_JS)
        measured = page.evaluate(MEASURED_JS)
        assert not contrast["failures"], f"{scheme} at {width} px: {contrast['failures']}"
        assert all(measured.values()), measured  # the main controls were among them
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, artifacts / f"rank-{width}-{scheme}.png")
    finally:
        context.close()


def test_the_settings_page_at_both_widths(browser, live_server, ranking_setup, artifacts):
    for width in (1366, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            log_in(page, live_server, "lead", PASSWORD)
            page.goto(f"{live_server.url}/projects/{ranking_setup.pk}/rank/settings/")
            assert page.is_checked("input[name=mode][value=alongside]")
            assert "2 tasks" in page.inner_text("main")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shoot(page, artifacts / f"rank-settings-{width}.png")
        finally:
            context.close()
