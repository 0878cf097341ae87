"""The permission matrix: every URL of the URLconf x method (GET, POST) x persona x object.

Each URL name has an entry in ``MATRIX`` saying who may use it (its *scope*: a project
capability, a pool, management, administration, a secret link...) and what a permitted
persona gets back for GET and for an empty POST. The expected status of every cell follows
from that declaration and the fixed world below, never from the code under test:

* anonymous: sent to the login page (or, for public links, whatever the link does);
* not a member of the object's project / cannot see the object: 404;
* a member without the capability, or not a manager/admin: 403;
* the method not offered: 405 (checked after who you are, so it leaks nothing);
* a nonexistent object: 404.

After every denied request the database is compared with its state before: nothing may
have changed. Every cell runs in a savepoint that is rolled back, so permitted writes do
not leak into the next cell. A URL name without an entry fails the test with a message
saying where to add it. Django's own admin site (``admin:``) is not in the matrix: its
hardening against staff escalation is tested in test_escalation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from annotations.access import ROLE_CAPABILITIES, Capability
from annotations.models import (
    CrowdParticipation,
    GoldQuestion,
    Membership,
    Notification,
    PoolMembership,
    PoolProject,
    ProjectKind,
    RankingMode,
    RaterPool,
    Role,
)
from annotations.services.audit import Actor
from annotations.services.crowd import CrowdStudyConfig, crowd_study_create
from annotations.services.invitations import InvitationPreset, invitation_create
from annotations.services.ranking_config import ranking_tasks_sync
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import judge
from tests.factories import ItemFactory, ProjectFactory, UserFactory

User = get_user_model()
MISSING = 987_654
PERSONAS = ("anonymous", "annotator_a", "annotator_b", "lead_a", "lead_b", "reviewer",
            "staff", "admin")
METHODS = ("get", "post")
LOGIN = "login"  # expected: a redirect to the login page


@dataclass(frozen=True)
class Entry:
    """Who may use a URL (``scope``), and what a permitted persona gets for GET and for an
    empty POST (None: the method is not offered, so 405)."""

    scope: str
    objects: str
    get: int | str | None = None
    post: int | str | None = None
    need: Capability | None = None
    manage: bool = False  # pool scope: changing the pool, not only seeing it
    post_signed_in: int | None = None  # token links: POST by a signed-in persona


def project(need: Capability, *, objects: str = "project", get: int | None = None,
            post: int | None = None) -> Entry:
    return Entry("project", objects, get, post, need=need)


VIEW, REVIEW = Capability.VIEW, Capability.REVIEW
ANNOTATE, MANAGE = Capability.ANNOTATE, Capability.MANAGE

MATRIX: dict[str, Entry] = {
    # foundation: the site, login, projects, pairwise annotation
    "home": Entry("public", "none", get=302, post=302),
    "login": Entry("login", "none", get=200, post=200),
    "logout": Entry("public", "none", post=LOGIN),  # logged out, sent to the login page
    "health": Entry("public", "none", get=200),
    "project-list": Entry("authenticated", "none", get=200, post=405),
    "project-new": Entry("creator", "none", get=200, post=422),
    "project-detail": project(VIEW, get=200),
    "project-settings": project(MANAGE, get=200, post=422),
    "project-import": project(MANAGE, get=200, post=422),
    "project-member-add": project(MANAGE, post=302),
    "annotate": project(ANNOTATE, get=200),
    "annotate-submit": project(ANNOTATE, post=404),  # no task key: no such task
    "annotate-undo": project(ANNOTATE, post=422),
    # k-way ranking (on in both projects of the world) and its settings
    "rank": project(ANNOTATE, get=200),
    "rank-submit": project(ANNOTATE, post=404),  # no task key: no such task
    "rank-undo": project(ANNOTATE, post=422),
    "ranking-settings": project(MANAGE, get=200, post=422),
    # fine-grained annotation and its results
    "fine-annotate": project(ANNOTATE, get=200),
    "fine-submit": project(ANNOTATE, post=404),
    "fine-draft": project(ANNOTATE, post=404),
    "fine-settings": project(MANAGE, get=200, post=422),
    "fine-results": project(VIEW, get=200),
    "fine-item-results": project(VIEW, get=404),  # no item named
    "fine-raters": project(VIEW, get=200),
    "fine-refit": project(MANAGE, post=302),
    # the fits dashboard
    "project-dashboard": project(VIEW, get=200),
    "project-dashboard-status": project(VIEW, get=200),
    "project-dashboard-refit": project(MANAGE, post=302),
    # dataset exports ("missing": an export that does not exist)
    "project-exports": project(VIEW, get=200),
    "project-export": project(VIEW, objects="export", get=200),
    # pools and administration: a project's raters, gold, reviews, crowd studies
    "project-raters": project(MANAGE, get=200),
    "rater-status": project(MANAGE, objects="member", post=422),
    "rater-role": project(MANAGE, objects="member", post=422),
    "rater-exclusion": project(MANAGE, objects="member", post=302),
    "workload-cap": project(MANAGE, post=302),  # empty: no cap for everyone
    "quality-gate": project(MANAGE, post=422),
    "project-pool-attach": project(MANAGE, post=422),
    "project-pool-detach": project(MANAGE, objects="attached_pool", post=302),
    "notification-dismiss": project(MANAGE, objects="notification", post=302),
    "gold-questions": project(MANAGE, get=200, post=422),
    "gold-rate": project(MANAGE, post=422),
    "gold-delete": project(MANAGE, objects="gold", post=302),
    "review-queue": project(REVIEW, get=200),
    "judgment-review": project(REVIEW, objects="judgment", post=422),
    "crowd-studies": project(MANAGE, get=200, post=422),
    # the management area
    "manage-home": Entry("manager", "none", get=200),
    "pool-list": Entry("manager", "none", get=200, post=422),
    "pool-detail": Entry("pool", "pool", get=200),
    "pool-member-add": Entry("pool", "pool", post=422, manage=True),
    "pool-member-remove": Entry("pool", "pool_member", post=302, manage=True),
    "invitation-list": Entry("manager", "none", get=200, post=422),
    "invitation-bulk": Entry("manager", "none", get=200, post=422),
    "invitation-revoke": Entry("invitation", "invitation", post=302),
    "rater-list": Entry("admin", "none", get=200),
    "rater-global-status": Entry("admin", "user", post=422),
    "audit-log": Entry("admin", "none", get=200),
    "audit-export": Entry("admin", "none", get=200),
    # links and the rater's own pages
    "invitation-accept": Entry("invite_link", "invite_token", get=200, post=422,
                               post_signed_in=302),
    "crowd-join": Entry("crowd_link", "crowd_token", get=400),  # no platform ids given
    "crowd-complete": Entry("participant", "study", get=200),
    "my-quality": Entry("authenticated", "none", get=200),
}


# --- the world ----------------------------------------------------------------------------

@dataclass
class World:
    users: dict[str, object]
    projects: dict[str, object]  # "A", "B"
    objects: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)

    def role(self, persona: str, project_key: str | None) -> str | None:
        """The persona's role in the project ("admin" for administrators), or None."""
        if persona == "admin":
            return "admin" if project_key is not None else None
        if project_key is None or persona == "anonymous":
            return None
        membership = Membership.objects.filter(project=self.projects[project_key],
                                               user=self.users[persona]).first()
        return membership.role if membership else None


