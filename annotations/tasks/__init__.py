"""Celery tasks: the app side of the fitting seam (``fits``, on the ``modeling`` queue)
and light jobs (``workers``, on the default queue). Tasks take ids and are idempotent."""

from annotations.tasks.fits import fit_run_execute, fit_runs_reconcile_task
from annotations.tasks.workers import worker_heartbeat

__all__ = ["fit_run_execute", "fit_runs_reconcile_task", "worker_heartbeat"]
