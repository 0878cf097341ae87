"""The pairwise task: serve a pair, take the judgment, undo the last one.

With htmx the task fragment is swapped in place; without JavaScript the same forms post
normally and the page redirects back (post/redirect/get).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import Capability, ProjectAccess, Task, assignment_get_for_rater
from annotations.forms import JudgmentForm, UndoForm
from annotations.models import Assignment, Outcome, Project
from annotations.selectors.items import pair_prompt
from annotations.selectors.judgments import judgment_last_for_rater
from annotations.selectors.projects import guidelines_new_to, rater_pair_progress
from annotations.services.judgments import assignment_for_rater, judgment_submit, judgment_undo
from annotations.views.common import add_errors, project_view

SHORTCUTS = [("1 or ←", "Left is better"), ("2 or →", "Right is better"),
             ("0 or ↓", "Tie"), ("b", "Both bad"), ("q w e r t", "Strength level"),
             ("c", "Per-criterion verdicts: then 1 or ←, 0 or ↓, 2 or → for each criterion"),
             ("n", "Write the rationale (Esc leaves it)"),
             ("Ctrl+Enter", "Submit the verdict chosen before “rationale required”"),
             ("s", "Skip"), ("u", "Undo the last judgment"), ("?", "Show these shortcuts")]


@project_view(need=Capability.ANNOTATE, task=Task.PAIRWISE)
def annotate(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    if not project.serves_pairs:  # the lead chose rankings instead of pairs
        return redirect("rank", project.pk)
    assignment = assignment_for_rater(project=project, rater=request.user)
    return _render_task(request, project, assignment, _blank_form(project, assignment))


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.PAIRWISE)
def annotate_submit(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = JudgmentForm(request.POST, criteria=project.criteria)
    assignment = assignment_get_for_rater(request.user, project, request.POST.get("key", ""))
    if form.is_valid():
        try:
            judgment_submit(assignment=assignment, answer=form.to_input())
        except ValidationError as error:
            add_errors(form, error)
        else:
            return _next_task(request, project)
    return _render_task(request, project, assignment, form, status=422)


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.PAIRWISE)
def annotate_undo(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = UndoForm(request.POST)
    error = None
    if form.is_valid():
        try:
            judgment_undo(project=project, rater=request.user, key=form.cleaned_data["key"])
        except ValidationError as problem:
            error = " ".join(problem.messages)
    else:
        error = "Nothing to undo."
    if error is None:
        return _next_task(request, project)
    assignment = assignment_for_rater(project=project, rater=request.user)
    return _render_task(request, project, assignment, _blank_form(project, assignment),
                        status=422, undo_error=error)


def _next_task(request: HttpRequest, project: Project) -> HttpResponse:
    if not request.htmx:
        return redirect("annotate", project.pk)
    assignment = assignment_for_rater(project=project, rater=request.user)
    return _render_task(request, project, assignment, _blank_form(project, assignment))


def _blank_form(project: Project, assignment: Assignment | None) -> JudgmentForm:
    initial = {"key": assignment.key} if assignment else {}
    return JudgmentForm(initial=initial, criteria=project.criteria)


def _render_task(request: HttpRequest, project: Project, assignment: Assignment | None,
                 form: JudgmentForm, *, status: int = 200, undo_error: str | None = None
                 ) -> HttpResponse:
    template = ("annotations/partials/task.html" if request.htmx
                else "annotations/annotate.html")
    pending = _pending_outcome(form)
    return render(request, template, {
        "project": project, "assignment": assignment, "form": form,
        "pending_outcome": pending, "pending_label": Outcome(pending).label if pending else "",
        "instructions_open": guidelines_new_to(project=project, rater=request.user),
        "prompt": pair_prompt(assignment) if assignment else "",
        "criteria": [(index, name, form[f"criterion_{index}"].value() or "")
                     for index, name in enumerate(project.criteria)],
        "strength_levels": list(zip("qwert", project.strength_scale, strict=False)),
        "last_judgment": judgment_last_for_rater(project=project, rater=request.user),
        "undo_error": undo_error, "shortcuts": SHORTCUTS,
        "progress": rater_pair_progress(project=project, rater=request.user),
    }, status=status)


def _pending_outcome(form: JudgmentForm) -> str:
    """The verdict of a submission refused for another reason (e.g. a missing rationale):
    shown as chosen, so that Ctrl+Enter submits it once the rationale is written."""
    if not (form.is_bound and form.errors) or "outcome" in form.errors:
        return ""
    value = form["outcome"].value()
    return value if value in Outcome.values and value != Outcome.SKIP else ""
