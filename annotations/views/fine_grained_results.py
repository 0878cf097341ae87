"""The lead's fine-grained results: item scores, one item's heat-map and ratings, the
raters' quality, and "Refit now"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import Capability, ProjectAccess, Task, project_item_get_for_user
from annotations.fit_kinds import fit_kind_spec
from annotations.selectors.fine_grained_results import (
    fine_item_page,
    fine_raters_page,
    fine_results_page,
)
from annotations.services.fine_grained import fine_grained_fits_request
from annotations.views.common import project_view


@project_view(need=Capability.VIEW, task=Task.FINE_GRAINED)
def fine_results(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    return render(request, "annotations/fine_grained/results.html", {
        "project": access.project, "page": fine_results_page(project=access.project),
        "can_manage": access.can(Capability.MANAGE),
    })


@project_view(need=Capability.VIEW, task=Task.FINE_GRAINED)
def fine_item_results(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    item = project_item_get_for_user(access, request.GET.get("item", ""))
    page = fine_item_page(project=access.project, item=item,
                          category_id=request.GET.get("category"))
    return render(request, "annotations/fine_grained/item.html",
                  {"project": access.project, "page": page})


@project_view(need=Capability.VIEW, task=Task.FINE_GRAINED)
def fine_raters(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    return render(request, "annotations/fine_grained/raters.html", {
        "project": access.project, "page": fine_raters_page(project=access.project),
        "can_manage": access.can(Capability.MANAGE),
    })


@project_view(need=Capability.MANAGE, methods=("POST",), task=Task.FINE_GRAINED)
def fine_refit(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    try:
        requests = fine_grained_fits_request(project=access.project,
                                             requested_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        queued = [fit_kind_spec(r.run.kind).label for r in requests if r.queued]
        messages.success(request, f"Queued: {', '.join(queued)}." if queued else
                         "The fits on this data exist already.")
    target = "fine-raters" if request.POST.get("next") == "raters" else "fine-results"
    return redirect(target, access.project.pk)
