"""A real Celery worker process on the local Redis runs a task enqueued after a commit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from annotations.models import WorkerHeartbeat
from annotations.tasks import worker_heartbeat
from feedback.celery import app
from tests.conftest import REDIS_TEST_URL, service_reachable

ROOT = Path(__file__).resolve().parents[2]
QUEUE = f"test-worker-{os.getpid()}"  # concurrent test runs must not share a queue


def database_url_for_subprocess() -> str:
    """The test database (not the configured one), so the worker sees the test's rows."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(broker_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DEBUG": "1", "CELERY_BROKER_URL": broker_url,
           "DATABASE_URL": database_url_for_subprocess()}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "feedback", "worker", "--queues", QUEUE,
         "--pool", "solo", "--loglevel", "INFO", "--hostname", f"test-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_task_enqueued_on_commit_runs_in_a_real_worker():
    if not service_reachable(REDIS_TEST_URL, 6379):
        pytest.skip(f"needs a Redis server at {REDIS_TEST_URL} (set REDIS_TEST_URL)")
    with app.connection_for_write(REDIS_TEST_URL) as broker:
        app.control.purge(connection=broker)
        worker = start_worker(REDIS_TEST_URL)
        try:
            with transaction.atomic():
                transaction.on_commit(lambda: worker_heartbeat.apply_async(
                    args=[QUEUE], queue=QUEUE, connection=broker))
                assert not WorkerHeartbeat.objects.exists()  # nothing sent before commit
            ran = wait_for(lambda: WorkerHeartbeat.objects.filter(queue=QUEUE).exists(), 90)
        finally:
            worker.terminate()
            output = worker.communicate(timeout=30)[0]
    assert ran, f"the worker did not run the task; its log:\n{output[-3000:]}"
    assert "worker_heartbeat" in output
    assert "succeeded" in output
