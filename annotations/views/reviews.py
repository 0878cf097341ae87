"""The reviewer queue: a project's judgments, accepted or rejected with a reason."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import Capability, ProjectAccess, Task, judgment_get_in_project
from annotations.forms_pools import ReviewForm
from annotations.selectors.reviews import REVIEW_FILTERS, judgments_for_review
from annotations.services.audit import Actor
from annotations.services.reviews import judgment_review
from annotations.views.common import add_errors, project_view

PAGE_SIZE = 50


@project_view(need=Capability.REVIEW, task=Task.PAIRWISE)
def review_queue(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    show = request.GET.get("show", "unreviewed")
    show = show if show in REVIEW_FILTERS else "unreviewed"
    judgments = judgments_for_review(access.project, show=show)
    page = Paginator(judgments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "annotations/reviews/queue.html", {
        "project": access.project, "page": page, "show": show, "filters": REVIEW_FILTERS})


@project_view(need=Capability.REVIEW, methods=("POST",), task=Task.PAIRWISE)
def judgment_review_view(request: HttpRequest, access: ProjectAccess, judgment_id: int
                         ) -> HttpResponse:
    judgment = judgment_get_in_project(access, judgment_id)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            judgment_review(actor=Actor.of(request), judgment=judgment, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
    if not form.errors and not request.htmx:
        messages.success(request, f"Judgment {judgment.pk} {form.cleaned_data['verdict']}.")
        return redirect("review-queue", access.project.pk)
    template = ("annotations/reviews/partials/judgment.html" if request.htmx
                else "annotations/reviews/review_error.html")
    return render(request, template, {
        "project": access.project, "form": form,
        "judgment": judgment_get_in_project(access, judgment.pk)},
        status=422 if form.errors else 200)
