"""Creating and configuring projects and their members."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from annotations.models import Membership, Project, ProjectKind, RationaleMode, Role
from annotations.selectors.projects import guideline_version_used

MAX_CRITERIA = 20
MAX_LABEL_CHARS = 100
STRENGTH_LEVELS = (2, 5)  # keys q w e r t


@dataclass(frozen=True)
class TaskConfig:
    """What a lead configures for the pairwise task."""

    name: str
    kind: str = ProjectKind.PAIRWISE
    instructions: str = ""
    criteria: tuple[str, ...] = ()
    allow_ties: bool = True
    allow_both_bad: bool = False
    strength_scale: tuple[str, ...] = ()
    rationale: str = RationaleMode.OFF
    fit_every_n: int = 20


def project_create(*, creator: AbstractBaseUser, config: TaskConfig) -> Project:
    """Create a project; its creator becomes its lead."""
    _validate_config(config)
    with transaction.atomic():
        project = Project.objects.create(slug=_unique_slug(config.name), created_by=creator,
                                         **_config_fields(config))
        Membership.objects.create(project=project, user=creator, role=Role.LEAD)
    return project


def project_update(*, project: Project, config: TaskConfig) -> Project:
    """Change the task configuration; a changed task bumps the guideline version once work
    was recorded under the current one."""
    _validate_config(config)
    fields = _config_fields(config)
    guideline_changed = any(getattr(project, name) != value for name, value in fields.items()
                            if name not in ("name", "fit_every_n"))
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        if guideline_changed and guideline_version_used(locked):
            locked.guideline_version += 1
        locked.save()
    return locked


@dataclass(frozen=True)
class MemberChange:
    membership: Membership
    previous_role: str | None  # None: the user was not a member before

    @property
    def message(self) -> str:
        """What happened, in words, for the lead who asked."""
        user, role = self.membership.user.get_username(), self.membership.get_role_display()
        if self.previous_role is None:
            return f"{user} added as {role.lower()}."
        if self.previous_role == self.membership.role:
            return f"{user} is already {_article(role)} {role.lower()} here; nothing changed."
        return (f"{user} is now {_article(role)} {role.lower()} "
                f"(was {Role(self.previous_role).label.lower()}).")


def project_member_add(*, project: Project, username: str, role: str = Role.ANNOTATOR
                       ) -> MemberChange:
    """Add an existing user to the project (or change their role)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise ValidationError({"username": f"No active user named {username.strip()!r}."})
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role})
    previous = None if created else membership.role
    if not created and membership.role != role:
        if membership.role == Role.LEAD and not _has_other_lead(membership):
            raise ValidationError({"role": "A project needs at least one lead."})
        membership.role = role
        membership.save(update_fields=["role"])
    return MemberChange(membership, previous)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _has_other_lead(membership: Membership) -> bool:
    return (Membership.objects.filter(project_id=membership.project_id, role=Role.LEAD)
            .exclude(pk=membership.pk).exists())


def _config_fields(config: TaskConfig) -> dict[str, object]:
    return {
        "name": config.name.strip(),
        "kind": config.kind,
        "instructions": config.instructions,
        "criteria": list(config.criteria),
        "allow_ties": config.allow_ties,
        "allow_both_bad": config.allow_both_bad,
        "strength_scale": list(config.strength_scale),
        "rationale": config.rationale,
        "fit_every_n": config.fit_every_n,
    }


def _validate_config(config: TaskConfig) -> None:
    errors: dict[str, str] = {}
    if not config.name.strip():
        errors["name"] = "A project needs a name."
    elif len(config.name.strip()) > 200:
        errors["name"] = "Names are at most 200 characters."
    if config.kind not in ProjectKind.values:
        errors["kind"] = f"Unknown kind {config.kind!r}."
    if config.rationale not in RationaleMode.values:
        errors["rationale"] = f"Unknown rationale mode {config.rationale!r}."
    if message := _label_list_problem(config.criteria, "criteria", (0, MAX_CRITERIA)):
        errors["criteria"] = message
    if config.strength_scale and (
        message := _label_list_problem(config.strength_scale, "strength levels", STRENGTH_LEVELS)
    ):
        errors["strength_scale"] = message
    if not 1 <= config.fit_every_n <= 100_000:
        errors["fit_every_n"] = "Refit after between 1 and 100000 judgments."
    if errors:
        raise ValidationError(errors)


def _label_list_problem(labels: tuple[str, ...], what: str, bounds: tuple[int, int]) -> str:
    low, high = bounds
    if not low <= len(labels) <= high:
        return f"Give between {low} and {high} {what}."
    if any(not label.strip() or len(label) > MAX_LABEL_CHARS for label in labels):
        return f"Each of the {what} needs 1 to {MAX_LABEL_CHARS} characters."
    if len({label.strip().casefold() for label in labels}) != len(labels):
        return f"The {what} must be distinct."
    return ""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:200] or "project"
    slug, suffix = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug
