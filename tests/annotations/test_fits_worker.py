"""End to end with a real Celery worker on Redis: judgments are committed through the
service, the trigger requests a fit after ``fit_every_n`` of them, the task goes through the
broker to a worker process, and the results land in the database."""

from __future__ import annotations

import os

import pytest

from annotations.models import FitRun, FitStatus, Outcome, SourceScore
from annotations.services import fits as fit_services
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from feedback.celery import app
from tests.annotations.test_celery_worker import start_worker, wait_for
from tests.annotations.test_fits import add_items
from tests.conftest import REDIS_TEST_URL, service_reachable
from tests.factories import ProjectFactory, UserFactory

QUEUE = f"test-worker-{os.getpid()}"  # the queue start_worker consumes


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_judgments_trigger_a_fit_that_a_real_worker_runs(monkeypatch):
    if not service_reachable(REDIS_TEST_URL, 6379):
        pytest.skip(f"needs a Redis server at {REDIS_TEST_URL} (set REDIS_TEST_URL)")
    project = ProjectFactory(fit_every_n=12)
    add_items(project, groups=4)
    rater = UserFactory(username="rater")
    with app.connection_for_write(REDIS_TEST_URL) as broker:
        app.control.purge(connection=broker)
        # Same task name and arguments as production; only the queue is this test's own,
        # so concurrent test runs never take each other's fits.
        monkeypatch.setattr(fit_services, "_send", lambda run_id: app.send_task(
            fit_services.FIT_TASK, args=[run_id], queue=QUEUE, connection=broker))
        worker = start_worker(REDIS_TEST_URL)
        try:
            for index in range(12):
                assignment = assignment_for_rater(project=project, rater=rater)
                judgment_submit(assignment=assignment, answer=JudgmentInput(
                    outcome=(Outcome.LEFT, Outcome.RIGHT, Outcome.TIE)[index % 3]))
            finished = wait_for(lambda: FitRun.objects.filter(
                status__in=(FitStatus.SUCCEEDED, FitStatus.FAILED)).exists(), 120)
        finally:
            worker.terminate()
            output = worker.communicate(timeout=30)[0]
    assert finished, f"the worker did not finish the fit; its log:\n{output[-3000:]}"
    run = FitRun.objects.get()
    assert run.status == FitStatus.SUCCEEDED, run.error
    assert run.n_data == 12
    assert run.worker.startswith("test-")
    assert SourceScore.objects.filter(run=run).count() == 4
    assert "annotations.tasks.fits.fit_run_execute" in output
