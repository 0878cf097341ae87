"""The one place that turns a user and an id into an object that user may see.

Views, API views, exports and admin actions fetch every object a user names through these
functions. Objects outside the user's projects are reported as missing (404), never as
forbidden, so ids of other projects leak nothing; a member without the needed capability
gets 403; a paused or blocked rater gets :class:`RaterNotActive` with the reason.

Besides project roles there are two global ones: administrators (superusers: everything)
and *managers* (admins, users who may create projects, and leads of any project), who see
the management area (pools they own or whose projects they lead, invitations they made or
for projects they lead). Staff status (``is_staff``) gives nothing in the app.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from annotations.models import (
    Assignment,
    CrowdParticipation,
    GoldQuestion,
    Invitation,
    Item,
    Membership,
    MembershipStatus,
    Notification,
    PairwiseJudgment,
    Project,
    RankingAssignment,
    RaterPool,
    RaterState,
    RaterStatus,
    Role,
)


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


class Task(StrEnum):
    """The kinds of work a project may offer (``Project.kind`` says which; rankings are a
    task shape of pairwise projects that ``Project.ranking_mode`` turns on)."""

    PAIRWISE = "pairwise"  # pairs, their dashboard, gold pairs, reviews, crowd studies
    FINE_GRAINED = "fine_grained"  # spans and ratings of single items, their results
    RANKING = "ranking"  # k-way rankings of one group's items, their results

    @property
    def label(self) -> str:
        return {Task.PAIRWISE: "pairwise comparison",
                Task.FINE_GRAINED: "fine-grained annotation",
                Task.RANKING: "ranking tasks"}[self]


def project_offers(project: Project, task: Task) -> bool:
    """Whether the project's kind includes ``task`` (a project of kind "both" offers both)."""
    if task is Task.RANKING:
        return project.serves_rankings
    return project.is_pairwise if task is Task.PAIRWISE else project.is_fine_grained


def project_require_task(project: Project, task: Task) -> None:
    """For services, whichever interface calls them (pages, API, commands): serving or
    recording work of a task the project does not offer is a ``ValidationError``."""
    if not project_offers(project, task):
        raise ValidationError(str(TaskNotOffered(project, task)))


class TaskNotOffered(Http404):
    """A page or action of a task the project's kind does not include: 404, as for any
    page that does not exist (the message says why)."""

    def __init__(self, project: Project, task: Task) -> None:
        super().__init__(f"This project ({project.get_kind_display().lower()}) has no "
                         f"{task.label}.")


class ServingRefused(PermissionDenied):
    """The rater may not be served a task now; the message says why. With ``redirect_url``
    the rater is sent there instead of a 403 page (e.g. a crowd study's completion code)."""

    def __init__(self, message: str, *, redirect_url: str | None = None) -> None:
        super().__init__(message)
        self.redirect_url = redirect_url


class RaterNotActive(ServingRefused):
    """The rater's membership is paused or blocked; the message says why."""

    def __init__(self, membership: Membership) -> None:
        reason = f": {membership.status_reason}" if membership.status_reason else ""
        super().__init__(f"Your work on this project is {membership.status}{reason}")
        self.membership = membership


class RaterSuspended(ServingRefused):
    """The rater is paused or blocked on every project (:class:`RaterStatus`)."""

    def __init__(self, rater_status: RaterStatus) -> None:
        reason = f": {rater_status.reason}" if rater_status.reason else ""
        super().__init__(f"Your work on all projects is {rater_status.status}{reason}")
        self.rater_status = rater_status


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
                         need: Capability, task: Task | None = None) -> ProjectAccess:
    """Return the project with what ``user`` may do in it, or raise 404/403. With ``task``,
    a project whose kind does not include that task is 404 (:class:`TaskNotOffered`),
    checked after who may see it, so that outsiders learn nothing about its kind."""
    access = _project_access(user, _as_int(project_id), need)
    if task is not None and not project_offers(access.project, task):
        raise TaskNotOffered(access.project, task)
    return access


def _project_access(user: User, project_id: int, need: Capability) -> ProjectAccess:
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
    if need is Capability.ANNOTATE:
        rater_check_active(user, membership)
    return ProjectAccess(membership.project, membership, capabilities)


def rater_check_active(user: User, membership: Membership | None) -> None:
    """Raise :class:`ServingRefused` with the reason if ``user`` may not work right now."""
    if membership is not None and membership.status != MembershipStatus.ACTIVE:
        raise RaterNotActive(membership)
    rater_status = RaterStatus.objects.filter(user_id=user.pk).first()
    if rater_status is not None and rater_status.status != RaterState.ACTIVE:
        raise RaterSuspended(rater_status)


def assignment_get_for_rater(user: User, project: Project, key: str) -> Assignment:
    """The rater's own pairwise assignment in ``project`` with idempotency key ``key``
    (a single-item, fine-grained task's key is not a pair: 404)."""
    try:
        parsed = uuid.UUID(str(key))
    except ValueError:
        raise Http404("No such task") from None
    assignment = (Assignment.objects.select_related("left_item", "right_item")
                  .filter(project=project, rater_id=user.pk, key=parsed,
                          right_item__isnull=False).first())
    if assignment is None:
        raise Http404("No such task")
    return assignment


