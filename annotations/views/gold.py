"""Gold questions of a project: list, import from CSV, the rate they are served at."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import Capability, ProjectAccess, Task, gold_question_get_in_project
from annotations.forms_pools import GoldImportForm, GoldRateForm
from annotations.selectors.gold import gold_questions_for_project, gold_rate, gold_scores
from annotations.services.audit import Actor
from annotations.services.gold import gold_delete, gold_import, gold_settings_set
from annotations.views.admin_area import posted
from annotations.views.common import add_errors, project_view


@project_view(need=Capability.MANAGE, methods=("GET", "POST"), task=Task.PAIRWISE)
def gold_questions(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = GoldImportForm(posted(request), posted(request, files=True))
    if request.method == "POST" and form.is_valid():
        try:
            count = gold_import(actor=Actor.of(request), project=access.project,
                                data=form.cleaned_data["file"].read())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Imported {count} gold pairs.")
            return redirect("gold-questions", access.project.pk)
    return _gold_page(request, access, import_form=form, status=422 if form.errors else 200)


@project_view(need=Capability.MANAGE, methods=("POST",), task=Task.PAIRWISE)
def gold_rate_view(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = GoldRateForm(request.POST)
    if form.is_valid():
        try:
            gold_settings_set(actor=Actor.of(request), project=access.project,
                              rate=form.cleaned_data["rate"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Gold pairs are now {form.cleaned_data['rate']:.0%} of "
                                      "served tasks (while unjudged ones remain).")
            return redirect("gold-questions", access.project.pk)
    return _gold_page(request, access, rate_form=form, status=422)


@project_view(need=Capability.MANAGE, methods=("POST",), task=Task.PAIRWISE)
def gold_delete_view(request: HttpRequest, access: ProjectAccess, gold_id: int) -> HttpResponse:
    question = gold_question_get_in_project(access, gold_id)
    gold_delete(actor=Actor.of(request), question=question)
    messages.success(request, "Gold pair removed.")
    return redirect("gold-questions", access.project.pk)


def _gold_page(request: HttpRequest, access: ProjectAccess, *, status: int = 200,
               import_form: GoldImportForm | None = None, rate_form: GoldRateForm | None = None
               ) -> HttpResponse:
    project = access.project
    return render(request, "annotations/gold/list.html", {
        "project": project, "questions": gold_questions_for_project(project),
        "import_form": import_form or GoldImportForm(),
        "rate_form": rate_form or GoldRateForm(initial={"rate": gold_rate(project)}),
        "scores": sorted(gold_scores(project=project).items()),
    }, status=status)
