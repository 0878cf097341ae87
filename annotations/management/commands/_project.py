"""The PROJECT argument of the management commands (operators' tools, so not scoped to a
user): a project's id or slug."""

from __future__ import annotations

from django.core.management.base import CommandError

from annotations.models import Project


def project_from_argument(ref: str) -> Project:
    match = Project.objects.filter(pk=int(ref)) if ref.isdigit() else Project.objects.none()
    project = match.first() or Project.objects.filter(slug=ref).first()
    if project is None:
        raise CommandError(f"No project with id or slug {ref!r}.")
    return project
