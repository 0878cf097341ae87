"""``python manage.py fit PROJECT [--kind bradley_terry] [--sync]``: request a fit of the
project's current data; with ``--sync`` run it here instead of on a worker."""

from __future__ import annotations

from celery import current_app
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.fit_kinds import KINDS
from annotations.management.commands._project import project_from_argument
from annotations.models import FitKind, FitRun, FitTrigger
from annotations.services.fits import FIT_TASK, fit_run_request


class Command(BaseCommand):
    help = ("Fit a model to a project's data (queued for the modeling worker, or run here "
            "with --sync). A second request for the same data is a no-op.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project id or slug.")
        parser.add_argument("--kind", default=FitKind.BRADLEY_TERRY, choices=sorted(KINDS))
        parser.add_argument("--sync", action="store_true",
                            help="Run the fit in this process and wait for it.")
        parser.add_argument("--alpha", type=float, help="Prior precision (0: plain ML).")
        parser.add_argument("--ties", choices=["half", "davidson"])
        parser.add_argument("--bootstrap", type=int, help="Bootstrap replicates (0: none).")
        parser.add_argument("--no-position-bias", dest="position_bias", action="store_false",
                            default=None)
        parser.add_argument("--no-rater-reliability", dest="rater_reliability",
                            action="store_false", default=None)
        parser.add_argument("--no-evaluation", dest="evaluation", action="store_false",
                            default=None)
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"])

    def handle(self, *args: object, project: str, kind: str, sync: bool,
               **options: object) -> None:
        chosen = {name: options[name] for name in ("alpha", "ties", "bootstrap",
                                                   "position_bias", "rater_reliability",
                                                   "evaluation", "device")
                  if options.get(name) is not None}
        target = project_from_argument(project)
        try:
            request = fit_run_request(project=target, kind=kind, trigger=FitTrigger.MANUAL,
                                      options=chosen)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        run = request.run
        if not request.queued and not (sync and run.status == "queued"):
            self.stdout.write(f"run {run.pk} already covers these data (up to judgment "
                              f"#{run.data_version}): {run.status}")
            return
        if sync:  # a queued run is run here; a worker that picks it up later skips it
            _run_here(run.pk)
            run.refresh_from_db()
        self.stdout.write(_describe(run))
        if run.status == "failed":
            raise CommandError(run.error)


def _run_here(run_id: int) -> None:
    """Run the task in this process, found by name like the web sends it (this command,
    like a worker, may load the math; the web process never does)."""
    current_app.loader.import_default_modules()
    current_app.tasks[FIT_TASK].apply(args=[run_id])


def _describe(run: FitRun) -> str:
    if run.status == "queued":
        return f"run {run.pk} queued for the modeling worker (data up to #{run.data_version})"
    timing = f" in {run.seconds:.2f} s on {run.device}" if run.seconds is not None else ""
    return (f"run {run.pk} {run.status}{timing}: {run.n_data or 0} judgments, "
            f"{run.n_iter or 0} iterations" + (f"\n{run.error}" if run.error else ""))
