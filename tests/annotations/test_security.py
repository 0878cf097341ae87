"""Untrusted text is escaped; responses carry a strict Content-Security-Policy; production
settings refuse a missing secret key and pass Django's deployment checks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

from annotations.rendering import render_markdown
from tests.factories import ItemFactory

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "<script>alert('pwned')</script>"
IMAGE = '<img src=x onerror="alert(1)">'


class TagCollector(HTMLParser):
    """The elements a browser would build from the page: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = TagCollector()
    collector.feed(html)
    return collector.elements


def assert_no_active_content(html: str) -> None:
    for tag, attributes in elements(html):
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert tag not in ("iframe", "svg", "object", "embed"), tag
        assert not (attributes.get("href") or "").startswith("javascript:"), attributes
        if tag == "script":
            assert (attributes.get("src") or "").startswith("/static/"), attributes
        assert tag != "img" or attributes.get("src") != "x", attributes


def test_item_content_renders_as_text(client_for, project, annotator):
    ItemFactory(project=project, group="x", content=f"Hi {SCRIPT} there",
                prompt=f"Prompt {IMAGE}")
    ItemFactory(project=project, group="x", content=f"**Bold** {IMAGE} [link](javascript:alert(1))")
    page = client_for(annotator).get(reverse("annotate", args=[project.pk])).content.decode()
    assert_no_active_content(page)
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page or \
           "&lt;script&gt;alert('pwned')&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page  # shown to the rater as text
    assert "<strong>Bold</strong>" in page  # markdown still works


def test_instructions_and_names_are_escaped(client_for, lead, project):
    project.instructions = f"# Read me\n{SCRIPT}"
    project.name = f"Evil {IMAGE}"
    project.save()
    page = client_for(lead).get(reverse("project-detail", args=[project.pk])).content.decode()
    assert_no_active_content(page)
    assert "<h1>Read me</h1>" in page


@pytest.mark.parametrize("source", [
    '<a href="https://example.com" onclick="x()">a</a>',
    "[x](https://example.com)",
    "<iframe src=//evil></iframe>",
    "<svg onload=alert(1)>",
    "[x](javascript:alert(1))",
])
def test_markdown_sanitizer_keeps_no_active_content(source):
    html = render_markdown(source)
    assert_no_active_content(html)
    if "](https" in source:
        assert 'rel="noopener noreferrer nofollow"' in html


def test_strict_content_security_policy(client_for, annotator, project):
    response = client_for(annotator).get(reverse("project-list"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DEBUG", "SECRET_KEY")}
    environment.update(env, DJANGO_SETTINGS_MODULE="feedback.settings")
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_production_settings_pass_check_deploy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="0",
                        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="feedback.example.org")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("secret", ["", "django-insecure-feedback-development-only-key-do-not-"
                                        "use-in-production"])
def test_production_refuses_empty_or_default_secret_key(secret):
    result = run_manage("check", DEBUG="0", SECRET_KEY=secret)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
