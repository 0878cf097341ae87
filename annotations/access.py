"""The one place that turns a user and an id into an object that user may see.

Views, API views, exports and admin actions fetch every object a user names through these
functions. Objects outside the user's projects are reported as missing (404), never as
forbidden, so ids of other projects leak nothing; a member without the needed capability
gets 403; a paused or blocked rater gets :class:`RaterNotActive` with the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotations.models import Assignment, Item, Membership, MembershipStatus, Project, Role


class Capability(StrEnum):
    ANNOTATE = "annotate"  # serve and submit tasks
    VIEW = "view"  # see the project dashboard: progress, leaderboards, rater quality
    REVIEW = "review"  # see individual judgments and accept or reject them
    MANAGE = "manage"  # change settings, import items, manage members, start fits


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.LEAD: frozenset(Capability),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.REVIEW}),
    Role.ANNOTATOR: frozenset({Capability.ANNOTATE}),
}

User = AbstractBaseUser | AnonymousUser


class RaterNotActive(PermissionDenied):
    """The rater's membership is paused or blocked; the message says why."""

    def __init__(self, membership: Membership) -> None:
        reason = f": {membership.status_reason}" if membership.status_reason else ""
        super().__init__(f"Your work on this project is {membership.status}{reason}")
        self.membership = membership


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    membership: Membership | None  # None for an admin who is not a member
    capabilities: frozenset[Capability]

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def is_admin(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def can_create_projects(user: User) -> bool:
    return bool(user.is_authenticated and user.has_perm("annotations.add_project"))


def project_get_for_user(user: User, project_id: int | str, *,
                         need: Capability) -> ProjectAccess:
    """Return the project with what ``user`` may do in it, or raise 404/403."""
    project_id = _as_int(project_id)
    if not user.is_authenticated:
        raise Http404("No such project")
    membership = (Membership.objects.select_related("project")
                  .filter(project_id=project_id, user=user).first())
    if is_admin(user):
        project = membership.project if membership else _project_or_404(project_id)
        return ProjectAccess(project, membership, frozenset(Capability))
    if membership is None:
        raise Http404("No such project")
    capabilities = ROLE_CAPABILITIES[membership.role]
    if need not in capabilities:
        raise PermissionDenied(f"Your role in this project ({membership.role}) cannot {need}.")
    if need is Capability.ANNOTATE and membership.status != MembershipStatus.ACTIVE:
        raise RaterNotActive(membership)
    return ProjectAccess(membership.project, membership, capabilities)


def assignment_get_for_rater(user: User, project: Project, key: str) -> Assignment:
    """The rater's own assignment in ``project`` with idempotency key ``key``."""
    try:
        parsed = uuid.UUID(str(key))
    except ValueError:
        raise Http404("No such task") from None
    assignment = (Assignment.objects.select_related("left_item", "right_item")
                  .filter(project=project, rater_id=user.pk, key=parsed).first())
    if assignment is None:
        raise Http404("No such task")
    return assignment


def item_get_for_user(user: User, item_id: int | str, *, need: Capability) -> Item:
    item = Item.objects.filter(pk=_as_int(item_id)).only("project_id").first()
    if item is None:
        raise Http404("No such item")
    access = project_get_for_user(user, item.project_id, need=need)
    return Item.objects.get(pk=item.pk, project=access.project)


def _project_or_404(project_id: int) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project")
    return project


def _as_int(raw: int | str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Http404("Not found") from None


# ---------------------------------------------------------------- fine-grained annotation


def item_assignment_get_for_rater(user: User, project: Project, key: str) -> Assignment:
    """The rater's own single-item (fine-grained) assignment in ``project`` with key ``key``."""
    assignment = assignment_get_for_rater(user, project, key)
    if assignment.right_item_id is not None:
        raise Http404("No such task")
    return assignment


def project_item_get_for_user(access: ProjectAccess, item_id: int | str) -> Item:
    """An item of the project the user already has ``access`` to (404 for any other id)."""
    item = Item.objects.filter(pk=_as_int(item_id), project=access.project).first()
    if item is None:
        raise Http404("No such item")
    return item
