"""The lead's dashboard over HTTP: panels, plots, escaping, polling, refit, permissions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import FitRun, FitStatus, FitTrigger, Outcome, Role
from annotations.selectors.fits import fit_dashboard_state
from annotations.services.fits import fit_run_fail, fit_run_request
from annotations.tasks.fits import fit_run_execute
from tests.annotations.helpers import table_counts
from tests.annotations.test_fits import FAST, add_items, add_judgments, raters, run_fit
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

DASHBOARD_URLS = ["project-dashboard", "project-dashboard-status", "project-dashboard-refit"]
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def fitted(project, lead):
    items = add_items(project, groups=4)
    add_judgments(project, items, n=160, raters=raters())
    run = run_fit(project)
    assert run.status == FitStatus.SUCCEEDED, run.error
    return run


@pytest.fixture
def evaluated(project, lead):
    items = add_items(project, groups=4)
    add_judgments(project, items, n=160, raters=raters())
    run = run_fit(project, evaluation=True, bootstrap=20)
    assert run.status == FitStatus.SUCCEEDED, run.error
    return run


def page(client, project) -> str:
    response = client.get(reverse("project-dashboard", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


def assert_csp_clean(html: str) -> None:
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # only external scripts


def test_dashboard_shows_leaderboards_plots_bias_raters_evaluation_and_history(
        client_for, lead, project, evaluated):
    fitted = evaluated
    html = page(client_for(lead), project)
    assert_csp_clean(html)
    for source in ("model-a", "model-b", "model-c", "model-d"):
        assert source in html
    assert re.search("\\+\\d+ / \u2212\\d+", html)  # Arena-style intervals
    assert html.count("<svg") >= 4  # forest, heatmap, reliability diagram, learning curve
    assert "Position bias" in html
    assert "more often than its quality predicts" in html or "No clear position bias" in html
    for rater in ("rater0", "rater1", "rater2"):
        assert rater in html
    assert "Held-out log-loss" in html
    assert "constant 0.5" in html
    assert f"#{fitted.pk}" in html
    assert "Fitted on <strong>160</strong> judgments" in html
    assert "Refit now" in html


def test_empty_project_says_so_and_refit_is_refused(client_for, lead, project):
    client = client_for(lead)
    html = page(client, project)
    assert "No judgments yet" in html
    assert "This project has no judgments yet" in html
    before = table_counts()
    response = client.post(reverse("project-dashboard-refit", args=[project.pk]),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Nothing to fit yet" in response.content.decode()
    response = client.post(reverse("project-dashboard-refit", args=[project.pk]), follow=True)
    assert "Nothing to fit yet" in response.content.decode()
    assert table_counts() == before


def test_one_item_project_renders(client_for, lead, project):
    ItemFactory(project=project)
    html = page(client_for(lead), project)
    assert "No fit yet" in html


def test_hostile_names_are_escaped_in_tables_and_svg(client_for, lead, project):
    hostile_items = {}
    for group in range(3):
        for source in (HOSTILE, "plain"):
            hostile_items[(group, source)] = ItemFactory(
                project=project, group=f"g{group}", source=source,
                external_id=f'"><svg onload=alert({group})>{source}')
    add_judgments(project, hostile_items, n=40, raters=raters(),
                  strength={HOSTILE: 0.5, "plain": -0.5})
    run_fit(project)
    html = page(client_for(lead), project)
    assert HOSTILE not in html
    assert "<svg onload" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_status_fragment_swaps_panels_only_when_a_new_run_lands(client_for, lead, project,
                                                               fitted):
    client = client_for(lead)
    url = reverse("project-dashboard-status", args=[project.pk])
    state = fit_dashboard_state(project=project)
    quiet = client.get(url, {"state": state}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="fit-status"' in quiet
    assert "hx-swap-oob" not in quiet
    add_judgments(project, _items(project), n=30,
                  raters=raters(), seed=4)
    newer = fit_run_request(project=project, kind="bradley_terry",
                            trigger=FitTrigger.AUTO, options=FAST).run
    queued = client.get(url, {"state": state}, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-swap-oob" in queued  # the history shows the queued run
    assert f"fit #{newer.pk}" in queued
    assert "every 5s" in queued  # polls faster while a fit is pending
    state = re.search(r"state=([0-9a-z.]+)", queued).group(1)
    fit_run_execute.apply(args=[newer.pk])
    landed = client.get(url, {"state": state}, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-swap-oob" in landed
    assert "Fitted on <strong>190</strong> judgments" in landed
    assert "every 30s" in landed


def _items(project):
    return {(int(item.group[1:]), item.source): item for item in project.items.all()}


def test_refit_button_queues_once(client_for, lead, project, fitted, monkeypatch):
    client = client_for(lead)
    url = reverse("project-dashboard-refit", args=[project.pk])
    add_judgments(project, _items(project), n=5, raters=raters(), seed=7)
    response = client.post(url, {"state": "stale"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = FitRun.objects.latest("id")
    assert (run.status, run.trigger, run.requested_by) == (FitStatus.QUEUED,
                                                           FitTrigger.MANUAL, lead)
    assert "is queued" in response.content.decode()
    again = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "already covers" in again
    assert FitRun.objects.count() == 2
    plain = client.post(url)
    assert plain.status_code == 302
    assert plain["Location"] == reverse("project-dashboard", args=[project.pk])


def test_failed_newer_run_keeps_the_previous_results_and_shows_its_error(
        client_for, lead, project, fitted):
    add_judgments(project, _items(project), n=5, raters=raters(), seed=8)
    newer = fit_run_request(project=project, kind="bradley_terry",
                            trigger=FitTrigger.AUTO).run
    fit_run_fail(run_id=newer.pk, error="Math: NotIdentifiedError: <b>boom</b>")
    html = page(client_for(lead), project)
    assert "Fitted on <strong>160</strong> judgments" in html
    assert "model-a" in html
    assert "NotIdentifiedError: &lt;b&gt;boom&lt;/b&gt;" in html


def test_disconnected_sources_warning_is_shown(client_for, lead, project):
    items = add_items(project, groups=2)
    add_judgments(project, items, n=20, raters=raters(), pairs=[("model-a", "model-b")])
    add_judgments(project, items, n=20, raters=raters(), pairs=[("model-c", "model-d")])
    run_fit(project)
    html = page(client_for(lead), project)
    assert "Warnings" in html
    assert "{model-a, model-b} | {model-c, model-d}" in html


def test_all_ties_dashboard(client_for, lead, project):
    items = add_items(project, groups=2)
    add_judgments(project, items, n=20, raters=raters(), outcome=Outcome.TIE)
    run_fit(project)
    html = page(client_for(lead), project)
    assert "No clear position bias" in html


def test_reviewer_sees_the_dashboard_but_cannot_refit(client_for, project, fitted):
    reviewer = UserFactory(username="reviewer")
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    client = client_for(reviewer)
    assert "Refit now" not in page(client, project)
    before = table_counts()
    response = client.post(reverse("project-dashboard-refit", args=[project.pk]))
    assert response.status_code == 403
    assert table_counts() == before


@pytest.mark.parametrize("name", DASHBOARD_URLS)
def test_annotator_is_forbidden(client_for, annotator, project, fitted, name):
    before = table_counts()
    client = client_for(annotator)
    assert client.get(reverse(name, args=[project.pk])).status_code in (403, 405)
    assert client.post(reverse(name, args=[project.pk])).status_code in (403, 405)
    assert table_counts() == before


@pytest.mark.parametrize("name", DASHBOARD_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_and_nothing_is_written(client_for, outsider, project, fitted,
                                                  name, method):
    before = table_counts()
    response = getattr(client_for(outsider), method)(reverse(name, args=[project.pk]),
                                                     {"state": "x"})
    assert response.status_code == 404
    assert table_counts() == before


def test_project_page_links_to_the_dashboard(client_for, lead, project):
    html = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert reverse("project-dashboard", args=[project.pk]) in html


def test_status_poll_is_cheap(client_for, lead, project, fitted, django_assert_max_num_queries):
    client = client_for(lead)
    url = reverse("project-dashboard-status", args=[project.pk])
    state = fit_dashboard_state(project=project)
    with django_assert_max_num_queries(14):
        client.get(url, {"state": state}, HTTP_HX_REQUEST="true")


def test_other_projects_runs_never_show(client_for, lead, project, fitted):
    elsewhere = ProjectFactory(name="Elsewhere entirely")
    items = add_items(elsewhere, groups=2, sources={"secret-model": 0.0, "other": 0.0})
    add_judgments(elsewhere, items, n=20, raters=raters(),
                  strength={"secret-model": 0.0, "other": 0.0})
    run_fit(elsewhere)
    assert "secret-model" not in page(client_for(lead), project)
