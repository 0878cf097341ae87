"""Recording administrative actions. Every administrative service calls :func:`audit_record`
inside its own transaction, so an action and its entry are committed (or rolled back)
together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.http import HttpRequest

from annotations.models import AuditEntry, Membership, Project

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where. ``user`` is None for the system (e.g. a quality gate)."""

    user: AbstractBaseUser | None
    ip: str | None = None

    @classmethod
    def of(cls, request: HttpRequest) -> Actor:
        # REMOTE_ADDR only: a forwarded-for header is whatever the client says it is.
        return cls(user=request.user, ip=request.META.get("REMOTE_ADDR") or None)

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None)

    @property
    def name(self) -> str:
        return self.user.get_username() if self.user is not None else SYSTEM


def audit_record(*, actor: Actor, action: str, target: models.Model | None,
                 project: Project | None = None, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, label: str = "") -> AuditEntry:
    """Append one entry: ``action`` (e.g. ``rater.pause``) on ``target`` by ``actor``."""
    return AuditEntry.objects.create(
        actor=actor.user, actor_name=actor.name, action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
        target_label=(label or str(target or ""))[:255],
        project_ref=project.pk if project else None,
        project_name=project.name if project else "",
        before=before or {}, after=after or {}, ip=actor.ip)


def membership_state(membership: Membership | None) -> dict[str, Any]:
    """What an audit entry records about a membership."""
    if membership is None:
        return {}
    return {"user": membership.user.get_username(), "role": membership.role,
            "status": membership.status, "status_reason": membership.status_reason,
            "excluded_from_fits": membership.excluded_from_fits}
