"""Light tasks on the default queue: worker liveness."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from annotations.models import WorkerHeartbeat


@shared_task(name="annotations.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queue: str = "default") -> None:
    """Record that a worker consuming ``queue`` is alive (idempotent upsert)."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=socket.gethostname(), queue=queue, defaults={"seen_at": timezone.now()})
