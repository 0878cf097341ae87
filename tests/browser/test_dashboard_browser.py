"""The dashboard in a browser: Refit now via htmx, then the polled status swaps in the new
results when the fit lands, without a page reload and without CSP violations."""

from __future__ import annotations

import pytest

from annotations.models import FitRun, FitStatus, Role
from annotations.tasks.fits import fit_run_execute
from tests.annotations.test_fits import add_items, add_judgments, raters, run_fit
from tests.browser.helpers import log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_refit_then_the_new_fit_lands_without_a_reload(page, live_server, artifacts):
    project = ProjectFactory(name="Browser dashboard")
    lead = UserFactory(username="boss", password="correct horse")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    items = add_items(project, groups=4)
    add_judgments(project, items, n=120, raters=raters())
    first = run_fit(project)
    problems = []
    page.on("console", lambda message: problems.append(message.text)
            if message.type in ("error", "warning") else None)

    log_in(page, live_server, "boss", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    page.wait_for_selector("#source-leaderboard")
    assert page.locator("svg.plot").count() >= 2
    assert "Fitted on 120 judgments" in page.inner_text("#fit-status")
    page.evaluate("window.__noReload = true")

    add_judgments(project, items, n=30, raters=raters(), seed=11)
    page.click("#fit-status button[type=submit]")
    page.wait_for_selector("#fit-status .pending")
    run = FitRun.objects.exclude(pk=first.pk).get()
    assert run.status == FitStatus.QUEUED
    assert "is queued" in page.inner_text("#fit-status")
    page.wait_for_selector(f"#fit-history >> text=#{run.pk}")  # panels swapped out of band

    fit_run_execute.apply(args=[run.pk])  # what the worker does
    page.wait_for_function(
        "() => document.querySelector('#fit-status').innerText.includes('Fitted on 150')",
        timeout=20_000)
    assert page.evaluate("window.__noReload") is True
    assert "Succeeded" in page.inner_text(f"#fit-history tr:has-text('#{run.pk}')")
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert problems == []
