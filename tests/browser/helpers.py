"""Steps the browser tests share."""

from __future__ import annotations


def log_in(page, live_server, username: str, password: str) -> None:
    """Sign in through the login form and wait for the project list."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/projects/")
