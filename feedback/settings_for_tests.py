"""The test suite's settings: the environment-driven settings in development mode."""

import os

os.environ.setdefault("DEBUG", "1")

from feedback.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
