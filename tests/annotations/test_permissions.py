"""Every project URL: an outsider gets 404 and writes nothing; roles get what they may."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver, reverse

from tests.annotations.helpers import table_counts


def project_url_names() -> list[str]:
    names = []
    for pattern in get_resolver().url_patterns:
        for inner in getattr(pattern, "url_patterns", [pattern]):
            # project URLs with only the project id; the permission matrix
            # (test_permission_matrix.py) covers every URL with all its ids
            if isinstance(inner, URLPattern) and set(inner.pattern.converters) == {"project_id"}:
                names.append(inner.name)
    return names


PROJECT_URLS = project_url_names()


def test_project_urls_found():
    assert {"project-detail", "annotate", "annotate-submit", "project-import"} <= set(PROJECT_URLS)


@pytest.mark.parametrize("name", PROJECT_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_and_nothing_is_written(client_for, outsider, project, items, name,
                                                   method):
    client = client_for(outsider)
    before = table_counts()
    response = getattr(client, method)(reverse(name, args=[project.pk]),
                                       {"outcome": "left", "username": "outsider",
                                        "role": "lead", "name": "hijacked"})
    assert response.status_code == 404
    assert table_counts() == before


@pytest.mark.parametrize("name", PROJECT_URLS)
def test_nonexistent_project_is_404_even_for_admin(client_for, db, name):
    from tests.factories import UserFactory

    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client_for(admin).get(reverse(name, args=[987654]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", PROJECT_URLS)
def test_anonymous_is_sent_to_login(client, project, name):
    response = client.get(reverse(name, args=[project.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["project-detail", "project-settings", "project-import"])
def test_annotator_cannot_see_lead_pages(client_for, annotator, project, name):
    before = table_counts()
    assert client_for(annotator).get(reverse(name, args=[project.pk])).status_code == 403
    assert client_for(annotator).post(reverse(name, args=[project.pk]),
                                      {"name": "renamed"}).status_code in (403, 405)
    assert table_counts() == before


def test_annotator_cannot_add_members(client_for, annotator, project):
    before = table_counts()
    response = client_for(annotator).post(reverse("project-member-add", args=[project.pk]),
                                          {"username": "annotator", "role": "lead"})
    assert response.status_code == 403
    assert table_counts() == before


def test_lead_sees_all_project_pages(client_for, lead, project, items):
    client = client_for(lead)
    for name in ("project-detail", "project-settings", "project-import", "annotate"):
        assert client.get(reverse(name, args=[project.pk])).status_code == 200, name


def test_project_list_shows_only_own_projects(client_for, annotator, outsider, project):
    page = client_for(annotator).get(reverse("project-list")).content.decode()
    assert "Greeting quality" in page
    assert "Elsewhere" not in page


def test_only_permitted_users_create_projects(client_for, annotator):
    before = table_counts()
    response = client_for(annotator).post(reverse("project-new"), {"name": "Mine"})
    assert response.status_code == 403
    assert table_counts() == before
