"""The Celery application. Tasks take ids, reload state from the database, and are idempotent."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feedback.settings")

app = Celery("feedback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["annotations"])


@app.on_configure.connect
def _create_broker_folders(sender: Celery, **kwargs: object) -> None:
    """kombu's filesystem transport (the embedded default) needs its folders to exist."""
    from django.conf import settings

    # Read Django's settings, not sender.conf: touching the configuration from inside
    # on_configure would configure the app again (recursively).
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
