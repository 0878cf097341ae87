"""Helpers shared by the pools/administration tests."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission

from annotations.models import AuditEntry, GoldQuestion, Item, Role
from annotations.services.audit import Actor
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from tests.factories import ItemFactory, MembershipFactory, UserFactory


def admin_user(username: str = "root"):
    return UserFactory(username=username, is_superuser=True, is_staff=True)


def lead_with_create_permission(project, username: str = "creator"):
    user = UserFactory(username=username)
    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    MembershipFactory(project=project, user=user, role=Role.LEAD)
    return user


def member(project, username: str, role: str = Role.ANNOTATOR):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role)
    return user


def judge(project, rater, outcome: str = "left"):
    assignment = assignment_for_rater(project=project, rater=rater)
    return judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome))


def gold_pairs(project, count: int, *, group_prefix: str = "gold") -> list[GoldQuestion]:
    """``count`` one-pair groups, each a gold question whose expected winner is the lower id."""
    questions = []
    for index in range(count):
        low = ItemFactory(project=project, group=f"{group_prefix}{index}")
        high = ItemFactory(project=project, group=f"{group_prefix}{index}")
        questions.append(GoldQuestion.objects.create(project=project, item_low=low,
                                                     item_high=high, expected_winner=low))
    return questions


def answer_gold(project, rater, *, correct: bool):
    """Serve the rater's next task (a gold pair) and answer it right or wrong."""
    assignment = assignment_for_rater(project=project, rater=rater)
    question = GoldQuestion.objects.get(
        project=project, item_low_id=min(assignment.left_item_id, assignment.right_item_id),
        item_high_id=max(assignment.left_item_id, assignment.right_item_id))
    winner_is_left = assignment.left_item_id == question.expected_winner_id
    outcome = "left" if winner_is_left == correct else "right"
    return judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome))


def last_audit(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-id").first()


def actor(user) -> Actor:
    return Actor(user=user, ip="127.0.0.1")


def item_ids(project) -> list[int]:
    return list(Item.objects.filter(project=project).values_list("pk", flat=True))


def link_token(html: str, prefix: str = "/invite/") -> str:
    return re.search(re.escape(prefix) + r"([A-Za-z0-9_-]+)/", html).group(1)
