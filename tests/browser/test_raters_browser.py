"""What only a browser shows for rater administration: the lead pauses a rater with an htmx
row swap, and the rater, mid-task, is told why on their next key press."""

from __future__ import annotations

import pytest

from annotations.models import Membership, PairwiseJudgment, Role
from annotations.models.judgment import AssignmentStatus
from tests.browser.helpers import log_in
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(db):
    project = ProjectFactory(name="Browser raters", criteria=[])
    for group in ("g1", "g2", "g3"):
        ItemFactory(project=project, group=group, content=f"First answer {group}")
        ItemFactory(project=project, group=group, content=f"Second answer {group}")
    lead = UserFactory(username="boss", password="lead pass phrase")
    rater = UserFactory(username="rater", password="rater pass phrase")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    return project, lead, rater


def test_lead_pauses_a_rater_who_is_told_why_mid_task(browser, live_server, people, artifacts):
    project, _lead, rater = people
    rater_page = browser.new_context().new_page()
    log_in(rater_page, live_server, "rater", "rater pass phrase")
    rater_page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    rater_page.wait_for_selector("#judgment-form")

    lead_page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(lead_page, live_server, "boss", "lead pass phrase")
    lead_page.goto(f"{live_server.url}/projects/{project.pk}/raters/")
    lead_page.evaluate("window.__noReload = true")
    row = f"#rater-{rater.pk}"
    lead_page.fill(f"{row} input[name=reason]", "please reread the guidelines")
    lead_page.click(f"{row} button:has-text('Apply')")
    lead_page.wait_for_selector(f"{row} .badge.warn")
    assert "please reread the guidelines" in lead_page.inner_text(row)
    assert lead_page.evaluate("window.__noReload") is True  # the row was swapped by htmx
    lead_page.screenshot(path=str(artifacts / "raters.png"), full_page=True)
    assert Membership.objects.get(project=project, user=rater).status == "paused"
    assert not rater.assignments.filter(status=AssignmentStatus.OPEN).exists()

    rater_page.mouse.move(100, 100)
    rater_page.keyboard.press("1")  # judge the task on screen: refused, the page reloads
    rater_page.wait_for_selector("text=paused: please reread the guidelines")
    rater_page.screenshot(path=str(artifacts / "paused-rater.png"), full_page=True)
    assert not PairwiseJudgment.objects.exists()
