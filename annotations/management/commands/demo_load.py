"""Create demo users, a demo pairwise project and some simulated judgments (idempotent)."""

from __future__ import annotations

import math
import random

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotations.demo.data import SOURCE_STRENGTH, demo_jsonl
from annotations.demo.fine_grained import load_fine_grained_demo, request_fine_grained_fits
from annotations.demo.pools import load_pools_demo
from annotations.demo.rankings import load_rankings_demo
from annotations.models import FitKind, FitTrigger, Outcome, Project, RationaleMode, Role
from annotations.services.fits import fit_run_request
from annotations.services.imports import project_import_items
from annotations.services.judgments import (
    JudgmentInput,
    assignment_for_rater,
    judgment_submit,
)
from annotations.services.projects import TaskConfig, project_create, project_member_add

DEMO_PROJECT = "Demo: which assistant answers better?"
DEMO_USERS = {  # username: (password, role in the demo project)
    "admin": ("demo-admin", None),
    "lead": ("demo-lead", Role.LEAD),
    "annotator": ("demo-annotator", Role.ANNOTATOR),
    "annotator2": ("demo-annotator2", Role.ANNOTATOR),
}
SIMULATED_RATERS = ["sim-rater-1", "sim-rater-2", "sim-rater-3"]
CARELESS_RATER = "sim-rater-3"  # answers at random 70 % of the time: the dashboard flags it
LEFT_BONUS = 0.3  # a simulated position bias: the left response looks a little better
INSTRUCTIONS = """Compare the two responses to the prompt.

* Prefer the response that is **correct**, **complete** and **clear**.
* Use *tie* when they are equally good, *both bad* when neither is acceptable.
* In a ranking task, put the best of the responses first (drag them, or use the keys).
* Press `?` for keyboard shortcuts.
"""


class Command(BaseCommand):
    help = "Load demo users, a demo project and simulated judgments (safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--judgments", type=int, default=120,
                            help="Simulated judgments per simulated rater.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000",
                            help="Where the demo is served (for the invitation link).")

    def handle(self, *args: object, judgments: int, base_url: str, **options: object) -> None:
        users = self._users()
        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            with transaction.atomic():
                project = self._project(users)
            with transaction.atomic():  # one automatic fit after the commit, not one per 20
                self._simulate(project, judgments)
            with transaction.atomic():
                load_rankings_demo(project=project, lead=users["lead"],
                                   raters=[users[name] for name in SIMULATED_RATERS])
        self.stdout.write(f"Demo project: {project.name} (id {project.pk})")
        for line in load_pools_demo(project=project, admin=users["admin"],
                                    raters=["annotator", "annotator2", *SIMULATED_RATERS],
                                    base_url=base_url):
            self.stdout.write(line)
        self._request_fit(project)
        fine = load_fine_grained_demo(lead=users["lead"], annotators=["annotator", "annotator2"])
        self.stdout.write(f"Fine-grained demo project: {fine.name} (id {fine.pk})")
        for line in request_fine_grained_fits(fine):
            self.stdout.write(line)

    def _request_fit(self, project: Project) -> None:
        """The demo's worker runs it, so the lead's dashboard is populated."""
        try:
            fit = fit_run_request(project=project, kind=FitKind.BRADLEY_TERRY,
                                  trigger=FitTrigger.AUTO)
        except ValidationError:
            return
        self.stdout.write(f"Bradley-Terry fit #{fit.run.pk}: {fit.run.status}")

    def _users(self) -> dict[str, object]:
        User = get_user_model()
        users = {}
        for username, (password, _role) in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_superuser = user.is_staff = username == "admin"
                user.save()
            users[username] = user
        users["lead"].user_permissions.add(Permission.objects.get(codename="add_project"))
        for username in SIMULATED_RATERS:
            users[username], _ = User.objects.get_or_create(username=username)
        return users

    def _project(self, users: dict[str, object]) -> Project:
        config = TaskConfig(name=DEMO_PROJECT, instructions=INSTRUCTIONS,
                            criteria=("Correctness", "Clarity"), allow_ties=True,
                            allow_both_bad=True, rationale=RationaleMode.OPTIONAL)
        project = project_create(creator=users["lead"], config=config)
        project_import_items(project=project, data=demo_jsonl(), filename="demo.jsonl")
        for username, (_password, role) in DEMO_USERS.items():
            if role and role != Role.LEAD:
                project_member_add(project=project, username=username, role=role)
        for username in SIMULATED_RATERS:
            project_member_add(project=project, username=username, role=Role.ANNOTATOR)
        return project

    def _simulate(self, project: Project, per_rater: int) -> None:
        """Simulated raters answer by Bradley-Terry on the sources' demo strengths."""
        rng = random.Random(2026)
        User = get_user_model()
        for username in SIMULATED_RATERS:
            rater = User.objects.get(username=username)
            for _ in range(per_rater):
                assignment = assignment_for_rater(project=project, rater=rater)
                if assignment is None:
                    break
                outcome = _simulated_outcome(rng, assignment.left_item.source,
                                             assignment.right_item.source,
                                             careless=username == CARELESS_RATER)
                judgment_submit(assignment=assignment, answer=JudgmentInput(
                    outcome=outcome, active_seconds=rng.uniform(5, 40)))


def _simulated_outcome(rng: random.Random, left_source: str, right_source: str, *,
                       careless: bool = False) -> str:
    difference = SOURCE_STRENGTH[left_source] - SOURCE_STRENGTH[right_source] + LEFT_BONUS
    if rng.random() < 0.12:
        return Outcome.TIE
    if careless and rng.random() < 0.7:
        return rng.choice((Outcome.LEFT, Outcome.RIGHT))
    return Outcome.LEFT if rng.random() < 1 / (1 + math.exp(-difference)) else Outcome.RIGHT
