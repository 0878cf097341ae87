"""``make demo``: migrate, load demo data, and serve the app with a real Celery worker.

Both processes stop on Ctrl-C. Uses the embedded defaults (SQLite, filesystem broker)
unless DATABASE_URL / CELERY_BROKER_URL say otherwise.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from annotations.management.commands.demo_load import DEMO_USERS


class Command(BaseCommand):
    help = "Set up demo data and run the web server plus a Celery worker (Ctrl-C stops both)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000",
                            help="PORT or ADDRESS:PORT to serve on (as runserver takes).")

    def handle(self, *args: object, addrport: str, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("demo_load", base_url=base_url(addrport))
        _stop_on_interrupt_or_terminate()
        worker = self._start_worker()
        try:
            self._print_banner(base_url(addrport))
            call_command("runserver", addrport, use_reloader=False)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()

    def _start_worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "feedback", "worker",
                   "--queues", "default,modeling", "--pool", "solo", "--loglevel", "INFO",
                   "--hostname", "demo@%h"]
        self.stdout.write(f"Starting Celery worker (broker {settings.CELERY_BROKER_URL})")
        return subprocess.Popen(command)

    def _print_banner(self, url: str) -> None:
        logins = "\n".join(f"    {name:<11} password {password:<16} ({role or 'administrator'})"
                           for name, (password, role) in DEMO_USERS.items())
        self.stdout.write(self.style.SUCCESS(
            f"\nfeedback demo is running at {url}/\n  Logins:\n{logins}\n"
            "  Press Ctrl-C to stop the server and the worker.\n"))


def base_url(addrport: str) -> str:
    """The address a browser opens for runserver's ``addrport`` ("8001", "0.0.0.0:8001",
    "[::1]:8001"): a wildcard address is shown as the local one."""
    host, _, port = addrport.rpartition(":")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "0": "127.0.0.1", "[::]": "[::1]"}.get(
        host, host)
    return f"http://{host}:{port}"


def _stop_on_interrupt_or_terminate() -> None:
    """Ctrl-C and SIGTERM both end the server (and so the worker), even when this process
    was started in the background by a shell that ignores SIGINT for its children."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
