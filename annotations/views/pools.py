"""Rater pools: the list (and creating one), a pool's page with its statistics, members."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotations.access import (
    can_create_projects,
    is_admin,
    pool_can_manage,
    pool_get_for_user,
    pools_visible_to,
    user_in_pool_or_404,
)
from annotations.forms_pools import PoolForm, UsernameForm
from annotations.selectors.pools import pool_members, pool_projects, pool_rows, pool_stats
from annotations.services.audit import Actor
from annotations.services.pools import pool_create, pool_member_add, pool_member_remove
from annotations.views.admin_area import manager_view, posted
from annotations.views.common import add_errors


@manager_view(methods=("GET", "POST"))
def pool_list(request: HttpRequest) -> HttpResponse:
    may_create = is_admin(request.user) or can_create_projects(request.user)
    form = PoolForm(posted(request))
    if request.method == "POST":
        if not may_create:
            raise PermissionDenied("Only administrators and users who may create projects can "
                                   "create pools.")
        if form.is_valid():
            try:
                pool = pool_create(actor=Actor.of(request), **form.cleaned_data)
            except ValidationError as error:
                add_errors(form, error)
            else:
                messages.success(request, f"Pool “{pool.name}” created. Add raters next.")
                return redirect("pool-detail", pool.pk)
    return render(request, "annotations/pools/list.html", {
        "rows": pool_rows(pools_visible_to(request.user)), "form": form,
        "may_create": may_create}, status=422 if form.errors else 200)


@manager_view()
def pool_detail(request: HttpRequest, pool_id: int) -> HttpResponse:
    pool = pool_get_for_user(request.user, pool_id)
    return _pool_page(request, pool, UsernameForm())


@manager_view(methods=("POST",))
def pool_member_add_view(request: HttpRequest, pool_id: int) -> HttpResponse:
    pool = pool_get_for_user(request.user, pool_id, manage=True)
    form = UsernameForm(request.POST)
    if form.is_valid():
        try:
            pool_member_add(actor=Actor.of(request), pool=pool, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['username']} added to {pool.name}.")
            return redirect("pool-detail", pool.pk)
    return _pool_page(request, pool, form, status=422)


@manager_view(methods=("POST",))
def pool_member_remove_view(request: HttpRequest, pool_id: int, user_id: int) -> HttpResponse:
    pool = pool_get_for_user(request.user, pool_id, manage=True)
    member = user_in_pool_or_404(pool, user_id)
    pool_member_remove(actor=Actor.of(request), pool=pool, user=member)
    messages.success(request, f"{member.get_username()} removed from {pool.name}; their "
                              "project memberships stay.")
    return redirect("pool-detail", pool.pk)


def _pool_page(request: HttpRequest, pool: object, form: UsernameForm, *, status: int = 200
               ) -> HttpResponse:
    return render(request, "annotations/pools/detail.html", {
        "pool": pool, "form": form, "members": pool_members(pool),
        "projects": pool_projects(pool), "stats": pool_stats(pool),
        "can_manage": pool_can_manage(request.user, pool)}, status=status)
