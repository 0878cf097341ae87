"""`make demo` runs `manage.py demo`: migrations, demo data, web server and a real Celery
worker on the filesystem broker, all stopped by one Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annotations.management.commands.demo import base_url

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_demo_serves_the_app_with_a_worker_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    database = tmp_path / "demo.sqlite3"
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="feedback.settings",
               FEEDBACK_VAR_DIR=str(tmp_path / "var"),
               DATABASE_URL=f"sqlite:///{database}", PYTHONUNBUFFERED="1")
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--addrport",
                             f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        login_page = f"http://127.0.0.1:{port}/accounts/login/"
        assert wait_for(lambda: urllib.request.urlopen(login_page, timeout=2).status == 200, 120)
        subprocess.run([sys.executable, "-c", "import django; django.setup(); "
                        "from annotations.tasks import worker_heartbeat; "
                        "worker_heartbeat.delay('default')"],
                       cwd=ROOT, env=env,
                       check=True, timeout=60)

        assert wait_for(lambda: sqlite3.connect(database).execute(
            "SELECT COUNT(*) FROM annotations_workerheartbeat").fetchone()[0] > 0, 90)
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM annotations_item").fetchone()[0] > 0
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        demo.wait(timeout=60)
        stopped = wait_for(lambda: not group_alive(demo.pid), 30)
        log.seek(0)
        output = log.read()
        if group_alive(demo.pid):
            os.killpg(demo.pid, signal.SIGKILL)
    assert stopped, f"processes left running after Ctrl-C:\n{output[-3000:]}"
    assert f"http://127.0.0.1:{port}/" in output
    assert "demo-annotator" in output
    assert f"Invitation link (20 uses, shown once): http://127.0.0.1:{port}/invite/" in output
    assert "No hostname was supplied" not in output


@pytest.mark.parametrize(("arguments", "addrport"), [
    ([], "127.0.0.1:8000"), (["PORT=8001"], "127.0.0.1:8001"),
    (["ADDRPORT=0.0.0.0:9000"], "0.0.0.0:9000")])
def test_make_demo_takes_another_port(arguments, addrport):
    dry_run = subprocess.run(["make", "-n", "demo", *arguments], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    assert f"manage.py demo --addrport {addrport}" in dry_run


@pytest.mark.parametrize(("addrport", "url"), [
    ("8001", "http://127.0.0.1:8001"), ("0.0.0.0:9000", "http://127.0.0.1:9000"),
    ("example.org:80", "http://example.org:80"), ("[::]:8000", "http://[::1]:8000")])
def test_the_banner_shows_an_address_a_browser_opens(addrport, url):
    assert base_url(addrport) == url


def test_sqlite_side_files_are_ignored_by_git(tmp_path):
    names = ["db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "db.sqlite3-journal"]
    ignored = subprocess.run(["git", "check-ignore", *names], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    assert ignored == names
