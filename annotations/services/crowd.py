"""Crowd platforms (Prolific, MTurk): an entry link that creates or matches a rater from the
platform's ids, serves tasks up to a quota, and shows a completion code.

Prolific appends ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID`` to the study URL; MTurk's
external questions append ``workerId``, ``hitId`` and ``assignmentId`` (with
``ASSIGNMENT_ID_NOT_AVAILABLE`` while a worker only previews the HIT). A platform worker id
always maps to the same account (:class:`CrowdIdentity`); such accounts have no password and
only ever get annotator memberships. The quota is a per-rater workload cap on the project.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from annotations.access import Task, project_require_task
from annotations.models import (
    CrowdIdentity,
    CrowdParticipation,
    CrowdPlatform,
    CrowdStudy,
    Membership,
    Project,
    RaterPool,
    RaterState,
    RaterStatus,
    Role,
    WorkloadCap,
)
from annotations.services.audit import Actor, audit_record
from annotations.services.links import LinkRefused, link_token_hash, link_token_new
from annotations.services.pools import pool_member_add_user

PLATFORM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
PARAMETERS = {  # platform: (worker id, study, session)
    CrowdPlatform.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    CrowdPlatform.MTURK: ("workerId", "hitId", "assignmentId"),
}
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc={code}"


@dataclass(frozen=True)
class CrowdStudyConfig:
    name: str
    platform: str
    tasks_per_participant: int
    completion_code: str = ""  # generated when empty
    pool: RaterPool | None = None
    max_participants: int | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CrowdArrival:
    """A participant's ids as the platform sent them."""

    worker_id: str
    study_ref: str
    session_ref: str


class CrowdPreview(Exception):
    """An MTurk worker previewing the HIT: show the task description, create nothing."""


def crowd_study_create(*, actor: Actor, project: Project, config: CrowdStudyConfig
                       ) -> tuple[CrowdStudy, str]:
    """The study and its entry token (shown once)."""
    project_require_task(project, Task.PAIRWISE)
    _validate_study(config)
    token, token_hash = link_token_new()
    with transaction.atomic():
        study = CrowdStudy.objects.create(
            project=project, name=config.name.strip(), platform=config.platform,
            token_hash=token_hash, pool=config.pool,
            tasks_per_participant=config.tasks_per_participant,
            completion_code=config.completion_code.strip() or secrets.token_hex(4).upper(),
            max_participants=config.max_participants, expires_at=config.expires_at,
            created_by=actor.user)
        audit_record(actor=actor, action="crowd.study_create", target=study, project=project,
                     after={"name": study.name, "platform": study.platform,
                            "tasks_per_participant": study.tasks_per_participant,
                            "max_participants": study.max_participants})
    return study, token


def crowd_arrival_from(study: CrowdStudy, params: Mapping[str, str]) -> CrowdArrival:
    """Parse the platform's query parameters, or say exactly what is missing or wrong."""
    worker_key, study_key, session_key = PARAMETERS[study.platform]
    if study.platform == CrowdPlatform.MTURK and params.get(session_key) == MTURK_PREVIEW:
        raise CrowdPreview
    worker_id = (params.get(worker_key) or "").strip()
    if not worker_id:
        raise LinkRefused(f"This study link needs your {study.get_platform_display()} id "
                          f"({worker_key}); open it from the platform.", status=400)
    values = {key: (params.get(key) or "").strip() for key in (study_key, session_key)}
    for key, value in {worker_key: worker_id, **values}.items():
        if value and not PLATFORM_ID.match(value):
            raise LinkRefused(f"{key} must be 1 to 64 letters, digits, '-' or '_'.", status=400)
    return CrowdArrival(worker_id, values[study_key], values[session_key])


def crowd_study_check(token: str) -> CrowdStudy:
    study = (CrowdStudy.objects.select_related("project", "pool")
             .filter(token_hash=link_token_hash(token)).first())
    if study is None:
        raise LinkRefused("This study link is not valid.", status=404)
    if study.expires_at is not None and study.expires_at <= timezone.now():
        raise LinkRefused("This study has closed.", status=410)
    return study


