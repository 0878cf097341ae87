"""Crowd platforms: the lead's studies page, the entry link participants arrive on, and the
completion page with the code to paste back into the platform."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotations.access import (
    Capability,
    ProjectAccess,
    Task,
    crowd_participation_get_for_user,
)
from annotations.forms_pools import CrowdStudyForm
from annotations.models import CrowdStudy
from annotations.services.audit import Actor
from annotations.services.crowd import (
    CrowdPreview,
    crowd_arrival_from,
    crowd_join,
    crowd_participation_complete,
    crowd_platform_return_url,
    crowd_study_check,
    crowd_study_create,
)
from annotations.services.links import LinkRefused
from annotations.services.raters import work_done
from annotations.views.admin_area import posted
from annotations.views.common import add_errors, project_view

LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@project_view(need=Capability.MANAGE, methods=("GET", "POST"), task=Task.PAIRWISE)
def crowd_studies(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = CrowdStudyForm(posted(request))
    link = None
    if request.method == "POST" and form.is_valid():
        try:
            _study, token = crowd_study_create(actor=Actor.of(request), project=access.project,
                                               config=form.to_config())
        except ValidationError as error:
            add_errors(form, error)
        else:
            link = request.build_absolute_uri(reverse("crowd-join", args=[token]))
            form = CrowdStudyForm()
    studies = CrowdStudy.objects.filter(project=access.project).select_related("pool")
    return render(request, "annotations/crowd/studies.html", {
        "project": access.project, "form": form, "link": link, "studies": studies},
        status=422 if form.errors else 200)


@require_GET
def crowd_join_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        study = crowd_study_check(token)
        arrival = crowd_arrival_from(study, request.GET)
        user = crowd_join(study=study, arrival=arrival)
    except CrowdPreview:
        return render(request, "annotations/crowd/preview.html", {"study": study})
    except LinkRefused as refusal:
        return render(request, "annotations/invitations/refused.html",
                      {"message": refusal.message}, status=refusal.status)
    login(request, user, backend=LOGIN_BACKEND)
    return redirect("annotate", study.project_id)


@login_required
@require_GET
def crowd_complete(request: HttpRequest, study_id: int) -> HttpResponse:
    participation = crowd_participation_get_for_user(request.user, study_id)
    study = participation.study
    done = work_done(project=study.project, rater=request.user)
    complete = crowd_participation_complete(participation=participation, done=done)
    return render(request, "annotations/crowd/complete.html", {
        "study": study, "done": done, "complete": complete,
        "return_url": crowd_platform_return_url(study) if complete else None})
