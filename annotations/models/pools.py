"""Rater pools, invitations, global rater status, workload caps and crowd studies.

Pools give access by **materialised memberships**: attaching a pool to a project, or adding a
rater to a pool that is attached to projects, creates an annotator :class:`Membership` in each
of those projects (an existing membership keeps its role and status). So the access layer
keeps one source of truth, ``Membership``, and a lead can pause, exclude or cap a pool rater
like any other member. Detaching a pool or removing a rater from it stops new memberships;
memberships that already exist stay (their judgments stay attributable), and a lead pauses
or blocks them explicitly if the person must stop.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotations.models.project import Project, Role


class RaterPool(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   help_text="The owner: may manage the pool besides admins.")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="PoolMembership",
                                     related_name="rater_pools")
    projects = models.ManyToManyField(Project, through="PoolProject", related_name="rater_pools")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PoolMembership(models.Model):
    pool = models.ForeignKey(RaterPool, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="pool_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "user"], name="poolmembership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in pool {self.pool}"


class PoolProject(models.Model):
    pool = models.ForeignKey(RaterPool, on_delete=models.CASCADE, related_name="attachments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pool_attachments")
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "project"], name="poolproject_unique_project"),
        ]

    def __str__(self) -> str:
        return f"pool {self.pool} on {self.project}"


class Invitation(models.Model):
    """A link that lets a person create an account (or join with theirs) and land in a
    project and/or a pool. Only the SHA-256 of the token is stored: the link is shown once."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="invitations")
    role = models.CharField(max_length=10, choices=Role, default=Role.ANNOTATOR,
                            help_text="Role in the preset project.")
    pool = models.ForeignKey(RaterPool, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="invitations")
    email = models.EmailField(blank=True, help_text="Who it was meant for (bulk invitations).")
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(uses__lte=models.F("max_uses")),
                                   name="invitation_uses_within_cap"),
            models.CheckConstraint(condition=Q(project__isnull=False) | Q(pool__isnull=False),
                                   name="invitation_has_destination"),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.uses}/{self.max_uses})"


class InvitationUse(models.Model):
    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE,
                                   related_name="acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    created_account = models.BooleanField()
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invitation", "user"], name="invitationuse_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} used invitation {self.invitation_id}"


class RaterState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    BLOCKED = "blocked", "Blocked"


class RaterStatus(models.Model):
    """A rater's status across all projects; absent means active."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="rater_status")
    status = models.CharField(max_length=10, choices=RaterState, default=RaterState.ACTIVE)
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.status}"


class WorkloadCap(models.Model):
    """Limits on how many judgments a rater may give in a project: per day (UTC) and in
    total. ``rater`` empty: the project's default for every rater; a rater's own row wins."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workload_caps")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.CASCADE, related_name="+")
    per_day = models.PositiveIntegerField(null=True, blank=True)
    per_project = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "rater"], name="workloadcap_unique_rater"),
            models.UniqueConstraint(fields=["project"], condition=Q(rater__isnull=True),
                                    name="workloadcap_unique_default"),
        ]

    def __str__(self) -> str:
        return f"cap {self.per_day}/day {self.per_project} total for {self.rater or 'everyone'}"


class CrowdPlatform(models.TextChoices):
    PROLIFIC = "prolific", "Prolific"
    MTURK = "mturk", "Amazon Mechanical Turk"


class CrowdStudy(models.Model):
    """An entry link for a crowd platform: participants arrive with their platform ids,
    get (or get back) an account, judge ``tasks_per_participant`` pairs and see the
    completion code."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="crowd_studies")
    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=10, choices=CrowdPlatform)
    token_hash = models.CharField(max_length=64, unique=True)
    pool = models.ForeignKey(RaterPool, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="crowd_studies")
    tasks_per_participant = models.PositiveIntegerField()
    completion_code = models.CharField(max_length=64)
    max_participants = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform})"


class CrowdIdentity(models.Model):
    """The account that stands for one platform worker id (the same person on every study)."""

    platform = models.CharField(max_length=10, choices=CrowdPlatform)
    worker_id = models.CharField(max_length=64)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="crowd_identity")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "worker_id"], name="crowdidentity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} worker {self.worker_id}"


class CrowdParticipation(models.Model):
    study = models.ForeignKey(CrowdStudy, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    study_ref = models.CharField(max_length=64, blank=True, help_text="STUDY_ID or hitId.")
    session_ref = models.CharField(max_length=64, blank=True,
                                   help_text="SESSION_ID or assignmentId.")
    joined_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="crowdparticipation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in study {self.study_id}"
