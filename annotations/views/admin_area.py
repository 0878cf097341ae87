"""The management area: its entry page, raters across projects (administrators), and the
audit log with its CSV/JSONL export (administrators). Also the decorators every management
view uses: who may enter is decided before the method is looked at, as in ``project_view``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render

from annotations.access import is_admin, require_admin, require_manager, user_get_for_admin
from annotations.forms_pools import AuditFilterForm, StatusForm
from annotations.models import RaterStatus
from annotations.selectors.audit import (
    PAGE_SIZE,
    AuditFilter,
    audit_actions,
    audit_entries,
    audit_export_lines,
)
from annotations.services.audit import Actor
from annotations.services.raters import rater_set_global_status
from annotations.views.common import add_errors

View = Callable[..., HttpResponse]
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def gated_view(check: Callable[..., None], methods: tuple[str, ...]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            check(request.user)
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, *args, **kwargs)
        return wrapper
    return decorator


def posted(request: HttpRequest, *, files: bool = False) -> object | None:
    """The POST data (or files) to bind a form to: bound on any POST, even an empty one, so
    that an empty submission gets its "required" errors (422), not a blank form."""
    if request.method != "POST":
        return None
    return request.FILES if files else request.POST


def manager_view(methods: tuple[str, ...] = ("GET",)) -> Callable[[View], View]:
    """Administrators and project leads (403 for everyone else)."""
    return gated_view(require_manager, methods)


def admin_view(methods: tuple[str, ...] = ("GET",)) -> Callable[[View], View]:
    """Administrators only (403 for everyone else)."""
    return gated_view(require_admin, methods)


@manager_view()
def manage_home(request: HttpRequest) -> HttpResponse:
    return render(request, "annotations/admin_area/home.html",
                  {"is_admin": is_admin(request.user)})


@admin_view()
def rater_list(request: HttpRequest) -> HttpResponse:
    return _rater_page(request)


@admin_view(methods=("POST",))
def rater_global_status(request: HttpRequest, user_id: int) -> HttpResponse:
    rater = user_get_for_admin(request.user, user_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            rater_set_global_status(actor=Actor.of(request), rater=rater, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"{rater.get_username()} is now "
                                      f"{form.cleaned_data['status']} on every project.")
            return redirect("rater-list")
    return _rater_page(request, failed=(rater, form), status=422)


def _rater_page(request: HttpRequest, *, failed: tuple | None = None, status: int = 200
                ) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    users = get_user_model().objects.order_by("username")
    if query:
        users = users.filter(username__icontains=query)
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    statuses = {status.user_id: status for status in RaterStatus.objects.filter(
        user__in=page.object_list)}
    return render(request, "annotations/admin_area/raters.html", {
        "page": page, "query": query, "failed": failed,
        "rows": [(user, statuses.get(user.pk)) for user in page.object_list]}, status=status)


@admin_view()
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    entries = audit_entries(_audit_filter(form))
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    template = ("annotations/admin_area/partials/audit_table.html" if request.htmx
                else "annotations/admin_area/audit.html")
    return render(request, template, {"form": form, "page": page, "actions": audit_actions(),
                                      "query": request.GET.urlencode()},
                  status=422 if form.errors else 200)


@admin_view()
def audit_export(request: HttpRequest) -> HttpResponse:
    fmt = request.GET.get("format", "csv")
    form = AuditFilterForm(request.GET)
    if fmt not in EXPORT_TYPES or not form.is_valid():
        return HttpResponse("Choose format=csv or format=jsonl, and valid filters.",
                            status=422, content_type="text/plain")
    lines = audit_export_lines(audit_entries(_audit_filter(form)), fmt)
    response = StreamingHttpResponse(lines, content_type=EXPORT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="audit-log.{fmt}"'
    return response


def _audit_filter(form: AuditFilterForm) -> AuditFilter:
    if not form.is_bound or not form.is_valid():
        return AuditFilter()
    data = form.cleaned_data
    return AuditFilter(action=data["action"], actor=data["actor"], project_id=data["project"])
