"""The ranking task (serve k responses of one group, take the ranking, undo the last one)
and the lead's ranking settings.

With htmx the task fragment is swapped in place; without JavaScript the same form posts
normally (a place per response) and the page redirects back (post/redirect/get).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import (
    Capability,
    ProjectAccess,
    Task,
    ranking_assignment_get_for_rater,
)
from annotations.forms import UndoForm
from annotations.forms_ranking import RankingForm, RankingSettingsForm, place_field
from annotations.models import Project, RankingAssignment
from annotations.selectors.projects import guidelines_new_to
from annotations.selectors.rankings import (
    ranking_design_summary,
    ranking_last_for_rater,
    ranking_lease_items,
    ranking_prompt,
    rater_ranking_progress,
)
from annotations.services.audit import Actor
from annotations.services.ranking_config import project_ranking_configure
from annotations.services.rankings import ranking_assignment_lease, ranking_submit, ranking_undo
from annotations.views.common import add_errors, project_view

SHORTCUTS = [("1, 2, 3…", "Give the focused response that place (the others move down)"),
             ("↑ ↓", "Move the focused response up or down one place"),
             ("Home End", "Move the focused response to the top or the bottom"),
             ("j k or Tab", "Focus the next or previous response"),
             ("Drag ⠿", "Drag a response by its handle (mouse, pen or touch)"),
             ("Enter or Ctrl+Enter", "Submit the ranking"),
             ("s", "Skip this task"), ("u", "Undo the last ranking"),
             ("?", "Show these shortcuts")]


@project_view(need=Capability.ANNOTATE, task=Task.RANKING)
def rank(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    lease = ranking_assignment_lease(project=project, rater=request.user)
    return _render_task(request, project, lease, _blank_form(lease))


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.PAIRWISE)
def rank_submit(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    lease = ranking_assignment_get_for_rater(request.user, project, request.POST.get("key", ""))
    form = RankingForm(request.POST, item_ids=list(lease.shown_order))
    if form.is_valid():
        try:
            ranking_submit(assignment=lease, answer=form.to_input())
        except ValidationError as error:
            add_errors(form, error)
        else:
            return _next_task(request, project)
    return _render_task(request, project, lease, form, status=422)


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.RANKING)
def rank_undo(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = UndoForm(request.POST)
    error = "Nothing to undo."
    if form.is_valid():
        try:
            ranking_undo(project=project, rater=request.user, key=form.cleaned_data["key"])
        except ValidationError as problem:
            error = " ".join(problem.messages)
        else:
            return _next_task(request, project)
    lease = ranking_assignment_lease(project=project, rater=request.user)
    return _render_task(request, project, lease, _blank_form(lease), status=422,
                        undo_error=error)


@project_view(need=Capability.MANAGE, methods=("GET", "POST"), task=Task.PAIRWISE)
def ranking_settings(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = RankingSettingsForm(request.POST if request.method == "POST" else None,
                               initial=_settings_initial(project))
    if form.is_bound and form.is_valid():
        try:
            project_ranking_configure(actor=Actor.of(request), project=project,
                                      settings=form.to_settings())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Ranking settings saved.")
            return redirect("ranking-settings", project.pk)
    return render(request, "annotations/ranking/settings.html", {
        "project": project, "form": form, "design": ranking_design_summary(project=project),
    }, status=422 if form.is_bound else 200)


def _settings_initial(project: Project) -> dict[str, object]:
    return {"mode": project.ranking_mode, "size": project.ranking_size,
            "overlap": project.ranking_overlap}


def _next_task(request: HttpRequest, project: Project) -> HttpResponse:
    if not request.htmx:
        return redirect("rank", project.pk)
    lease = ranking_assignment_lease(project=project, rater=request.user)
    return _render_task(request, project, lease, _blank_form(lease))


def _blank_form(lease: RankingAssignment | None) -> RankingForm:
    if lease is None:
        return RankingForm(item_ids=[])
    initial = {"key": lease.key, **{place_field(item_id): place for place, item_id
                                    in enumerate(lease.shown_order, 1)}}
    return RankingForm(initial=initial, item_ids=list(lease.shown_order))


def _render_task(request: HttpRequest, project: Project, lease: RankingAssignment | None,
                 form: RankingForm, *, status: int = 200, undo_error: str | None = None
                 ) -> HttpResponse:
    template = ("annotations/ranking/partials/task.html" if request.htmx
                else "annotations/ranking/annotate.html")
    items = ranking_lease_items(lease) if lease else []
    return render(request, template, {
        "project": project, "lease": lease, "form": form, "prompt": ranking_prompt(items),
        "rows": [(chr(ord("A") + index), item, form[place_field(item.pk)])
                 for index, item in enumerate(items)],
        "instructions_open": guidelines_new_to(project=project, rater=request.user),
        "last_ranking": ranking_last_for_rater(project=project, rater=request.user),
        "undo_error": undo_error, "shortcuts": SHORTCUTS,
        "progress": rater_ranking_progress(project=project, rater=request.user),
    }, status=status)
