"""The fit task: a run's id in; its kind's selectors, pure function and writer service.

What each kind reads, computes and writes is declared in ``annotations/fit_kinds/``; this
module only dispatches. :func:`fit_run_execute` claims the run (finished runs return at
once, a run delivered ``FIT_MAX_ATTEMPTS`` times is failed), and the results land in one
transaction with the flip to ``succeeded``. Transient database and broker errors are
retried with backoff. A :class:`~modeling.errors.ModelError` (the data cannot support the
model) is recorded on the run and not retried; any other exception is a bug: logged at
ERROR with its traceback and recorded as an internal error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils.module_loading import import_string
from kombu.exceptions import OperationalError as BrokerOperationalError

from annotations.fit_kinds import KINDS, FitResults
from annotations.models import FitRun
from annotations.models.fits import INTERNAL_ERROR
from annotations.services.fits import (
    fit_run_fail,
    fit_run_record_results,
    fit_run_start,
    fit_runs_reconcile,
)
from modeling.errors import ModelError, NothingToFit
from modeling.threads import limit_threads

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError)
MAX_TRANSIENT_RETRIES = 5


@shared_task(name="annotations.tasks.fits.fit_run_execute", bind=True, acks_late=True,
             autoretry_for=TRANSIENT_ERRORS, max_retries=MAX_TRANSIENT_RETRIES,
             retry_backoff=5, retry_backoff_max=300, retry_jitter=True, ignore_result=True)
def fit_run_execute(self: Any, run_id: int) -> str:
    """Run the fit of ``run_id`` once; returns what happened (for logs and tests)."""
    run = fit_run_start(run_id=run_id, worker=self.request.hostname or "")
    if run is None:
        return "skipped"
    if run.kind not in KINDS:
        fit_run_fail(run_id=run.pk, error=f"No fitter is installed for {run.kind!r} fits.")
        return "failed"
    limit_threads()
    try:
        recorded = fit_run_record_results(run=run, results=fit_run_compute(run))
    except TRANSIENT_ERRORS:
        raise  # retried with backoff; the attempt counter bounds redeliveries
    except ModelError as error:  # what the data cannot support: recorded, never retried
        fit_run_fail(run_id=run.pk, error=model_error_text(error))
        logger.info("fit run %s: %s", run.pk, model_error_text(error))
        return "failed"
    except Exception as error:  # a bug: recorded, never retried, and loud
        logger.exception("fit run %s failed with an internal error", run.pk)
        fit_run_fail(run_id=run.pk, error=f"{INTERNAL_ERROR}: {type(error).__name__}: {error}")
        return "failed"
    return "succeeded" if recorded else "skipped"


def fit_run_compute(run: FitRun) -> FitResults:
    """Load, fit and shape the results of ``run``, writing nothing."""
    spec = KINDS[run.kind]
    started = time.perf_counter()
    job = spec.load(run)
    loaded = time.perf_counter()
    report = import_string(spec.fitter.replace(":", "."))(job.data, job.options)
    if not isinstance(report, spec.report):
        raise TypeError(f"{spec.fitter} returned {type(report).__name__}, not "
                        f"{spec.report.__name__}")
    results = spec.results(run, job, report)
    timings = {"load": loaded - started, **results.metrics.get("timings", {}),
               "total": time.perf_counter() - started}
    return replace(results, metrics={**results.metrics, "timings": timings})


def model_error_text(error: ModelError) -> str:
    if isinstance(error, NothingToFit):
        return f"Nothing to fit: {error}"
    return f"Model error: {type(error).__name__}: {error}"


@shared_task(name="annotations.tasks.fits.fit_runs_reconcile", ignore_result=True)
def fit_runs_reconcile_task() -> list[int]:
    """Periodic (Celery beat, on the default queue): re-send runs stuck in queued or
    running."""
    return fit_runs_reconcile()
