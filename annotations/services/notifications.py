"""Notices for leads (e.g. a quality gate paused a rater)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotations.models import Notification
from annotations.services.audit import Actor, audit_record


def notification_dismiss(*, actor: Actor, notification: Notification) -> Notification:
    with transaction.atomic():
        locked = Notification.objects.select_for_update().get(pk=notification.pk)
        if locked.dismissed_at is None:
            locked.dismissed_at, locked.dismissed_by = timezone.now(), actor.user
            locked.save(update_fields=["dismissed_at", "dismissed_by"])
            audit_record(actor=actor, action="notification.dismiss", target=locked,
                         project=locked.project, before={"message": locked.message})
    return locked
