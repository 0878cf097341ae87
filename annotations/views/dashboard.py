"""The lead's dashboard: leaderboards with intervals, plots, rater reliability, predictive
evaluation and fit history, from the latest finished fit.

A small status fragment polls (htmx ``every Ns``); it carries the *state* of the panels the
page shows, and when a run was requested, finished or replaced since, the response also
swaps in fresh panels (out of band). Without JavaScript the page is complete and the
"Refit now" form posts and redirects back.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString

from annotations import plots
from annotations.access import Capability, ProjectAccess, Task
from annotations.models import FitKind, FitTrigger, Project
from annotations.policy import fit_policy
from annotations.selectors.fits import (
    FitDashboard,
    fit_dashboard,
    fit_dashboard_state,
    fit_evaluation_advice,
    fit_run_current,
    fit_staleness,
)
from annotations.selectors.sources import source_tally
from annotations.services.fits import fit_run_request
from annotations.views.common import project_view
from modeling.reports.types import EvaluationJson, EvaluationModelJson

KIND = FitKind.BRADLEY_TERRY
POLL_PENDING_SECONDS, POLL_IDLE_SECONDS = 5, 30
ITEM_FOREST_MAX = 30


@project_view(need=Capability.VIEW, task=Task.PAIRWISE)
def dashboard(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    context = _status_context(access, shown_state=None)
    context.update(_panels_context(access.project))
    return render(request, "annotations/dashboard/page.html", context)


@project_view(need=Capability.VIEW, task=Task.PAIRWISE)
def dashboard_status(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    context = _status_context(access, shown_state=request.GET.get("state", ""))
    if context["refresh"]:
        context.update(_panels_context(access.project))
    return render(request, "annotations/dashboard/status.html", context)


@project_view(need=Capability.MANAGE, methods=("POST",), task=Task.PAIRWISE)
def dashboard_refit(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    try:
        fit = fit_run_request(project=project, kind=KIND, trigger=FitTrigger.MANUAL,
                              requested_by=request.user)
    except ValidationError as problem:
        note, error = None, " ".join(problem.messages)
    else:
        note, error = _refit_note(fit.run.pk, fit.run.get_status_display(), fit.queued), None
    if not request.htmx:
        messages.add_message(request, messages.ERROR if error else messages.SUCCESS,
                             error or note)
        return redirect("project-dashboard", project.pk)
    context = _status_context(access, shown_state=request.POST.get("state", ""))
    context.update(refit_note=note, refit_error=error)
    if context["refresh"]:
        context.update(_panels_context(project))
    return render(request, "annotations/dashboard/status.html", context,
                  status=422 if error else 200)


def _refit_note(run_id: int, status: str, queued: bool) -> str:
    if queued:
        return f"Fit #{run_id} is queued; this page updates when it lands."
    return f"Fit #{run_id} already covers the current judgments ({status.lower()})."


def _status_context(access: ProjectAccess, *, shown_state: str | None) -> dict[str, Any]:
    project = access.project
    current = fit_run_current(project=project, kind=KIND)
    staleness = fit_staleness(project=project, kind=KIND, current=current)
    state = fit_dashboard_state(project=project, kind=KIND)
    return {"project": project, "can_manage": access.can(Capability.MANAGE),
            "current": current, "staleness": staleness, "state": state,
            "refresh": shown_state is not None and shown_state != state,
            "poll_seconds": POLL_PENDING_SECONDS if staleness.pending else POLL_IDLE_SECONDS}


def _panels_context(project: Project) -> dict[str, Any]:
    board = fit_dashboard(project=project, kind=KIND)
    tally = (source_tally(project=project, up_to=board.current.data_version)
             if board.current else None)
    return {"dashboard": board, "plots": _plots(board), "policy": fit_policy(),
            "advice": fit_evaluation_advice(board.evaluation),
            "fitted_model": _fitted_row(board.evaluation), "tally": tally,
            "counts": tally.by_source() if tally else {}}


def _fitted_row(evaluation: EvaluationJson | None) -> EvaluationModelJson | None:
    rows = (evaluation or {}).get("models", [])
    return next((row for row in rows if row["fitted"]), None)


def _plots(board: FitDashboard) -> dict[str, SafeString]:
    figures: dict[str, SafeString] = {}
    if board.sources:
        figures["source_forest"] = _forest_both_sizes(
            [plots.Interval(row.source, row.rating, row.lower, row.upper,
                            note=f"{row.n:.0f} votes") for row in board.sources],
            title="Ratings by source with 95 % intervals")
    if board.items and board.n_items <= ITEM_FOREST_MAX:
        figures["item_forest"] = _forest_both_sizes(
            [plots.Interval(row.item.external_id, row.rating, row.lower, row.upper,
                            note=f"group {row.item.group}, {row.item.source}")
             for row in board.items],
            title="Ratings by item with 95 % intervals")
    table = board.win_rates.get("sources") or board.win_rates.get("items")
    if table:
        order = ([row.source for row in board.sources] if "sources" in board.win_rates
                 else [row.item.external_id for row in board.items])
        names, win_rate, comparisons = _by_rank(table, order)
        figures["heatmap"] = SafeString(
            plots.win_rate_heatmap(names, win_rate, comparisons, title="Observed win rates",
                                   css_class="plot plot-wide")
            + plots.win_rate_heatmap(names, win_rate, comparisons, title="Observed win rates",
                                     narrow=True, css_class="plot plot-narrow"))
    figures.update(_evaluation_plots(board.evaluation))
    return figures


def _forest_both_sizes(rows: list[plots.Interval], *, title: str) -> SafeString:
    """A wide plot and a phone-sized one; the page's CSS shows the one that fits."""
    wide = plots.forest_plot(rows, title=title, axis_label="rating", reference=1000.0,
                             css_class="plot plot-wide")
    narrow = plots.forest_plot(rows, title=title, axis_label="rating", reference=1000.0,
                               width=plots.NARROW, css_class="plot plot-narrow")
    return SafeString(wide + narrow)


def _by_rank(table: dict[str, Any], order: list[str]
             ) -> tuple[list[str], list[list[Any]], list[list[Any]]]:
    """The win-rate matrix with rows and columns in leaderboard order (best first); names
    the leaderboard does not list keep their order after the ranked ones."""
    names = list(table["names"])
    position = {name: rank for rank, name in enumerate(order)}
    index = sorted(range(len(names)), key=lambda i: (position.get(names[i], len(order)), i))
    return ([names[i] for i in index],
            [[table["win_rate"][i][j] for j in index] for i in index],
            [[table["comparisons"][i][j] for j in index] for i in index])


def _evaluation_plots(evaluation: EvaluationJson | None) -> dict[str, SafeString]:
    figures: dict[str, SafeString] = {}
    fitted = _fitted_row(evaluation)
    if fitted:
        figures["reliability"] = plots.reliability_diagram(
            [plots.CalibrationPoint(bin_["predicted"], bin_["observed"], bin_["count"])
             for bin_ in fitted["calibration"] if bin_["count"] and bin_["predicted"] is not None],
            title=f"Reliability diagram: {fitted['name']}")
    curve = (evaluation or {}).get("learning_curve", [])
    if curve:
        figures["learning_curve"] = plots.line_chart(
            [plots.CurvePoint(point["n_train"], point["log_loss"], point["log_loss_se"])
             for point in curve if point["log_loss"] is not None],
            title="Held-out log-loss against training judgments",
            x_label="training judgments", y_label="held-out log-loss",
            reference=math.log(2))
    return figures
