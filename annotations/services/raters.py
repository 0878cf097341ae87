"""Managing raters: pause, resume and block (in a project or everywhere), roles, exclusion
from fits, workload caps, and the check serving runs before handing out a task."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations.access import ServingRefused, is_admin, rater_check_active
from annotations.models import (
    Annotation,
    Assignment,
    GateTrip,
    Membership,
    MembershipStatus,
    Outcome,
    PairwiseJudgment,
    Project,
    Ranking,
    RankingAssignment,
    RaterState,
    RaterStatus,
    Role,
    WorkloadCap,
)
from annotations.models.judgment import AssignmentStatus
from annotations.services.audit import Actor, audit_record, membership_state
from annotations.services.crowd import crowd_completion_url

MAX_REASON_CHARS = 500
STATUS_ACTIONS = {MembershipStatus.PAUSED: "pause", MembershipStatus.BLOCKED: "block",
                  MembershipStatus.ACTIVE: "resume"}


class WorkloadCapReached(ServingRefused):
    pass


def membership_set_status(*, actor: Actor, membership: Membership, status: str,
                          reason: str = "") -> Membership:
    """Pause, block or resume a rater in one project; pausing or blocking releases their
    open leases at once, so the pairs go back to other raters."""
    reason = _checked_reason(status, reason)
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user", "project").get(
            pk=membership.pk)
        before = membership_state(locked)
        locked.status, locked.status_reason = status, reason
        locked.save(update_fields=["status", "status_reason"])
        released = _after_status_change(locked.user, status, project=locked.project)
        audit_record(actor=actor, action=f"rater.{STATUS_ACTIONS[status]}", target=locked,
                     project=locked.project, before=before,
                     after={**membership_state(locked), "leases_released": released})
    return locked


def rater_set_global_status(*, actor: Actor, rater: AbstractBaseUser, status: str,
                            reason: str = "") -> RaterStatus:
    """Pause, block or resume a rater on every project (administrators)."""
    reason = _checked_reason(status, reason)
    if is_admin(rater):
        raise ValidationError({"status": "Administrators cannot be paused or blocked."})
    with transaction.atomic():
        rater_status, _ = RaterStatus.objects.select_for_update().get_or_create(user=rater)
        before = {"status": rater_status.status, "reason": rater_status.reason}
        rater_status.status, rater_status.reason = status, reason
        rater_status.changed_by = actor.user
        rater_status.save()
        released = _after_status_change(rater, status, project=None)
        audit_record(actor=actor, action=f"rater.global_{STATUS_ACTIONS[status]}",
                     target=rater, before=before,
                     after={"status": status, "reason": reason, "leases_released": released})
    return rater_status


def rater_release_leases(*, rater: AbstractBaseUser, project: Project | None) -> int:
    """Withdraw the rater's open tasks (in ``project``, or everywhere); returns how many."""
    released = 0
    for leases in (Assignment.objects, RankingAssignment.objects):
        open_leases = leases.filter(rater=rater, status=AssignmentStatus.OPEN)
        if project is not None:
            open_leases = open_leases.filter(project=project)
        released += open_leases.update(status=AssignmentStatus.RELEASED,
                                       closed_at=timezone.now())
    return released


def membership_set_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    """Change a member's role. A project keeps at least one lead."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose lead, reviewer or "
                                       "annotator."})
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user", "project").get(
            pk=membership.pk)
        if locked.role == role:
            return locked
        leads = Membership.objects.select_for_update().filter(project_id=locked.project_id,
                                                              role=Role.LEAD)
        if locked.role == Role.LEAD and not leads.exclude(pk=locked.pk).exists():
            raise ValidationError({"role": "A project needs at least one lead: make someone "
                                           "else lead first."})
        before = membership_state(locked)
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(actor=actor, action="membership.role", target=locked,
                     project=locked.project, before=before, after=membership_state(locked))
    return locked


def membership_set_exclusion(*, actor: Actor, membership: Membership, excluded: bool,
                             reason: str = "") -> Membership:
    """Leave a rater's judgments out of fits and exports (kept in the database)."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user", "project").get(
            pk=membership.pk)
        before = membership_state(locked)
        locked.excluded_from_fits = excluded
        locked.save(update_fields=["excluded_from_fits"])
        audit_record(actor=actor, action="rater.exclude" if excluded else "rater.include",
                     target=locked, project=locked.project, before=before,
                     after={**membership_state(locked), "reason": reason.strip()[:500]})
    return locked


