"""Every page as a lead, an annotator, an administrator and a visitor sees it, on the demo's
data: at 390 px (a phone, touch) nothing scrolls sideways; in the light and the dark theme
(``prefers-color-scheme``) the text of the main controls, and of the server-rendered
plots, has WCAG AA contrast with what is behind it (computed from the browser's styles);
and screenshots at 1366 px and 390 px, light and dark, land in artifacts/layout/.

One test walks all pages so that the demo data and its fits are built once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotations.management.commands.demo_load import DEMO_USERS
from annotations.models import (
    FitKind,
    FitTrigger,
    Invitation,
    Item,
    PairwiseJudgment,
    Project,
    ProjectKind,
    RaterPool,
)
from annotations.services.fits import fit_run_request
from annotations.tasks.fits import fit_run_execute
from tests.browser.helpers import CONTRAST_JS, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SCHEMES = ("light", "dark")
@dataclass(frozen=True)
class Screen:
    persona: str
    name: str
    path: str


def build_demo() -> dict[str, object]:
    """The demo's users and projects (make demo's data), with their fits run."""
    call_command("demo_load", judgments=40, verbosity=0)
    pairwise = Project.objects.get(kind=ProjectKind.PAIRWISE)
    fine = Project.objects.get(kind=ProjectKind.FINE_GRAINED)
    runs = [fit_run_request(project=pairwise, kind=FitKind.BRADLEY_TERRY,
                            trigger=FitTrigger.MANUAL,
                            options={"bootstrap": 20, "evaluation": True}).run]
    runs += [fit_run_request(project=fine, kind=kind, trigger=FitTrigger.MANUAL).run
             for kind in (FitKind.FACETS, FitKind.DAWID_SKENE)]
    for run in runs:
        fit_run_execute.apply(args=[run.pk])
    return {"pairwise": pairwise, "fine": fine, "item": Item.objects.filter(project=fine).first(),
            "pool": RaterPool.objects.first(), "judgment": PairwiseJudgment.objects.first()}


def screens(demo: dict[str, object]) -> list[Screen]:
    pairwise, fine = demo["pairwise"].pk, demo["fine"].pk
    lead_pages = [
        ("projects", reverse("project-list")), ("new-project", reverse("project-new")),
        ("project-pairwise", reverse("project-detail", args=[pairwise])),
        ("project-fine", reverse("project-detail", args=[fine])),
        ("settings", reverse("project-settings", args=[pairwise])),
        ("import", reverse("project-import", args=[pairwise])),
        ("dashboard", reverse("project-dashboard", args=[pairwise])),
        ("exports", reverse("project-exports", args=[pairwise])),
        ("raters", reverse("project-raters", args=[pairwise])),
        ("gold", reverse("gold-questions", args=[pairwise])),
        ("reviews", reverse("review-queue", args=[pairwise])),
        ("crowd", reverse("crowd-studies", args=[pairwise])),
        ("ranking-settings", reverse("ranking-settings", args=[pairwise])),
        ("fine-settings", reverse("fine-settings", args=[fine])),
        ("fine-results", reverse("fine-results", args=[fine])),
        ("fine-item", reverse("fine-item-results", args=[fine]) + f"?item={demo['item'].pk}"),
        ("fine-raters", reverse("fine-raters", args=[fine])),
        ("manage", reverse("manage-home")), ("pools", reverse("pool-list")),
        ("pool", reverse("pool-detail", args=[demo["pool"].pk])),
        ("invitations", reverse("invitation-list")),
        ("invite-csv", reverse("invitation-bulk")),
    ]
    annotator_pages = [
        ("projects", reverse("project-list")),
        ("annotate", reverse("annotate", args=[pairwise])),
        ("rank", reverse("rank", args=[pairwise])),
        ("fine-annotate", reverse("fine-annotate", args=[fine])),
        ("my-quality", reverse("my-quality")),
        ("not-found", reverse("project-detail", args=[987654])),
    ]
    admin_pages = [("raters-everywhere", reverse("rater-list")),
                   ("audit", reverse("audit-log"))]
    visitor_pages = [("login", reverse("login"))]
    return ([Screen("lead", *page) for page in lead_pages]
            + [Screen("annotator", *page) for page in annotator_pages]
            + [Screen("admin", *page) for page in admin_pages]
            + [Screen("visitor", *page) for page in visitor_pages])


def signed_in(browser, live_server, persona: str, *, viewport: dict, scheme: str):
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, color_scheme=scheme, is_mobile=phone,
                                  has_touch=phone)
    page = context.new_page()
    if persona != "visitor":
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", persona)
        page.fill("input[name=password]", DEMO_USERS[persona][0])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/projects/")
    return context, page


def test_every_page_fits_a_phone_has_aa_contrast_in_both_themes_and_is_shot(
        browser, live_server, artifacts, subtests):
    demo = build_demo()
    Invitation.objects.update(max_uses=50)
    folder = artifacts / "layout"
    folder.mkdir(exist_ok=True)
    by_persona: dict[str, list[Screen]] = {}
    for screen in screens(demo):
        by_persona.setdefault(screen.persona, []).append(screen)
    for persona, persona_screens in by_persona.items():
        for scheme in SCHEMES:
            for viewport in (PHONE, DESKTOP):
                context, page = signed_in(browser, live_server, persona, viewport=viewport,
                                          scheme=scheme)
                try:
                    for screen in persona_screens:
                        check(page, live_server, screen, viewport, scheme, folder, subtests)
                finally:
                    context.close()


def check(page, live_server, screen, viewport, scheme, folder, subtests) -> None:
    label = f"{screen.persona}-{screen.name}-{viewport['width']}-{scheme}"
    with subtests.test(msg=label):
        page.goto(f"{live_server.url}{screen.path}")
        page.wait_for_load_state("load")
        if viewport is PHONE:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{label}: the page is {width} px wide"
        else:
            contrast = page.evaluate(CONTRAST_JS)
            assert contrast["measured"] > 0
            assert not contrast["failures"], f"{label}: {contrast['failures']}"
        shoot(page, folder / f"{label}.png")
