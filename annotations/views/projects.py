"""Project list, the lead's project page, settings, import and members."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotations.access import Capability, ProjectAccess, can_create_projects
from annotations.forms import ImportForm, MemberForm, ProjectForm
from annotations.selectors.projects import (
    project_list_for_user,
    project_members,
    project_summary,
)
from annotations.services.imports import ImportRejected, ImportSummary, project_import_items
from annotations.services.projects import project_create, project_member_add, project_update
from annotations.views.common import add_errors, project_view

MAX_WARNINGS_SHOWN = 10


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "annotations/project_list.html", {
        "rows": project_list_for_user(request.user),
        "can_create": can_create_projects(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    if not can_create_projects(request.user):
        raise PermissionDenied("You cannot create projects.")
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(creator=request.user, config=form.to_config())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created. Import items next.")
            return redirect("project-import", project.pk)
    return render(request, "annotations/project_form.html", {"form": form, "project": None},
                  status=422 if form.errors else 200)


@project_view(need=Capability.VIEW)
def project_detail(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    return render(request, "annotations/project_detail.html", {
        "project": access.project,
        "can_manage": access.can(Capability.MANAGE),
        "can_annotate": access.can(Capability.ANNOTATE),
        "summary": project_summary(access.project),
        "members": project_members(access.project),
        "member_form": MemberForm(), "import_form": ImportForm(),
    })


@project_view(need=Capability.MANAGE, methods=("GET", "POST"))
def project_settings(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = ProjectForm(request.POST if request.method == "POST" else None,
                       initial=ProjectForm.initial_from(project))
    if request.method == "POST" and form.is_valid():
        try:
            project_update(project=project, config=form.to_config())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-detail", project.pk)
    return render(request, "annotations/project_form.html", {"form": form, "project": project},
                  status=422 if form.errors else 200)


@project_view(need=Capability.MANAGE, methods=("GET", "POST"))
def project_import(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = (ImportForm(request.POST, request.FILES) if request.method == "POST"
            else ImportForm())
    rejected = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            summary = project_import_items(project=project, data=upload.read(),
                                           filename=upload.name)
        except ImportRejected as error:
            rejected = error
        else:
            _import_messages(request, summary)
            return redirect("project-detail", project.pk)
    status = 422 if (rejected or form.errors) else 200
    return render(request, "annotations/project_import.html",
                  {"project": project, "form": form, "rejected": rejected}, status=status)


@project_view(need=Capability.MANAGE, methods=("POST",))
def project_member_add_view(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            change = project_member_add(project=project, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, change.message)
            return redirect("project-detail", project.pk)
    for problem in form.errors.values():
        messages.error(request, " ".join(problem))
    return redirect("project-detail", project.pk)


def _import_messages(request: HttpRequest, summary: ImportSummary) -> None:
    messages.success(request, summary.message)
    for warning in summary.warnings[:MAX_WARNINGS_SHOWN]:
        messages.warning(request, str(warning))
    if len(summary.warnings) > MAX_WARNINGS_SHOWN:
        messages.warning(request, f"… and {len(summary.warnings) - MAX_WARNINGS_SHOWN} more "
                                  "warnings like these.")