def workload_cap_set(*, actor: Actor, project: Project, rater: AbstractBaseUser | None,
                     per_day: int | None, per_project: int | None) -> WorkloadCap | None:
    """Set the project's default cap (``rater`` None) or one rater's; no limits: removed."""
    for name, value in (("per_day", per_day), ("per_project", per_project)):
        if value is not None and value < 1:
            raise ValidationError({name: "A cap is at least 1 (leave it empty for no cap)."})
    with transaction.atomic():
        cap = WorkloadCap.objects.select_for_update().filter(project=project, rater=rater).first()
        before = _cap_state(cap)
        if per_day is None and per_project is None:
            if cap is not None:
                cap.delete()
            cap = None
        else:
            cap = cap or WorkloadCap(project=project, rater=rater)
            cap.per_day, cap.per_project = per_day, per_project
            cap.save()
        audit_record(actor=actor, action="cap.set", target=cap, project=project,
                     label=f"cap for {rater.get_username() if rater else 'every rater'}",
                     before=before, after=_cap_state(cap))
    return cap


def rater_serving_check(*, project: Project, rater: AbstractBaseUser) -> None:
    """Raise :class:`ServingRefused` (with the reason) unless ``rater`` may get a new task
    in ``project`` now: active in the project and globally, and under their workload caps.
    Serving calls this before choosing a new task."""
    membership = Membership.objects.filter(project=project, user=rater).first()
    if not is_admin(rater):
        rater_check_active(rater, membership)
    per_day, per_project = workload_caps_for(project=project, rater=rater)
    if per_project is not None and work_done(project=project, rater=rater) >= per_project:
        raise WorkloadCapReached(
            f"You have reached your limit of {per_project} tasks in this project. Thank you!",
            redirect_url=_completion_url(project, rater))
    if per_day is not None and work_done(project=project, rater=rater,
                                         since=_start_of_today()) >= per_day:
        raise WorkloadCapReached(f"You have reached today's limit of {per_day} tasks in this "
                                 "project. Please come back tomorrow (days end at midnight "
                                 "UTC).")


def workload_caps_for(*, project: Project, rater: AbstractBaseUser
                      ) -> tuple[int | None, int | None]:
    """(per day, per project): each the rater's own cap if set, else the project's default."""
    caps = {cap.rater_id: cap for cap in WorkloadCap.objects.filter(
        Q(rater=rater) | Q(rater__isnull=True), project=project)}
    own, default = caps.get(rater.pk), caps.get(None)
    return (_first_set(own, default, "per_day"), _first_set(own, default, "per_project"))


def _first_set(own: WorkloadCap | None, default: WorkloadCap | None, field: str) -> int | None:
    for cap in (own, default):
        if cap is not None and getattr(cap, field) is not None:
            return getattr(cap, field)
    return None


def work_done(*, project: Project, rater: AbstractBaseUser, since: datetime | None = None
              ) -> int:
    """Tasks the rater completed in ``project``: live pairwise judgments, fine-grained
    annotations and rankings (skips excluded; a ranking is one task)."""
    judgments = PairwiseJudgment.objects.filter(project=project, rater=rater,
                                                undone_at__isnull=True).exclude(
        outcome=Outcome.SKIP)
    annotations = Annotation.objects.filter(project=project, rater=rater, skipped=False)
    rankings = Ranking.objects.filter(project=project, rater=rater, skipped=False,
                                      undone_at__isnull=True)
    if since is not None:
        judgments, annotations, rankings = (judgments.filter(created_at__gte=since),
                                            annotations.filter(created_at__gte=since),
                                            rankings.filter(created_at__gte=since))
    return judgments.count() + annotations.count() + rankings.count()


def _after_status_change(rater: AbstractBaseUser, status: str, *, project: Project | None
                         ) -> int:
    if status == MembershipStatus.ACTIVE:
        if project is not None:
            GateTrip.objects.filter(gate__project=project, rater=rater,
                                    resolved_at__isnull=True).update(resolved_at=timezone.now())
        return 0
    return rater_release_leases(rater=rater, project=project)


def _checked_reason(status: str, reason: str) -> str:
    if status not in RaterState.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    reason = reason.strip()
    if status != RaterState.ACTIVE and not reason:
        raise ValidationError({"reason": "Give a reason: the rater is shown it."})
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError({"reason": f"Reasons are at most {MAX_REASON_CHARS} characters."})
    return reason


def _cap_state(cap: WorkloadCap | None) -> dict[str, int | None]:
    return {"per_day": cap.per_day, "per_project": cap.per_project} if cap else {}


def _start_of_today() -> datetime:
    return timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _completion_url(project: Project, rater: AbstractBaseUser) -> str | None:
    return crowd_completion_url(project=project, rater=rater)
