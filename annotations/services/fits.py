"""Fit runs: request (idempotent per data version), start, record results, fail, reconcile.

The web process only writes rows and sends the task *by name* after the commit, so it
never imports the math (or torch). The worker (annotations/tasks/fits.py) calls
:func:`fit_run_start`, computes, and calls :func:`fit_run_record_results` or
:func:`fit_run_fail`. Results, the kind's extra outputs and the flip to ``succeeded`` are
one transaction. What each kind reads and writes: ``annotations/fit_kinds/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations.fit_kinds import KINDS, FitKindSpec, FitResults, fit_kind_spec
from annotations.models import (
    FitRun,
    FitStatus,
    FitTrigger,
    ItemScore,
    PairwiseJudgment,
    Project,
    RaterScore,
    SourceScore,
)
from annotations.models.fits import ACTIVE_FIT_STATUSES, FINISHED_FIT_STATUSES
from annotations.selectors.fits import (
    fit_data_count,
    fit_data_digest,
    fit_data_version,
    fit_run_latest_version,
    fit_runs_stale,
)
from annotations.services.gating import quality_gate_after_fit

__all__ = ["FitRequest", "FitResults", "fit_run_fail", "fit_run_record_results",
           "fit_run_request", "fit_run_start", "fit_runs_reconcile",
           "fit_trigger_after_judgment", "fit_trigger_for_kind"]

logger = logging.getLogger(__name__)

FIT_TASK = "annotations.tasks.fits.fit_run_execute"
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class FitRequest:
    run: FitRun
    queued: bool  # False: a run for this data version already existed (a no-op)


def fit_run_request(*, project: Project, kind: str, trigger: str,
                    requested_by: AbstractBaseUser | None = None,
                    options: Mapping[str, Any] | None = None) -> FitRequest:
    """Queue a fit of ``kind`` on the project's data as of now.

    A run for the same data (version and digest) is looked up and nothing is queued,
    except that a manual request re-queues a *failed* run. Creators of a run are
    serialized by a lock on the project row, so a concurrent duplicate finds the first
    one instead of violating the unique constraint. ``ValidationError`` when there is
    nothing to fit or an option is bad; nothing is written then.
    """
    spec = _spec_or_error(kind)
    checked = _checked_options(spec, options or {})
    version = fit_data_version(project=project, kind=kind)
    digest = fit_data_digest(project=project, kind=kind, up_to=version)
    if not spec.applies_to(project) or digest.startswith("0:"):
        raise ValidationError(f"Nothing to fit yet: this project has no {spec.noun} (skipped, "
                              "undone, rejected and excluded ones do not count).")
    same_data = {"project": project, "kind": kind, "data_version": version,
                 "data_digest": digest}
    with transaction.atomic():
        run = FitRun.objects.filter(**same_data).first()
        if run is None:
            Project.objects.select_for_update().filter(pk=project.pk).values("pk").first()
            run = FitRun.objects.filter(**same_data).first()
        if run is None:
            run = FitRun.objects.create(**same_data, options=checked, trigger=trigger,
                                        requested_by=requested_by, enqueued_at=timezone.now())
        elif not _requeue_failed(run, trigger):
            return FitRequest(run, queued=False)
        _send_after_commit(run.pk)
    return FitRequest(run, queued=True)


def fit_trigger_after_judgment(*, project: Project) -> list[FitRun]:
    """After a judgment is committed: request every pairwise kind whose data grew by
    ``project.fit_every_n`` since its newest run (two indexed queries per kind)."""
    requested = []
    for spec in KINDS.values():
        if spec.rows is not PairwiseJudgment:
            continue
        run = fit_trigger_for_kind(project=project, kind=spec.kind)
        if run is not None:
            requested.append(run)
    return requested


def fit_trigger_for_kind(*, project: Project, kind: str) -> FitRun | None:
    """Request an automatic fit of ``kind`` when enough new data arrived; else ``None``."""
    spec = fit_kind_spec(kind)
    if not spec.applies_to(project):
        return None
    since = fit_run_latest_version(project=project, kind=kind)
    if fit_data_count(project=project, kind=kind, after=since) < project.fit_every_n:
        return None
    return fit_run_request(project=project, kind=kind, trigger=FitTrigger.AUTO).run


def fit_run_start(*, run_id: int, worker: str = "", device: str = "") -> FitRun | None:
    """Claim a delivery of the run's task; ``None`` when there is nothing to do.

    Nothing to do: the run is finished (a duplicate delivery), or a run of the same kind on
    newer data is queued, running or done (this one is marked superseded). A run delivered
    ``FIT_MAX_ATTEMPTS`` times without finishing is marked failed.
    """
    with transaction.atomic():
        run = FitRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in FINISHED_FIT_STATUSES:
            return None
        if _has_newer_run(run):
            _finish(run, FitStatus.SUPERSEDED, error="A run on newer data was requested; "
                                                     "this one was skipped.")
            return None
        if run.attempts >= settings.FIT_MAX_ATTEMPTS:
            _finish(run, FitStatus.FAILED, error=(
                f"Gave up after {run.attempts} attempts that did not finish (the worker was "
                "lost, or the database or broker kept failing)."))
            return None
        run.attempts += 1
        run.status, run.started_at = FitStatus.RUNNING, timezone.now()
        run.worker, run.device = worker[:255], device[:40]
        run.save(update_fields=["attempts", "status", "started_at", "worker", "device"])
    return run


def fit_run_record_results(*, run: FitRun, results: FitResults) -> bool:
    """Write the results (scores, then each of ``results.outputs``) and mark the run
    succeeded, in one transaction. ``False`` (and nothing written) when the run is no
    longer running, e.g. a duplicate delivery won."""
    with transaction.atomic():
        locked = FitRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.status != FitStatus.RUNNING:
            return False
        for rows in (results.item_scores, results.source_scores, results.rater_scores):
            for row in rows:
                row.run = locked
        ItemScore.objects.bulk_create(results.item_scores, batch_size=2000)
        SourceScore.objects.bulk_create(results.source_scores, batch_size=2000)
        RaterScore.objects.bulk_create(results.rater_scores, batch_size=2000)
        for output in results.outputs:
            output.write(locked)
        locked.n_data, locked.n_iter = results.n_data, results.n_iter
        locked.converged, locked.log_likelihood = results.converged, results.log_likelihood
        locked.metrics, locked.warnings = dict(results.metrics), list(results.warnings)
        locked.device = results.device[:40] or locked.device
        _finish(locked, FitStatus.SUCCEEDED, error="")
        # Fit-based quality gates (Crowd-BT reliability, infit/outfit) see the new numbers.
        transaction.on_commit(lambda: quality_gate_after_fit(project_id=locked.project_id))
    run.refresh_from_db()
    return True


def fit_run_fail(*, run_id: int, error: str, warnings: Sequence[str] = (),
                 n_data: int | None = None) -> bool:
    """Record a failure that retrying will not fix (e.g. the estimate does not exist)."""
    with transaction.atomic():
        run = FitRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in FINISHED_FIT_STATUSES:
            return False
        run.warnings = list(warnings)
        run.n_data = n_data if n_data is not None else run.n_data
        _finish(run, FitStatus.FAILED, error=error)
    return True


def fit_runs_reconcile() -> list[int]:
    """Re-send the tasks of runs that look lost (broker restarted, worker killed). The
    attempt counter bounds how often a run is retried; duplicates are no-ops."""
    resent = []
    for stale in fit_runs_stale():
        with transaction.atomic():
            run = FitRun.objects.select_for_update().filter(pk=stale.pk).first()
            if run is None or run.status not in ACTIVE_FIT_STATUSES:
                continue
            run.enqueued_at = timezone.now()
            run.save(update_fields=["enqueued_at"])
            _send_after_commit(run.pk)
        resent.append(run.pk)
    if resent:
        logger.warning("re-sent %d stale fit run(s): %s", len(resent), resent)
    return resent


def _spec_or_error(kind: str) -> FitKindSpec[Any, Any, Any]:
    try:
        return fit_kind_spec(kind)
    except ValueError as error:
        raise ValidationError({"kind": str(error)}) from None


def _checked_options(spec: FitKindSpec[Any, Any, Any], options: Mapping[str, Any]
                     ) -> dict[str, Any]:
    try:
        return spec.check_options(options)
    except ValueError as error:
        raise ValidationError({"options": str(error)}) from None


def _requeue_failed(run: FitRun, trigger: str) -> bool:
    """A manual request retries a failed run on the same data (e.g. after a fix)."""
    if trigger != FitTrigger.MANUAL or run.status != FitStatus.FAILED:
        return False
    run.status, run.error, run.attempts, run.trigger = FitStatus.QUEUED, "", 0, trigger
    run.enqueued_at, run.started_at, run.finished_at = timezone.now(), None, None
    run.save(update_fields=["status", "error", "attempts", "trigger", "enqueued_at",
                            "started_at", "finished_at"])
    return True


def _has_newer_run(run: FitRun) -> bool:
    newer = Q(data_version__gt=run.data_version) | Q(data_version=run.data_version,
                                                     pk__gt=run.pk)
    return (FitRun.objects.filter(newer, project_id=run.project_id, kind=run.kind)
            .exclude(status__in=(FitStatus.FAILED, FitStatus.SUPERSEDED)).exists())


def _finish(run: FitRun, status: str, *, error: str) -> None:
    now = timezone.now()
    run.status, run.finished_at, run.error = status, now, error[:MAX_ERROR_CHARS]
    if run.started_at is not None and status != FitStatus.SUPERSEDED:
        run.seconds = (now - run.started_at).total_seconds()
    run.save()


def _send_after_commit(run_id: int) -> None:
    transaction.on_commit(lambda: _send(run_id), robust=True)


def _send(run_id: int) -> None:
    """Send by name (no import of the math here). A broker outage loses nothing: the run
    stays queued and the reconciler sends it again."""
    try:
        current_app.send_task(FIT_TASK, args=[run_id])
    except Exception:  # the broker is optional for correctness, never for a request
        logger.exception("could not send fit run %s to the broker; the reconciler will "
                         "retry", run_id)
