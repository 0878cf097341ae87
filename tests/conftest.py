"""Shared fixtures: the personas (lead, annotator, outsider) and a project with items."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

from annotations.models import Role
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory


def service_reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port),
                                 timeout=1).close()
    except OSError:
        return False
    return True


REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` compare CUDA against CPU results. They run where a CUDA device
    is present (``pytest -m gpu`` on a lent GPU machine) and are deselected, with a line
    saying so, where none is: a missing device is hardware, not a service to start."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests or _cuda_available():
        return
    config.hook.pytest_deselected(items=gpu_tests)
    items[:] = [item for item in items if not item.get_closest_marker("gpu")]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"{len(gpu_tests)} GPU test(s) deselected: no CUDA device here")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture
def project(db):
    return ProjectFactory(name="Greeting quality", criteria=["Helpfulness", "Tone"])


@pytest.fixture
def items(project):
    """Two groups: g1 with three items (three pairs), g2 with two items (one pair)."""
    return [ItemFactory(project=project, group="g1", source="model-a"),
            ItemFactory(project=project, group="g1", source="model-b"),
            ItemFactory(project=project, group="g1", source="model-c"),
            ItemFactory(project=project, group="g2", source="model-a"),
            ItemFactory(project=project, group="g2", source="model-b")]


@pytest.fixture
def lead(project):
    user = UserFactory(username="lead")
    MembershipFactory(project=project, user=user, role=Role.LEAD)
    return user


@pytest.fixture
def annotator(project):
    user = UserFactory(username="annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def outsider(db):
    """A user with a project of their own, but not a member of ``project``."""
    user = UserFactory(username="outsider")
    MembershipFactory(project=ProjectFactory(name="Elsewhere"), user=user, role=Role.LEAD)
    return user


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client
    return login
