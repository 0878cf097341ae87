"""Dataset exports for leads and reviewers: the page that lists them, and the downloads,
streamed (the same bytes as ``manage.py export``)."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
    StreamingHttpResponse,
)
from django.shortcuts import render

from annotations.access import Capability, ProjectAccess
from annotations.selectors.exports import (
    ExportError,
    ExportNotFound,
    ExportOptions,
    export_catalogue,
    export_kind,
    export_prepare,
)
from annotations.views.common import project_view

PLAIN_TEXT = "text/plain; charset=utf-8"
FLAGS = {"1": True, "true": True, "0": False, "false": False}


@project_view(need=Capability.VIEW)
def project_exports(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    return render(request, "annotations/exports.html", {
        "project": access.project, "entries": export_catalogue(project=access.project)})


@project_view(need=Capability.VIEW)
def project_export(request: HttpRequest, access: ProjectAccess, kind: str) -> HttpResponse:
    """``?format=csv|jsonl&pseudonymize=1&live_only=0&include_tied=1``; an unknown export
    (or one with nothing to export yet) is 404 and a bad parameter 400, with the reason."""
    try:
        export_kind(kind)  # first: an unknown export is 404 whatever the parameters
        download = export_prepare(project=access.project, kind=kind,
                                  fmt=request.GET.get("format") or None,
                                  options=export_options(request.GET))
    except ExportNotFound as missing:
        return HttpResponseNotFound(str(missing), content_type=PLAIN_TEXT)
    except ExportError as problem:
        return HttpResponseBadRequest(str(problem), content_type=PLAIN_TEXT)
    response = StreamingHttpResponse(download.chunks, content_type=download.content_type)
    response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    return response


def export_options(params: Mapping[str, str]) -> ExportOptions:
    return ExportOptions(pseudonymize=_flag(params, "pseudonymize", default=False),
                         live_only=_flag(params, "live_only", default=True),
                         include_tied=_flag(params, "include_tied", default=False))


def _flag(params: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in FLAGS:
        raise ExportError(f"{name} must be 1 or 0, not {raw!r}.")
    return FLAGS[raw.lower()]
