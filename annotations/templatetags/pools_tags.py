"""Template helpers for the pools and administration pages: the nav entry, and the links and
notices the project page shows to those who may use them."""

from __future__ import annotations

import json

from django import template
from django.contrib.auth.models import AbstractBaseUser

from annotations.access import Capability, is_manager, project_get_for_user
from annotations.models import Notification, Project

register = template.Library()


@register.filter(name="is_manager")
def is_manager_filter(user: AbstractBaseUser) -> bool:
    return is_manager(user)


@register.filter(name="as_json")
def as_json(value: object) -> str:
    """A JSON value as compact JSON text (escaped by the template like any text)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


@register.inclusion_tag("annotations/raters/partials/project_tools.html", takes_context=True)
def project_tools(context: template.Context, project: Project) -> dict[str, object]:
    """Links to the raters, reviews and gold pages, and the open notices, for the project's
    leads (notices, raters, gold) and reviewers (reviews)."""
    access = project_get_for_user(context["request"].user, project.pk, need=Capability.VIEW)
    can_manage = access.can(Capability.MANAGE)
    notices = (Notification.objects.filter(project=project, dismissed_at__isnull=True)
               if can_manage else Notification.objects.none())
    return {"project": project, "can_manage": can_manage,
            "can_review": access.can(Capability.REVIEW), "notices": notices,
            "back_to_detail": True, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("annotations/raters/partials/notices.html", takes_context=True)
def project_notices(context: template.Context, project: Project) -> dict[str, object]:
    """The project's open notices (e.g. a quality gate paused a rater), for its leads."""
    access = project_get_for_user(context["request"].user, project.pk, need=Capability.VIEW)
    notices = (Notification.objects.filter(project=project, dismissed_at__isnull=True)
               if access.can(Capability.MANAGE) else Notification.objects.none())
    return {"notices": notices, "csrf_token": context.get("csrf_token")}