def ranking_assignment_get_for_rater(user: User, project: Project, key: str
                                     ) -> RankingAssignment:
    """The rater's own ranking lease in ``project`` with idempotency key ``key``."""
    try:
        parsed = uuid.UUID(str(key))
    except ValueError:
        raise Http404("No such task") from None
    assignment = (RankingAssignment.objects.select_related("task", "project")
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
    try:
        parsed = uuid.UUID(str(key))
    except ValueError:
        raise Http404("No such task") from None
    assignment = (Assignment.objects.select_related("left_item")
                  .filter(project=project, rater_id=user.pk, key=parsed,
                          right_item__isnull=True).first())
    if assignment is None:
        raise Http404("No such task")
    return assignment


def project_item_get_for_user(access: ProjectAccess, item_id: int | str) -> Item:
    """An item of the project the user already has ``access`` to (404 for any other id)."""
    item = Item.objects.filter(pk=_as_int(item_id), project=access.project).first()
    if item is None:
        raise Http404("No such item")
    return item


# --- Management: pools, invitations, members, reviews, notices, the admin area -------------


def require_admin(user: User) -> None:
    """Administrators only (the audit log, global rater status)."""
    if not is_admin(user):
        raise PermissionDenied("Only administrators can do this.")


def is_manager(user: User) -> bool:
    """Admins, users who may create projects, and leads of any project."""
    if not (user.is_authenticated and user.is_active):
        return False
    return (is_admin(user) or can_create_projects(user)
            or Membership.objects.filter(user_id=user.pk, role=Role.LEAD).exists())


def require_manager(user: User) -> None:
    if not is_manager(user):
        raise PermissionDenied("Only administrators and project leads can do this.")


def projects_managed_by(user: User) -> QuerySet[Project]:
    """Projects where ``user`` has every capability (admins: all projects)."""
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user_id=user.pk, memberships__role=Role.LEAD)


def pools_visible_to(user: User) -> QuerySet[RaterPool]:
    """Admins: every pool. Managers: pools they own or attached to projects they lead."""
    if is_admin(user):
        return RaterPool.objects.all()
    if not is_manager(user):
        return RaterPool.objects.none()
    led = projects_managed_by(user).values("pk")
    return RaterPool.objects.filter(Q(created_by_id=user.pk) | Q(attachments__project__in=led)
                                    ).distinct()


def pool_can_manage(user: User, pool: RaterPool) -> bool:
    return is_admin(user) or (pool.created_by_id == user.pk and can_create_projects(user))


def pools_managed_by(user: User) -> QuerySet[RaterPool]:
    if is_admin(user):
        return RaterPool.objects.all()
    if not can_create_projects(user):
        return RaterPool.objects.none()
    return RaterPool.objects.filter(created_by_id=user.pk)


def pool_get_for_user(user: User, pool_id: int | str, *, manage: bool = False) -> RaterPool:
    """A pool ``user`` may see (404 otherwise); ``manage``: may also change it (else 403)."""
    pool = pools_visible_to(user).filter(pk=_as_int(pool_id)).first()
    if pool is None:
        raise Http404("No such pool")
    if manage and not pool_can_manage(user, pool):
        raise PermissionDenied("Only the pool's owner and administrators can change it.")
    return pool


def invitations_visible_to(user: User) -> QuerySet[Invitation]:
    if is_admin(user):
        return Invitation.objects.all()
    led = projects_managed_by(user).values("pk")
    return Invitation.objects.filter(Q(created_by_id=user.pk) | Q(project__in=led))


def invitation_get_for_user(user: User, invitation_id: int | str) -> Invitation:
    invitation = invitations_visible_to(user).filter(pk=_as_int(invitation_id)).first()
    if invitation is None:
        raise Http404("No such invitation")
    return invitation


def member_get_in_project(access: ProjectAccess, user_id: int | str) -> Membership:
    """A member of the project the caller already has access to; others are 404."""
    membership = (Membership.objects.select_related("user")
                  .filter(project=access.project, user_id=_as_int(user_id)).first())
    if membership is None:
        raise Http404("No such member")
    return membership


def judgment_get_in_project(access: ProjectAccess, judgment_id: int | str) -> PairwiseJudgment:
    judgment = (PairwiseJudgment.objects.select_related("rater", "left_item", "right_item")
                .filter(project=access.project, pk=_as_int(judgment_id)).first())
    if judgment is None:
        raise Http404("No such judgment")
    return judgment


def notification_get_in_project(access: ProjectAccess, notification_id: int | str
                                ) -> Notification:
    notification = Notification.objects.filter(project=access.project,
                                               pk=_as_int(notification_id)).first()
    if notification is None:
        raise Http404("No such notice")
    return notification


def user_get_for_admin(user: User, user_id: int | str) -> AbstractBaseUser:
    require_admin(user)
    target = get_user_model().objects.filter(pk=_as_int(user_id)).first()
    if target is None:
        raise Http404("No such user")
    return target


def user_in_pool_or_404(pool: RaterPool, user_id: int | str) -> AbstractBaseUser:
    member = get_user_model().objects.filter(pk=_as_int(user_id), pool_memberships__pool=pool
                                             ).first()
    if member is None:
        raise Http404("No such pool member")
    return member


def pool_get_attached(access: ProjectAccess, pool_id: int | str) -> RaterPool:
    """A pool attached to the project the caller already has access to."""
    pool = RaterPool.objects.filter(pk=_as_int(pool_id), attachments__project=access.project
                                    ).first()
    if pool is None:
        raise Http404("No such pool on this project")
    return pool


def gold_question_get_in_project(access: ProjectAccess, gold_id: int | str) -> GoldQuestion:
    question = GoldQuestion.objects.filter(project=access.project, pk=_as_int(gold_id)).first()
    if question is None:
        raise Http404("No such gold question")
    return question


def crowd_participation_get_for_user(user: User, study_id: int | str) -> CrowdParticipation:
    """The signed-in participant's own participation in a crowd study."""
    participation = (CrowdParticipation.objects.select_related("study", "study__project")
                     .filter(study_id=_as_int(study_id), user_id=user.pk).first())
    if participation is None:
        raise Http404("No such study")
    return participation