def build_world() -> World:
    create = Permission.objects.get(codename="add_project")
    users = {name: UserFactory(username=name) for name in PERSONAS if name != "anonymous"}
    users["staff"].is_staff = True
    users["admin"].is_superuser = users["admin"].is_staff = True
    for name in ("staff", "admin"):
        users[name].save()
    for name in ("lead_a", "lead_b"):
        users[name].user_permissions.add(create)
    users["annotator_a2"] = UserFactory(username="annotator_a2")
    # Kind "both": every page exists, so each cell tests who may use it; which pages a
    # project of one kind has is test_project_kinds.py's matrix.
    projects = {"A": ProjectFactory(name="Alpha", kind=ProjectKind.BOTH),
                "B": ProjectFactory(name="Beta", kind=ProjectKind.BOTH)}
    roles = {"A": {"lead_a": Role.LEAD, "annotator_a": Role.ANNOTATOR,
                   "annotator_a2": Role.ANNOTATOR, "reviewer": Role.REVIEWER},
             "B": {"lead_b": Role.LEAD, "annotator_b": Role.ANNOTATOR}}
    for key, members in roles.items():
        for index in range(3):
            ItemFactory(project=projects[key], group=f"g{index}")
            ItemFactory(project=projects[key], group=f"g{index}")
        for name, role in members.items():
            Membership.objects.create(project=projects[key], user=users[name], role=role)
        projects[key].ranking_mode = RankingMode.ALONGSIDE
        projects[key].save(update_fields=["ranking_mode"])
        ranking_tasks_sync(project=projects[key])
    world = World(users, projects)
    world.objects = _objects(world)
    return world


