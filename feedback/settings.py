"""Settings for feedback, read from the environment.

Defaults give the embedded setup of ``make demo``: SQLite and a Celery broker on the local
filesystem (kombu's filesystem transport), no servers needed. Production sets
``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis), ``SECRET_KEY`` and
``ALLOWED_HOSTS``; with ``DEBUG`` off the settings refuse a missing or default secret key and
pass ``manage.py check --deploy``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FEEDBACK_VAR_DIR", BASE_DIR / "var"))  # local state, git-ignored
VAR_DIR.mkdir(parents=True, exist_ok=True)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")
    return value in _TRUE


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-feedback-development-only-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is empty. Set a long random SECRET_KEY in the environment "
            "(or DEBUG=1 for local development)."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif SECRET_KEY == _DEV_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY is the development default; set a real one.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_htmx",
    "annotations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "annotations.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "feedback.urls"
WSGI_APPLICATION = "feedback.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a Celery worker process started by a test sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads: an import file is validated whole in memory, so cap it.
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))
IMPORT_MAX_FIELD_CHARS = int(os.environ.get("IMPORT_MAX_FIELD_CHARS", "200000"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Security headers. Production (DEBUG off) passes `manage.py check --deploy`.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie; the token travels in hx-headers
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # container health checks speak plain http
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

# Celery. Without CELERY_BROKER_URL the broker is a folder (no server needed).
BROKER_DIR = VAR_DIR / "broker"
# The host part is a placeholder the filesystem transport ignores; without it kombu warns
# "No hostname was supplied" on every connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # results live in the database, not the broker
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"annotations.tasks.fits.fit_run_execute": {"queue": "modeling"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Fits are refitted after this many new judgments (a project may override it).
FIT_EVERY_N_JUDGMENTS = int(os.environ.get("FIT_EVERY_N_JUDGMENTS", "20"))
# Fit runs (annotations/services/fits.py; the worker's task: annotations/tasks/fits.py). A
# run whose task was delivered FIT_MAX_ATTEMPTS times without finishing (worker lost,
# crash) is marked failed. The reconciler re-sends runs queued for FIT_STALE_QUEUED_SECONDS
# or running for FIT_STALE_RUNNING_SECONDS. FIT_THREADS (default: all cores) caps the
# threads of one fit; it is read by the worker (modeling/threads.py).
FIT_MAX_ATTEMPTS = int(os.environ.get("FIT_MAX_ATTEMPTS", "3"))
FIT_STALE_QUEUED_SECONDS = int(os.environ.get("FIT_STALE_QUEUED_SECONDS", "600"))
FIT_STALE_RUNNING_SECONDS = int(os.environ.get("FIT_STALE_RUNNING_SECONDS", "3600"))
FIT_RECONCILE_SECONDS = int(os.environ.get("FIT_RECONCILE_SECONDS", "300"))

# Policy: numbers the product chooses, in one place (annotations/policy.py hands them out;
# pages receive them as context). A rater whose Crowd-BT reliability (eta) is below
# FIT_RATER_FLAG_BELOW is flagged on the dashboard (0.7: flips more than 3 answers in 10);
# Crowd-BT is fitted once two raters have FIT_RATER_MIN_JUDGMENTS judgments each. The
# cross-validated evaluation (about 30 extra fits) needs FIT_EVALUATION_MIN_DATA judgments,
# never runs above FIT_EVALUATION_MAX_DATA, and is repeated when the data grew by
# FIT_EVALUATION_GROWTH (a fraction) since the last evaluated run. QUALITY_GATE_PROPOSALS:
# what the quality-gate form proposes per signal (pausing a rater asks for stronger
# evidence than a flag, hence 0.6 against the flag's 0.7).
FIT_RATER_FLAG_BELOW = float(os.environ.get("FIT_RATER_FLAG_BELOW", "0.7"))
FIT_RATER_MIN_JUDGMENTS = int(os.environ.get("FIT_RATER_MIN_JUDGMENTS", "10"))
FIT_EVALUATION_MIN_DATA = int(os.environ.get("FIT_EVALUATION_MIN_DATA", "50"))
FIT_EVALUATION_MAX_DATA = int(os.environ.get("FIT_EVALUATION_MAX_DATA", "200000"))
FIT_EVALUATION_GROWTH = float(os.environ.get("FIT_EVALUATION_GROWTH", "0.2"))
QUALITY_GATE_PROPOSALS = {
    "gold_accuracy": ("below", 0.6),
    "crowd_bt_reliability": ("below", 0.6),
    "rasch_infit": ("above", 1.5),
    "rasch_outfit": ("above", 1.5),
}
# `celery -A feedback beat` sends these (compose.yaml runs it as the `beat` service).
CELERY_BEAT_SCHEDULE = {
    "fit-runs-reconcile": {
        "task": "annotations.tasks.fits.fit_runs_reconcile",
        "schedule": float(FIT_RECONCILE_SECONDS),
        "options": {"queue": "default"},  # light: a few queries, no math
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How long a served task stays reserved for its rater.
ASSIGNMENT_LEASE_SECONDS = int(os.environ.get("ASSIGNMENT_LEASE_SECONDS", "1800"))

# Email is optional: invitation links are mailed only when EMAIL_HOST is set (otherwise
# leads download them as a CSV and pass them on themselves).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "feedback@localhost")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
