"""The fine-grained task: serve an item, autosave the draft, take the submission; and the
lead's fine-grained settings.

With htmx the task fragment is swapped in place; without JavaScript the same form posts
normally (ratings, flags and rationale; marking spans needs the script).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import Capability, ProjectAccess, Task, item_assignment_get_for_rater
from annotations.forms_fine_grained import AnnotationForm, FineGrainedSettingsForm
from annotations.models import Assignment, Project
from annotations.selectors.fine_grained import (
    FineGrainedTask,
    annotation_draft_for_rater,
    fine_grained_task,
    text_pieces,
)
from annotations.selectors.projects import guidelines_new_to, rater_item_progress
from annotations.services.fine_grained import (
    annotation_draft_save,
    annotation_submit,
    item_assignment_for_rater,
)
from annotations.services.fine_grained_config import RESERVED_KEYS, fine_grained_configure
from annotations.views.common import add_errors, project_view

PAGE_SHORTCUTS = [
    ("t", "Go to the text (then ← → move by word, Shift+← → extend, Home End)"),
    ("mouse", "Select text by dragging or double-clicking"),
    ("category key", "Mark the selection with that category"),
    ("category key again", "With nothing selected: next severity of the newest span"),
    ("Delete", "Delete the span chosen in the list (click a highlight to choose it)"),
    ("Esc", "Clear the selection / leave a text field"),
    ("r", "Go to the first unrated row; then a number picks the level and moves on"),
    ("m", "Toggle “something is missing”"),
    ("Ctrl+Enter", "Submit"),
    ("?", "Show these shortcuts"),
]


@project_view(need=Capability.ANNOTATE, task=Task.FINE_GRAINED)
def fine_annotate(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    task = fine_grained_task(project)
    assignment = (item_assignment_for_rater(project=project, rater=request.user)
                  if task.configured else None)
    return _render_task(request, project, task, assignment, _restored_form(task, assignment))


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.FINE_GRAINED)
def fine_submit(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    task = fine_grained_task(project)
    assignment = item_assignment_get_for_rater(request.user, project, request.POST.get("key", ""))
    form = AnnotationForm(request.POST, task=task)
    if form.is_valid():
        try:
            annotation_submit(assignment=assignment, answer=form.to_input())
        except ValidationError as error:
            add_errors(form, error)
        else:
            if not request.htmx:
                return redirect("fine-annotate", project.pk)
            following = item_assignment_for_rater(project=project, rater=request.user)
            return _render_task(request, project, task, following,
                                _restored_form(task, following))
    return _render_task(request, project, task, assignment, form, status=422)


@project_view(need=Capability.ANNOTATE, methods=("POST",), task=Task.FINE_GRAINED)
def fine_draft(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    task = fine_grained_task(access.project)
    assignment = item_assignment_get_for_rater(request.user, access.project,
                                               request.POST.get("key", ""))
    form = AnnotationForm(request.POST, task=task)
    if not form.is_valid():
        return HttpResponse(_error_text(form), status=422, content_type="text/plain")
    try:
        annotation_draft_save(assignment=assignment, data=form.to_draft())
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=422, content_type="text/plain")
    return HttpResponse(status=204)


@project_view(need=Capability.MANAGE, methods=("GET", "POST"), task=Task.FINE_GRAINED)
def fine_settings(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    task = fine_grained_task(project)
    form = FineGrainedSettingsForm(request.POST if request.method == "POST" else None,
                                   initial=FineGrainedSettingsForm.initial_from(task))
    if request.method == "POST" and form.is_valid():
        try:
            fine_grained_configure(project=project, settings=form.to_settings())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Fine-grained settings saved.")
            return redirect("project-detail", project.pk)
    return render(request, "annotations/fine_grained/settings.html", {
        "project": project, "form": form, "reserved_keys": " ".join(sorted(RESERVED_KEYS)),
    }, status=422 if form.errors else 200)


def _restored_form(task: FineGrainedTask, assignment: Assignment | None) -> AnnotationForm:
    if assignment is None:
        return AnnotationForm(task=task)
    draft = annotation_draft_for_rater(rater=assignment.rater, item=assignment.left_item)
    return AnnotationForm(initial=AnnotationForm.initial_from_draft(assignment.key, draft),
                          task=task)


def _error_text(form: AnnotationForm) -> str:
    return " ".join(f"{name}: {' '.join(problems)}" for name, problems in form.errors.items())


def _render_task(request: HttpRequest, project: Project, task: FineGrainedTask,
                 assignment: Assignment | None, form: AnnotationForm, *, status: int = 200
                 ) -> HttpResponse:
    template = ("annotations/fine_grained/partials/task.html" if request.htmx
                else "annotations/fine_grained/annotate.html")
    return render(request, template, {
        "project": project, "task": task, "assignment": assignment, "form": form,
        "pieces": text_pieces(assignment.left_item.content) if assignment else [],
        "rating_rows": _rating_rows(task, form), "overall_levels": _overall_levels(task),
        "overall_current": _current(form, "overall"), "spans_json": _spans_json(form),
        "categories_json": _categories_json(task),
        "progress": rater_item_progress(project=project, rater=request.user),
        "instructions_open": guidelines_new_to(project=project, rater=request.user),
        "shortcuts": PAGE_SHORTCUTS,
    }, status=status)


def _rating_rows(task: FineGrainedTask, form: AnnotationForm) -> list[dict[str, object]]:
    return [{"attribute": attribute, "name": f"rating_{attribute.pk}",
             "current": _current(form, f"rating_{attribute.pk}"),
             "errors": form.errors.get(f"rating_{attribute.pk}")}
            for attribute in task.attributes]


def _current(form: AnnotationForm, name: str) -> str:
    value = form[name].value()
    return "" if value is None else str(value)


def _overall_levels(task: FineGrainedTask) -> list[tuple[int, str]]:
    return task.config.overall_levels if task.configured else []


def _spans_json(form: AnnotationForm) -> str:
    value = form["spans"].value()
    return value if isinstance(value, str) and value else "[]"


def _categories_json(task: FineGrainedTask) -> str:
    return json.dumps([{"id": category.pk, "name": category.name, "key": category.key,
                        "color": category.color, "severities": list(category.severities),
                        "description": category.description}
                       for category in task.categories])