def _objects(world: World) -> dict[str, dict[str, dict[str, object]]]:
    """For each kind of object: the URL kwargs of its variants own / same / other / missing.
    own: annotator_a's or lead_a's object in project A; same: someone else's in project A;
    other: in project B; missing: an id that does not exist."""
    users, projects = world.users, world.projects
    a, b = projects["A"].pk, projects["B"].pk
    judgments = {name: judge(projects[key], users[name]).judgment
                 for name, key in (("annotator_a", "A"), ("annotator_a2", "A"),
                                   ("annotator_b", "B"))}
    pools = {"own": _pool("own pool", users["lead_a"], projects["A"], users["annotator_a"]),
             "same": _pool("admin pool", users["admin"], projects["A"], users["annotator_a2"]),
             "other": _pool("b pool", users["lead_b"], projects["B"], users["annotator_b"])}
    notices = {key: Notification.objects.create(project=projects[key], kind="test",
                                                message=f"notice {key}") for key in "AB"}
    gold = {key: _gold(projects[key]) for key in "AB"}
    week = timezone.now() + timedelta(days=7)
    invitations = {
        "own": invitation_create(actor=Actor(users["lead_a"]), preset=InvitationPreset(
            expires_at=week, project=projects["A"], max_uses=50)),
        "same": invitation_create(actor=Actor(users["admin"]), preset=InvitationPreset(
            expires_at=week, project=projects["A"], max_uses=50)),
        "other": invitation_create(actor=Actor(users["lead_b"]), preset=InvitationPreset(
            expires_at=week, project=projects["B"], max_uses=50)),
    }
    studies = {key: _study(projects[key], users[lead], users[rater])
               for key, lead, rater in (("A", "lead_a", "annotator_a"),
                                        ("B", "lead_b", "annotator_b"))}
    user = {"user_id": users["annotator_a"].pk}
    return {
        "none": {"none": {}},
        "project": {"own": {"project_id": a}, "other": {"project_id": b},
                    "missing": {"project_id": MISSING}},
        "export": {"own": {"project_id": a, "kind": "judgments"},
                   "other": {"project_id": b, "kind": "judgments"},
                   "missing": {"project_id": a, "kind": "no-such-export"}},
        "member": {"own": {"project_id": a, **user},
                   "same": {"project_id": a, "user_id": users["annotator_a2"].pk},
                   "other": {"project_id": b, "user_id": users["annotator_b"].pk},
                   "missing": {"project_id": a, "user_id": MISSING}},
        "judgment": {variant: {"project_id": key, "judgment_id": judgments[name].pk}
                     for variant, key, name in (("own", a, "annotator_a"),
                                                ("same", a, "annotator_a2"),
                                                ("other", b, "annotator_b"))}
        | {"missing": {"project_id": a, "judgment_id": MISSING}},
        "attached_pool": {"own": {"project_id": a, "pool_id": pools["own"].pk},
                          "same": {"project_id": a, "pool_id": pools["same"].pk},
                          "other": {"project_id": b, "pool_id": pools["other"].pk},
                          "missing": {"project_id": a, "pool_id": MISSING}},
        "notification": {"own": {"project_id": a, "notification_id": notices["A"].pk},
                         "other": {"project_id": b, "notification_id": notices["B"].pk},
                         "missing": {"project_id": a, "notification_id": MISSING}},
        "gold": {"own": {"project_id": a, "gold_id": gold["A"].pk},
                 "other": {"project_id": b, "gold_id": gold["B"].pk},
                 "missing": {"project_id": a, "gold_id": MISSING}},
        "pool": {variant: {"pool_id": pool.pk} for variant, pool in pools.items()}
        | {"missing": {"pool_id": MISSING}},
        "pool_member": {
            "own": {"pool_id": pools["own"].pk, **user},
            "same": {"pool_id": pools["same"].pk, "user_id": users["annotator_a2"].pk},
            "other": {"pool_id": pools["other"].pk, "user_id": users["annotator_b"].pk},
            "missing": {"pool_id": pools["own"].pk, "user_id": MISSING}},
        "invitation": {variant: {"invitation_id": issued.invitation.pk}
                       for variant, issued in invitations.items()}
        | {"missing": {"invitation_id": MISSING}},
        "user": {"own": user, "other": {"user_id": users["annotator_b"].pk},
                 "missing": {"user_id": MISSING}},
        "invite_token": {"own": {"token": invitations["own"].token},
                         "other": {"token": invitations["other"].token},
                         "missing": {"token": "x" * 32}},
        "crowd_token": {"own": {"token": studies["A"][1]}, "other": {"token": studies["B"][1]},
                        "missing": {"token": "x" * 32}},
        "study": {"own": {"study_id": studies["A"][0].pk},
                  "other": {"study_id": studies["B"][0].pk}, "missing": {"study_id": MISSING}},
    }


