"""A project's raters page for its leads (roles, pause/resume/block, exclusion from fits,
workload caps, quality gates, pools, notices), and the rater's own quality page.

Row actions answer htmx with the re-rendered row (422 with the error in it); without
JavaScript they redirect back to the page, or show it with the error (422).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from annotations.access import (
    Capability,
    ProjectAccess,
    member_get_in_project,
    notification_get_in_project,
    pool_get_attached,
)
from annotations.forms_pools import (
    AttachPoolForm,
    CapForm,
    ExclusionForm,
    GateForm,
    RoleForm,
    StatusForm,
)
from annotations.models import Membership, Notification, QualityGate
from annotations.selectors.raters import my_quality, rater_rows_for_project
from annotations.services.audit import Actor
from annotations.services.gating import (
    gate_defaults_for,
    gate_signals_for,
    quality_gate_set,
)
from annotations.services.notifications import notification_dismiss
from annotations.services.pools import pool_attach_project, pool_detach_project
from annotations.services.raters import (
    membership_set_exclusion,
    membership_set_role,
    membership_set_status,
    workload_cap_set,
)
from annotations.views.common import add_errors, project_view

MEMBER_ACTIONS = {  # url action: (form, service, success message)
    "status": (StatusForm, membership_set_status, "{user} is now {status}."),
    "role": (RoleForm, membership_set_role, "{user} is now {role}."),
    "exclusion": (ExclusionForm, membership_set_exclusion, "Exclusion from fits updated for "
                                                           "{user}."),
}


@project_view(need=Capability.MANAGE)
def project_raters(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    return _raters_page(request, access)


@project_view(need=Capability.MANAGE, methods=("POST",))
def rater_action(request: HttpRequest, access: ProjectAccess, user_id: int, action: str
                 ) -> HttpResponse:
    membership = member_get_in_project(access, user_id)
    form_class, service, success = MEMBER_ACTIONS[action]
    form = form_class(request.POST)
    if form.is_valid():
        try:
            membership = service(actor=Actor.of(request), membership=membership,
                                 **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            return _row_or_back(request, access, membership, success.format(
                user=membership.user.get_username(), status=membership.status,
                role=membership.role))
    return _row_or_page(request, access, membership, form)


@project_view(need=Capability.MANAGE, methods=("POST",))
def workload_cap(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = CapForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rater = _rater_named(access, data["username"])
            workload_cap_set(actor=Actor.of(request), project=access.project, rater=rater,
                             per_day=data["per_day"], per_project=data["per_project"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Workload cap saved.")
            return redirect("project-raters", access.project.pk)
    return _raters_page(request, access, cap_form=form, status=422)


@project_view(need=Capability.MANAGE, methods=("POST",))
def quality_gate(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = GateForm(request.POST, signals=gate_signals_for(access.project))
    if form.is_valid():
        try:
            gate = quality_gate_set(actor=Actor.of(request), project=access.project,
                                    config=form.to_config())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Quality gate saved: {gate}.")
            return redirect("project-raters", access.project.pk)
    return _raters_page(request, access, gate_form=form, status=422)


@project_view(need=Capability.MANAGE, methods=("POST",))
def project_pool_attach(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    form = AttachPoolForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            pool_attach_project(actor=Actor.of(request), pool=form.cleaned_data["pool"],
                                project=access.project)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Pool {form.cleaned_data['pool']} attached: its raters "
                                      "are annotators here now.")
            return redirect("project-raters", access.project.pk)
    return _raters_page(request, access, pool_form=form, status=422)


@project_view(need=Capability.MANAGE, methods=("POST",))
def project_pool_detach(request: HttpRequest, access: ProjectAccess, pool_id: int
                        ) -> HttpResponse:
    pool = pool_get_attached(access, pool_id)
    pool_detach_project(actor=Actor.of(request), pool=pool, project=access.project)
    messages.success(request, f"Pool {pool.name} detached; its raters keep their memberships.")
    return redirect("project-raters", access.project.pk)


@project_view(need=Capability.MANAGE, methods=("POST",))
def notification_dismiss_view(request: HttpRequest, access: ProjectAccess,
                              notification_id: int) -> HttpResponse:
    notification = notification_get_in_project(access, notification_id)
    notification_dismiss(actor=Actor.of(request), notification=notification)
    if request.htmx:
        return HttpResponse("")
    back = "project-detail" if request.POST.get("next") == "detail" else "project-raters"
    return redirect(back, access.project.pk)


@login_required
@require_GET
def my_quality_view(request: HttpRequest) -> HttpResponse:
    return render(request, "annotations/raters/my_quality.html",
                  {"projects": my_quality(request.user)})


def _raters_page(request: HttpRequest, access: ProjectAccess, *, status: int = 200,
                 **forms: object) -> HttpResponse:
    project = access.project
    return render(request, "annotations/raters/project.html", {
        "project": project, "rows": rater_rows_for_project(project),
        "notices": Notification.objects.filter(project=project, dismissed_at__isnull=True),
        "gates": QualityGate.objects.filter(project=project),
        "pools": project.rater_pools.order_by("name"),
        "cap_form": forms.get("cap_form") or CapForm(),
        "gate_form": forms.get("gate_form") or GateForm(signals=gate_signals_for(project)),
        "pool_form": forms.get("pool_form") or AttachPoolForm(user=request.user),
        "failed": forms.get("failed"), "gate_defaults": gate_defaults_for(project),
    }, status=status)


def _row_or_back(request: HttpRequest, access: ProjectAccess, membership: Membership,
                 message: str) -> HttpResponse:
    if request.htmx:
        return _row(request, access, membership, None, status=200, notice=message)
    messages.success(request, message)
    return redirect("project-raters", access.project.pk)


def _row_or_page(request: HttpRequest, access: ProjectAccess, membership: Membership,
                 form: object) -> HttpResponse:
    if request.htmx:
        return _row(request, access, membership, form, status=422)
    return _raters_page(request, access, failed=(membership.user_id, form), status=422)


def _row(request: HttpRequest, access: ProjectAccess, membership: Membership, form: object,
         *, status: int, notice: str = "") -> HttpResponse:
    [row] = rater_rows_for_project(access.project, user_ids=[membership.user_id])
    return render(request, "annotations/raters/partials/row.html", {
        "project": access.project, "row": row, "failed": (membership.user_id, form),
        "notice": notice}, status=status)


def _rater_named(access: ProjectAccess, username: str) -> object | None:
    if not username.strip():
        return None
    membership = (Membership.objects.select_related("user")
                  .filter(project=access.project, user__username=username.strip()).first())
    if membership is None:
        raise ValidationError({"username": f"{username.strip()!r} is not a member of this "
                                           "project."})
    return membership.user
