"""Invitations: make one link or a CSV of them, revoke, and accept (the invitee's page)."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotations.access import invitation_get_for_user, invitations_visible_to
from annotations.forms_pools import AccountForm, BulkInvitationForm, InvitationForm
from annotations.models import Invitation, Role
from annotations.selectors.audit import spreadsheet_safe
from annotations.services.audit import Actor
from annotations.services.invitations import (
    IssuedInvitation,
    invitation_accept,
    invitation_bulk_create,
    invitation_check,
    invitation_create,
    invitation_mail,
    invitation_revoke,
)
from annotations.services.links import LinkRefused
from annotations.views.admin_area import manager_view, posted
from annotations.views.common import add_errors

LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@manager_view(methods=("GET", "POST"))
def invitation_list(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(posted(request), user=request.user)
    link = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = invitation_create(actor=Actor.of(request), preset=form.to_preset())
        except ValidationError as error:
            add_errors(form, error)
        else:
            link = invitation_link(request, issued)
            form = InvitationForm(user=request.user)
    return render(request, "annotations/invitations/list.html", {
        "form": form, "link": link, "invitations": _visible(request),
        "bulk_form": BulkInvitationForm(user=request.user)},
        status=422 if form.errors else 200)


@manager_view(methods=("GET", "POST"))
def invitation_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkInvitationForm(posted(request), posted(request, files=True),
                              user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            issued = invitation_bulk_create(actor=Actor.of(request), preset=form.to_preset(),
                                            csv_data=form.cleaned_data["file"].read())
        except ValidationError as error:
            add_errors(form, error)
        else:
            links = [invitation_link(request, item) for item in issued]
            invitation_mail(issued=issued, links=links)
            return _links_csv(issued, links)
    return render(request, "annotations/invitations/bulk.html", {"form": form},
                  status=422 if form.errors else 200)


@manager_view(methods=("POST",))
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = invitation_get_for_user(request.user, invitation_id)
    invitation_revoke(actor=Actor.of(request), invitation=invitation)
    messages.success(request, f"Invitation {invitation.pk} revoked; its link no longer works.")
    return redirect("invitation-list")


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitation_check(token)
    except LinkRefused as refusal:
        return _refused(request, refusal)
    signed_in = request.user.is_authenticated
    form = AccountForm(None if signed_in else posted(request),
                       initial={"email": invitation.email})
    if request.method == "POST" and (signed_in or form.is_valid()):
        try:
            user, invitation = invitation_accept(
                token=token, user=request.user if signed_in else None,
                account=None if signed_in else form.to_account(),
                ip=Actor.of(request).ip)
        except LinkRefused as refusal:
            return _refused(request, refusal)
        except ValidationError as error:
            add_errors(form, error)
        else:
            login(request, user, backend=LOGIN_BACKEND)
            return redirect(_landing(invitation))
    return render(request, "annotations/invitations/accept.html",
                  {"invitation": invitation, "form": form, "signed_in": signed_in},
                  status=422 if form.errors else 200)


def invitation_link(request: HttpRequest, issued: IssuedInvitation) -> str:
    return request.build_absolute_uri(reverse("invitation-accept", args=[issued.token]))


def _landing(invitation: Invitation) -> str:
    """The first task: the preset project's (annotators) or its page (reviewers, leads);
    else the first project of the pool; else the project list."""
    project = invitation.project or (invitation.pool.projects.order_by("name").first()
                                     if invitation.pool else None)
    if project is None:
        return reverse("project-list")
    role = invitation.role if invitation.project else Role.ANNOTATOR
    return reverse("annotate" if role == Role.ANNOTATOR else "project-detail", args=[project.pk])


def _refused(request: HttpRequest, refusal: LinkRefused) -> HttpResponse:
    return render(request, "annotations/invitations/refused.html",
                  {"message": refusal.message}, status=refusal.status)


def _visible(request: HttpRequest) -> list[Invitation]:
    return list(invitations_visible_to(request.user)
                .select_related("project", "pool", "created_by")[:200])


def _links_csv(issued: list[IssuedInvitation], links: list[str]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "link", "expires_at"])
    for item, link in zip(issued, links, strict=True):
        writer.writerow([spreadsheet_safe(item.invitation.email), link,
                         item.invitation.expires_at.isoformat()])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="invitations.csv"'
    return response