def _pool(name, owner, project, rater):
    pool = RaterPool.objects.create(name=name, created_by=owner)
    PoolProject.objects.create(pool=pool, project=project)
    PoolMembership.objects.create(pool=pool, user=rater)
    return pool


def _gold(project):
    low, high = sorted(project.items.filter(group="g2").values_list("pk", flat=True))
    return GoldQuestion.objects.create(project=project, item_low_id=low, item_high_id=high,
                                       expected_winner_id=low)


def _study(project, lead, rater):
    study, token = crowd_study_create(actor=Actor(lead), project=project, config=CrowdStudyConfig(
        name=f"study {project.name}", platform="prolific", tasks_per_participant=50))
    CrowdParticipation.objects.create(study=study, user=rater)
    return study, token


# --- expected statuses --------------------------------------------------------------------

PROJECT_OF = {"own": "A", "same": "A", "other": "B", "missing": "A"}
POOL_VISIBLE = {"admin": {"own", "same", "other"}, "lead_a": {"own", "same"},
                "lead_b": {"other"}}
POOL_MANAGED = {"admin": {"own", "same", "other"}, "lead_a": {"own"}, "lead_b": {"other"}}
INVITATIONS_VISIBLE = {"admin": {"own", "same", "other"}, "lead_a": {"own", "same"},
                       "lead_b": {"other"}}
MANAGERS = {"lead_a", "lead_b", "admin"}
CREATORS = MANAGERS
PARTICIPANTS = {"own": "annotator_a", "other": "annotator_b"}


def expected(entry: Entry, world: World, persona: str, variant: str, method: str) -> object:
    rule = RULES[entry.scope]
    return rule(entry, world, persona, variant, method)


def _offered(entry: Entry, method: str) -> int | None:
    return entry.get if method == "get" else entry.post


def _ok(entry: Entry, method: str) -> int:
    status = _offered(entry, method)
    return 405 if status is None else status


def _project_rule(entry, world, persona, variant, method):
    if persona == "anonymous":
        return LOGIN
    project_missing = entry.objects == "project" and variant == "missing"
    role = None if project_missing else world.role(persona, PROJECT_OF[variant])
    if role is None:
        return 404
    if role != "admin" and entry.need not in ROLE_CAPABILITIES[role]:
        return 403
    if _offered(entry, method) is None:
        return 405
    return 404 if variant == "missing" else _ok(entry, method)


def _gate(allowed: set[str]) -> Callable[..., object]:
    def rule(entry, world, persona, variant, method):
        if persona == "anonymous":
            return LOGIN
        if persona not in allowed:
            return 403
        if _offered(entry, method) is None:
            return 405
        return 404 if variant == "missing" else _ok(entry, method)
    return rule


def _pool_rule(entry, world, persona, variant, method):
    first = _gate(MANAGERS)(entry, world, persona, variant, method)
    if first in (LOGIN, 403, 405, 404):
        return first
    if variant not in POOL_VISIBLE[persona]:
        return 404
    if entry.manage and variant not in POOL_MANAGED[persona]:
        return 403
    return first


def _invitation_rule(entry, world, persona, variant, method):
    first = _gate(MANAGERS)(entry, world, persona, variant, method)
    if first in (LOGIN, 403, 405, 404):
        return first
    return first if variant in INVITATIONS_VISIBLE[persona] else 404