def crowd_join(*, study: CrowdStudy, arrival: CrowdArrival) -> AbstractBaseUser:
    """Create or match the participant's account, make them an annotator of the study's
    project with the study's quota, and record the participation (idempotent)."""
    with transaction.atomic():
        study = CrowdStudy.objects.select_for_update().get(pk=study.pk)
        user = _crowd_user(study.platform, arrival.worker_id)
        participation = CrowdParticipation.objects.filter(study=study, user=user).first()
        if participation is None:
            _check_room(study)
            participation = CrowdParticipation.objects.create(
                study=study, user=user, study_ref=arrival.study_ref,
                session_ref=arrival.session_ref)
            _enrol(study, user)
    return user


def crowd_participation_complete(*, participation: CrowdParticipation, done: int) -> bool:
    """Mark the participation complete once ``done`` reaches the quota (idempotent)."""
    if done < participation.study.tasks_per_participant:
        return False
    if participation.completed_at is None:
        CrowdParticipation.objects.filter(pk=participation.pk, completed_at__isnull=True).update(
            completed_at=timezone.now())
    return True


def crowd_completion_url(*, project: Project, rater: AbstractBaseUser) -> str | None:
    """Where a crowd participant goes when their quota in ``project`` is done."""
    participation = (CrowdParticipation.objects.filter(study__project=project, user=rater)
                     .order_by("-joined_at").first())
    return reverse("crowd-complete", args=[participation.study_id]) if participation else None


def crowd_platform_return_url(study: CrowdStudy) -> str | None:
    if study.platform == CrowdPlatform.PROLIFIC:
        return PROLIFIC_COMPLETE.format(code=study.completion_code)
    return None


def _crowd_user(platform: str, worker_id: str) -> AbstractBaseUser:
    identity = (CrowdIdentity.objects.select_related("user")
                .filter(platform=platform, worker_id=worker_id).first())
    if identity is not None:
        _check_still_a_plain_rater(identity.user)
        return identity.user
    User = get_user_model()
    username = base = f"{platform}-{worker_id}"[:140]
    suffix = 2
    while User.objects.filter(username=username).exists():
        username, suffix = f"{base}-{suffix}", suffix + 1
    user = User(username=username)
    user.set_unusable_password()
    user.save()
    CrowdIdentity.objects.create(platform=platform, worker_id=worker_id, user=user)
    return user


def _check_still_a_plain_rater(user: AbstractBaseUser) -> None:
    """Anyone holding a study link can claim a worker id, so such a sign-in is only ever
    allowed for a plain annotator account (never one later given more rights)."""
    status = RaterStatus.objects.filter(user=user).first()
    if status is not None and status.status == RaterState.BLOCKED:
        raise LinkRefused(f"You cannot take part: {status.reason}", status=403)
    raised = Membership.objects.filter(user=user).exclude(role=Role.ANNOTATOR).exists()
    if raised or user.is_staff or user.is_superuser or user.has_usable_password():
        raise LinkRefused("This account cannot sign in through a study link; log in "
                          "normally.", status=403)


def _check_room(study: CrowdStudy) -> None:
    if study.max_participants is not None and (
            study.participations.count() >= study.max_participants):
        raise LinkRefused("This study is full; thank you for your interest.", status=410)


def _enrol(study: CrowdStudy, user: AbstractBaseUser) -> None:
    Membership.objects.get_or_create(project=study.project, user=user,
                                     defaults={"role": Role.ANNOTATOR})
    WorkloadCap.objects.update_or_create(project=study.project, rater=user,
                                         defaults={"per_project": study.tasks_per_participant})
    if study.pool is not None:
        pool_member_add_user(actor=Actor(user=study.created_by), pool=study.pool, user=user)


def _validate_study(config: CrowdStudyConfig) -> None:
    errors: dict[str, str] = {}
    if not config.name.strip() or len(config.name.strip()) > 200:
        errors["name"] = "A study needs a name of 1 to 200 characters."
    if config.platform not in CrowdPlatform.values:
        errors["platform"] = f"Unknown platform {config.platform!r}."
    if not 1 <= config.tasks_per_participant <= 10_000:
        errors["tasks_per_participant"] = "Each participant does 1 to 10,000 tasks."
    code = config.completion_code.strip()
    if code and not PLATFORM_ID.match(code):
        errors["completion_code"] = "A completion code is 1 to 64 letters, digits, '-' or '_'."
    if config.max_participants is not None and config.max_participants < 1:
        errors["max_participants"] = "At least one participant (or leave it empty)."
    if errors:
        raise ValidationError(errors)
