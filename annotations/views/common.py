from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from annotations.access import Capability, ServingRefused, Task, project_get_for_user


def add_errors(form: forms.Form, error: ValidationError) -> None:
    """Attach a service's validation error to the form fields it names."""
    if hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


def project_view(*, need: Capability, methods: tuple[str, ...] = ("GET",),
                 task: Task | None = None
                 ) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Resolve ``project_id`` through the access layer *before* anything else, so that an
    outsider gets 404 whatever the method, then check the method. The view receives the
    :class:`ProjectAccess` instead of the raw id. ``task``: the page belongs to that task,
    and a project whose kind does not include it answers 404.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, project_id: int, *args: object,
                    **kwargs: object) -> HttpResponse:
            try:
                access = project_get_for_user(request.user, project_id, need=need, task=task)
                if request.method not in methods:
                    return HttpResponseNotAllowed(methods)
                return view(request, access, *args, **kwargs)
            except ServingRefused as refusal:
                return serving_refused_response(request, refusal)

        return wrapper

    return decorator


def serving_refused_response(request: HttpRequest, refusal: ServingRefused) -> HttpResponse:
    """A paused, blocked or capped rater is told why. htmx does not swap a 403 into the task,
    so htmx requests get a full reload (or a redirect) that shows the reason."""
    if refusal.redirect_url:
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": refusal.redirect_url})
        return redirect(refusal.redirect_url)
    # Rendered here rather than raised: a refusal is an expected answer, and Django logs a
    # raised PermissionDenied with its full traceback on every request of a paused rater.
    response = render(request, "403.html", {"exception": str(refusal)}, status=403)
    if request.htmx:
        response["HX-Refresh"] = "true"
    return response