def _authenticated(entry, world, persona, variant, method):
    return LOGIN if persona == "anonymous" else _ok(entry, method)


def _public(entry, world, persona, variant, method):
    return _ok(entry, method)


def _login_page(entry, world, persona, variant, method):
    return 302 if persona != "anonymous" else _ok(entry, method)  # signed in: sent onwards


def _invite_link(entry, world, persona, variant, method):
    if variant == "missing":
        return 404
    if method == "post" and persona != "anonymous":
        return entry.post_signed_in  # joins with the signed-in account
    return _ok(entry, method)


def _crowd_link(entry, world, persona, variant, method):
    if _offered(entry, method) is None:
        return 405
    return 404 if variant == "missing" else _ok(entry, method)


def _participant(entry, world, persona, variant, method):
    if persona == "anonymous":
        return LOGIN
    if _offered(entry, method) is None:
        return 405
    return _ok(entry, method) if PARTICIPANTS.get(variant) == persona else 404


RULES: dict[str, Callable[..., object]] = {
    "project": _project_rule, "manager": _gate(MANAGERS), "admin": _gate({"admin"}),
    "creator": _gate(CREATORS), "pool": _pool_rule, "invitation": _invitation_rule,
    "authenticated": _authenticated, "public": _public, "login": _login_page,
    "invite_link": _invite_link, "crowd_link": _crowd_link, "participant": _participant,
}


# --- the test -----------------------------------------------------------------------------

def url_names() -> list[str]:
    """Every named URL outside Django's admin site; unnamed patterns get a placeholder."""
    names = []

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace != "admin":
                names.append(pattern.name or f"<unnamed {pattern.pattern}>")

    walk(get_resolver().url_patterns)
    return names


URL_NAMES = url_names()


def test_every_url_has_an_entry_in_the_matrix():
    missing = [name for name in URL_NAMES if name not in MATRIX]
    assert not missing, (
        f"URLs without an entry in the permission matrix: {missing}. Add each to MATRIX in "
        "tests/annotations/test_permission_matrix.py with its scope (who may use it) and what "
        "a permitted persona gets for GET and an empty POST.")
    stale = sorted(set(MATRIX) - set(URL_NAMES))
    assert not stale, f"MATRIX entries for URLs that no longer exist: {stale}"


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def writes_in(queries: list[dict[str, str]]) -> list[str]:
    """The statements of a request that would change the database."""
    return [query["sql"] for query in queries
            if query["sql"].lstrip().upper().startswith(WRITES)]


def status_of(response) -> object:
    if response.status_code == 302 and response["Location"].startswith(reverse("login")):
        return LOGIN
    return response.status_code


DENIED = {LOGIN, 400, 403, 404, 405, 410}


def persona_clients(world: World) -> dict[str, Client]:
    clients = {"anonymous": Client()}
    for persona in PERSONAS[1:]:
        clients[persona] = Client()
        clients[persona].force_login(world.users[persona])
    return clients


@pytest.mark.parametrize("name", [name for name in URL_NAMES if name in MATRIX])
def test_permission_matrix(db, name):
    entry = MATRIX[name]
    world = build_world()
    clients = persona_clients(world)
    before = table_counts()
    mismatches = []
    for variant, kwargs in world.objects[entry.objects].items():
        url = reverse(name, kwargs=kwargs)
        for persona, method in ((persona, method) for persona in PERSONAS for method in METHODS):
            want = expected(entry, world, persona, variant, method)
            client = clients[persona]
            session = client.cookies.get(settings.SESSION_COOKIE_NAME)
            with transaction.atomic():
                with CaptureQueriesContext(connection) as queries:
                    response = getattr(client, method)(url)
                transaction.set_rollback(True)  # undo what a permitted request wrote
            if session is not None:  # a login or logout in the cell was rolled back too
                client.cookies[settings.SESSION_COOKIE_NAME] = session.value
            got, wrote = status_of(response), writes_in(queries.captured_queries)
            cell = f"{persona:12} {method.upper():4} {variant:8}"
            if got != want:
                mismatches.append(f"{cell} expected {want}, got {got}")
            if want in DENIED and want != _ok(entry, method) and wrote:
                mismatches.append(f"{cell} was denied but wrote: {wrote}")
    assert not mismatches, f"{name}:\n" + "\n".join(mismatches)
    assert table_counts() == before
