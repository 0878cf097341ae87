"""Operational records."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a Celery task; the dashboard shows whether the workers are alive."""

    hostname = models.CharField(max_length=255)
    queue = models.CharField(max_length=50)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hostname", "queue"], name="heartbeat_unique_worker"),
        ]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.queue}) seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
