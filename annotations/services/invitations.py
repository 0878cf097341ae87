"""Invitation links: create (one or a CSV of emails), revoke, and accept.

A link carries a random token; only its SHA-256 is stored, so the link is shown (or
downloaded, or mailed) once, when it is made. An invitation brings its user into a project
with a preset role and/or into a pool. The preset role never exceeds the inviter's: only
administrators and the project's leads may invite to it, and acceptance re-checks that the
inviter still may.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from annotations.access import is_admin, pool_can_manage
from annotations.csv_lines import CsvProblem, csv_lines
from annotations.models import (
    Invitation,
    InvitationUse,
    Membership,
    Project,
    RaterPool,
    RaterState,
    RaterStatus,
    Role,
)
from annotations.services.audit import Actor, audit_record
from annotations.services.links import LinkRefused, link_token_hash, link_token_new
from annotations.services.pools import pool_member_add_user

ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.LEAD: 3}
MAX_USES = 10_000
MAX_BULK_ROWS = 2_000
MAX_BULK_BYTES = 1_000_000


@dataclass(frozen=True)
class InvitationPreset:
    """Where an invitation brings people, and until when."""

    expires_at: datetime
    project: Project | None = None
    role: str = Role.ANNOTATOR
    pool: RaterPool | None = None
    max_uses: int = 1


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # the secret part of the link; not stored


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str
    email: str = ""


def invitation_create(*, actor: Actor, preset: InvitationPreset, email: str = ""
                      ) -> IssuedInvitation:
    _check_preset(actor, preset)
    with transaction.atomic():
        issued = _issue(preset, email, actor)
        audit_record(actor=actor, action="invitation.create", target=issued.invitation,
                     project=preset.project, after=_invitation_state(issued.invitation))
    return issued


def invitation_bulk_create(*, actor: Actor, preset: InvitationPreset, csv_data: bytes
                           ) -> list[IssuedInvitation]:
    """One single-use invitation per email of the CSV (a column ``email``, or one email
    per line). All or nothing: any bad row and nothing is created. Mails the links when
    an SMTP server is configured (``EMAIL_HOST``)."""
    _check_preset(actor, preset)
    emails = emails_from_csv(csv_data)
    single = InvitationPreset(expires_at=preset.expires_at, project=preset.project,
                              role=preset.role, pool=preset.pool, max_uses=1)
    with transaction.atomic():
        issued = [_issue(single, email, actor) for email in emails]
        audit_record(actor=actor, action="invitation.bulk_create", target=None,
                     project=preset.project, label=f"{len(issued)} invitations",
                     after={"emails": emails, **_invitation_state(issued[0].invitation),
                            "ids": [item.invitation.pk for item in issued]})
    return issued


def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.revoked_at is None:
            before = _invitation_state(locked)
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="invitation.revoke", target=locked,
                         project=locked.project, before=before, after=_invitation_state(locked))
    return locked


def invitation_check(token: str) -> Invitation:
    """The usable invitation for ``token``, or :class:`LinkRefused` saying why not."""
    invitation = (Invitation.objects.select_related("project", "pool", "created_by")
                  .filter(token_hash=link_token_hash(token)).first())
    if invitation is None:
        raise LinkRefused("This invitation link is not valid. Check that you copied all of "
                          "it, or ask for a new one.", status=404)
    if invitation.revoked_at is not None:
        raise LinkRefused("This invitation was withdrawn. Ask for a new one.", status=410)
    if invitation.expires_at <= timezone.now():
        raise LinkRefused(f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} "
                          "UTC. Ask for a new one.", status=410)
    if invitation.uses >= invitation.max_uses:
        message = ("This invitation has already been used." if invitation.max_uses == 1 else
                   f"This invitation has reached its limit of {invitation.max_uses} uses.")
        raise LinkRefused(f"{message} Ask for a new one.", status=410)
    return invitation


def invitation_accept(*, token: str, user: AbstractBaseUser | None = None,
                      account: NewAccount | None = None, ip: str | None = None
                      ) -> tuple[AbstractBaseUser, Invitation]:
    """Use the invitation: for ``user`` (signed in) or a new ``account``. Creates the
    account, joins the pool and the project; one transaction, and the use is counted under
    a row lock so a capped link is never used more often than its cap."""
    invitation = invitation_check(token)
    if user is None:
        _validate_account(account)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        invitation_check(token)  # again, under the lock
        _check_inviter_still_may(invitation)
        created = user is None
        user = user or _create_account(account)
        _refuse_blocked(user)
        if InvitationUse.objects.filter(invitation=invitation, user=user).exists():
            raise LinkRefused("You have already used this invitation.", status=410)
        _join(invitation, user, ip)
        InvitationUse.objects.create(invitation=invitation, user=user, created_account=created)
        invitation.uses += 1
        invitation.save(update_fields=["uses"])
    return user, invitation


def invitation_mail(*, issued: list[IssuedInvitation], links: list[str]) -> int:
    """Send each invitation to its email if an SMTP server is configured; returns the count."""
    if not smtp_configured():
        return 0
    for item, link in zip(issued, links, strict=True):
        if item.invitation.email:
            send_mail("Your invitation to feedback",
                      f"You are invited to judge AI outputs on feedback.\n\nOpen this link to "
                      f"set your password and start: {link}\n\nThe link expires on "
                      f"{item.invitation.expires_at:%Y-%m-%d %H:%M} UTC.",
                      None, [item.invitation.email])
    return sum(1 for item in issued if item.invitation.email)


def smtp_configured() -> bool:
    return bool(settings.EMAIL_HOST)


def emails_from_csv(data: bytes) -> list[str]:
    """The addresses of a CSV with an ``email`` column (or one address per line); errors
    name file lines, as every import does (annotations/csv_lines.py)."""
    if len(data) > MAX_BULK_BYTES:
        raise ValidationError({"file": f"The file is over {MAX_BULK_BYTES:,} bytes."})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValidationError({"file": f"line {line}: the file is not UTF-8 text."}) from None
    try:
        rows = list(csv_lines(text))
    except CsvProblem as problem:
        raise ValidationError({"file": str(problem)}) from None
    column = _email_column(rows[0][1]) if rows else 0
    if rows and column < len(rows[0][1]) and rows[0][1][column].strip().lower() == "email":
        rows = rows[1:]
    emails, errors = _parse_emails(rows, column)
    if not emails and not errors:
        errors.append("The file has no email addresses.")
    if len(emails) > MAX_BULK_ROWS:
        errors.append(f"At most {MAX_BULK_ROWS} invitations at once.")
    if errors:
        raise ValidationError({"file": errors})
    return emails


def _parse_emails(rows: list[tuple[int, list[str]]], column: int
                  ) -> tuple[list[str], list[str]]:
    emails, errors, seen = [], [], {}
    for number, row in rows:
        email = row[column].strip() if column < len(row) else ""
        try:
            validate_email(email)
        except ValidationError:
            errors.append(f"line {number}: {email!r} is not an email address.")
            continue
        if email.lower() in seen:
            errors.append(f"line {number}: {email} appears twice (first on line "
                          f"{seen[email.lower()]}).")
            continue
        seen[email.lower()] = number
        emails.append(email)
    return emails, errors


def _email_column(header: list[str]) -> int:
    names = [cell.strip().lower() for cell in header]
    return names.index("email") if "email" in names else 0


def _check_preset(actor: Actor, preset: InvitationPreset) -> None:
    errors: dict[str, str] = {}
    if preset.project is None and preset.pool is None:
        errors["project"] = "Choose a project, a pool or both: the invitation must lead somewhere."
    if preset.role not in ROLE_RANK:
        errors["role"] = f"Unknown role {preset.role!r}."
    elif preset.project is not None and ROLE_RANK[preset.role] > _rank_of(actor.user,
                                                                          preset.project):
        errors["role"] = "You cannot invite people to a role above your own in this project."
    if preset.pool is not None and not pool_can_manage(actor.user, preset.pool):
        errors["pool"] = "You can only invite people to pools you manage."
    if not 1 <= preset.max_uses <= MAX_USES:
        errors["max_uses"] = f"An invitation can be used 1 to {MAX_USES:,} times."
    if preset.expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)


def _rank_of(user: AbstractBaseUser | None, project: Project) -> int:
    if user is None:
        return 0
    if is_admin(user):
        return ROLE_RANK[Role.LEAD]
    membership = Membership.objects.filter(project=project, user=user).first()
    return ROLE_RANK[membership.role] if membership and membership.role == Role.LEAD else 0


def _check_inviter_still_may(invitation: Invitation) -> None:
    project_ok = invitation.project is None or (
        ROLE_RANK[invitation.role] <= _rank_of(invitation.created_by, invitation.project))
    pool_ok = invitation.pool is None or (
        invitation.created_by is not None and pool_can_manage(invitation.created_by,
                                                              invitation.pool))
    if not (project_ok and pool_ok):
        raise LinkRefused("This invitation is no longer valid: the person who made it can no "
                          "longer invite to this project or pool.", status=410)


def _issue(preset: InvitationPreset, email: str, actor: Actor) -> IssuedInvitation:
    token, token_hash = link_token_new()
    invitation = Invitation.objects.create(
        token_hash=token_hash, created_by=actor.user, project=preset.project, role=preset.role,
        pool=preset.pool, email=email, max_uses=preset.max_uses, expires_at=preset.expires_at)
    return IssuedInvitation(invitation, token)


def _validate_account(account: NewAccount | None) -> None:
    if account is None:
        raise ValidationError({"username": "Choose a username and a password."})
    User = get_user_model()
    errors: dict[str, list[str]] = {}
    username = account.username.strip()
    if not username:
        errors["username"] = ["Choose a username."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"The username {username!r} is taken; choose another."]
    else:
        errors.update(_field_problems(User, User.USERNAME_FIELD, username))
    if account.email.strip():
        errors.update(_field_problems(User, "email", account.email.strip()))
    try:
        password_validation.validate_password(account.password,
                                              User(username=username, email=account.email))
    except ValidationError as problem:
        errors["password"] = problem.messages
    if errors:
        raise ValidationError(errors)


def _field_problems(model: type, field: str, value: str) -> dict[str, list[str]]:
    try:
        model._meta.get_field(field).run_validators(value)
    except ValidationError as problem:
        return {field: problem.messages}
    return {}


def _create_account(account: NewAccount) -> AbstractBaseUser:
    User = get_user_model()
    user = User(username=account.username.strip(), email=account.email.strip())
    user.set_password(account.password)
    user.save()
    return user


def _refuse_blocked(user: AbstractBaseUser) -> None:
    status = RaterStatus.objects.filter(user=user).first()
    if status is not None and status.status == RaterState.BLOCKED:
        raise LinkRefused("Your account is blocked; this invitation cannot be used with it.",
                          status=403)


def _join(invitation: Invitation, user: AbstractBaseUser, ip: str | None) -> None:
    inviter = Actor(user=invitation.created_by, ip=ip)
    if invitation.pool is not None:
        pool_member_add_user(actor=inviter, pool=invitation.pool, user=user)
    before = after = None
    if invitation.project is not None:
        membership = Membership.objects.filter(project=invitation.project, user=user).first()
        before = membership.role if membership else None
        if membership is None:
            Membership.objects.create(project=invitation.project, user=user,
                                      role=invitation.role)
        elif ROLE_RANK[invitation.role] > ROLE_RANK[membership.role]:
            membership.role = invitation.role  # never lowered by an invitation
            membership.save(update_fields=["role"])
        after = max(filter(None, [before, invitation.role]), key=ROLE_RANK.__getitem__)
    audit_record(actor=Actor(user=user, ip=ip), action="invitation.accept", target=invitation,
                 project=invitation.project, label=f"{user.get_username()} via invitation "
                                                   f"{invitation.pk}",
                 before={"role": before}, after={"role": after, "pool": invitation.pool_id})


def _invitation_state(invitation: Invitation) -> dict[str, object]:
    return {"project": invitation.project_id, "role": invitation.role,
            "pool": invitation.pool_id, "email": invitation.email,
            "max_uses": invitation.max_uses, "uses": invitation.uses,
            "expires_at": invitation.expires_at.isoformat(),
            "revoked_at": invitation.revoked_at.isoformat() if invitation.revoked_at else None}
