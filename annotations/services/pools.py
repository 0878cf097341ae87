"""Rater pools: create them, add and remove raters, attach them to projects.

Attaching gives every pool member an annotator membership in the project, and adding a
member to a pool gives them one in every attached project (existing memberships keep their
role and status). See annotations/models/pools.py for why access is materialised.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Membership, PoolMembership, PoolProject, Project, RaterPool, Role
from annotations.services.audit import Actor, audit_record

MAX_POOL_NAME = 200


def pool_create(*, actor: Actor, name: str, description: str = "") -> RaterPool:
    name = name.strip()
    if not name or len(name) > MAX_POOL_NAME:
        raise ValidationError({"name": f"A pool needs a name of 1 to {MAX_POOL_NAME} "
                                       "characters."})
    if RaterPool.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"There is already a pool named {name!r}."})
    with transaction.atomic():
        pool = RaterPool.objects.create(name=name, description=description.strip(),
                                        created_by=actor.user)
        audit_record(actor=actor, action="pool.create", target=pool,
                     after={"name": pool.name, "description": pool.description})
    return pool


def pool_member_add(*, actor: Actor, pool: RaterPool, username: str) -> PoolMembership:
    """Add an existing active user to the pool (and so to its attached projects)."""
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise ValidationError({"username": f"No active user named {username.strip()!r}."})
    with transaction.atomic():
        return pool_member_add_user(actor=actor, pool=pool, user=user)


def pool_member_add_user(*, actor: Actor, pool: RaterPool, user: AbstractBaseUser
                         ) -> PoolMembership:
    """The same for a user already in hand (invitations); idempotent."""
    with transaction.atomic():
        member, created = PoolMembership.objects.get_or_create(pool=pool, user=user)
        if created:
            projects = list(Project.objects.filter(pool_attachments__pool=pool))
            added = [project.pk for project in projects if _ensure_annotator(project, user)]
            audit_record(actor=actor, action="pool.member_add", target=pool,
                         label=f"{user.get_username()} to {pool.name}",
                         after={"user": user.get_username(), "memberships_created": added})
    return member


def pool_member_remove(*, actor: Actor, pool: RaterPool, user: AbstractBaseUser) -> None:
    """Take a rater out of the pool; their project memberships stay (pause them if needed)."""
    with transaction.atomic():
        deleted, _ = PoolMembership.objects.filter(pool=pool, user=user).delete()
        if not deleted:
            raise ValidationError({"username": f"{user.get_username()} is not in this pool."})
        audit_record(actor=actor, action="pool.member_remove", target=pool,
                     label=f"{user.get_username()} from {pool.name}",
                     before={"user": user.get_username()})


def pool_attach_project(*, actor: Actor, pool: RaterPool, project: Project) -> PoolProject:
    """Attach the pool: each member becomes an annotator of ``project`` unless a member."""
    with transaction.atomic():
        attachment, created = PoolProject.objects.get_or_create(pool=pool, project=project)
        if not created:
            raise ValidationError({"project": f"{pool.name} is already attached to "
                                              f"{project.name}."})
        members = pool.memberships.values_list("user_id", flat=True)
        existing = set(Membership.objects.filter(project=project, user_id__in=members)
                       .values_list("user_id", flat=True))
        new = [Membership(project=project, user_id=user_id, role=Role.ANNOTATOR)
               for user_id in members if user_id not in existing]
        Membership.objects.bulk_create(new)
        audit_record(actor=actor, action="pool.attach", target=pool, project=project,
                     label=f"{pool.name} to {project.name}",
                     after={"project": project.name, "memberships_created": len(new)})
    return attachment


def pool_detach_project(*, actor: Actor, pool: RaterPool, project: Project) -> None:
    """Stop new memberships from the pool; existing memberships stay."""
    with transaction.atomic():
        deleted, _ = PoolProject.objects.filter(pool=pool, project=project).delete()
        if not deleted:
            raise ValidationError({"project": f"{pool.name} is not attached to {project.name}."})
        audit_record(actor=actor, action="pool.detach", target=pool, project=project,
                     label=f"{pool.name} from {project.name}", before={"project": project.name})


def _ensure_annotator(project: Project, user: AbstractBaseUser) -> bool:
    _membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": Role.ANNOTATOR})
    return created
