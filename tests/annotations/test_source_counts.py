"""Wins by source: one selector and one rule for the project page and the dashboard, the
rule the fit by source uses (same-source comparisons left out, "both bad" a tie, only live
judgments), explained on both pages."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from annotations.models import Outcome, PairwiseJudgment, ReviewVerdict
from annotations.models.reviews import JudgmentReview
from annotations.selectors.sources import source_tally
from tests.annotations.test_fits import run_fit
from tests.factories import ItemFactory


def judge(project, rater, left, right, outcome):
    return PairwiseJudgment.objects.create(
        project=project, rater=rater, left_item=left, right_item=right,
        pair_low=min(left.pk, right.pk), pair_high=max(left.pk, right.pk), outcome=outcome,
        active_seconds=3.0, guideline_version=1, selection_strategy="test",
        idempotency_key=uuid.uuid4())


@pytest.fixture
def judged(project, lead, annotator):
    a1 = ItemFactory(project=project, group="g", source="model-a")
    a2 = ItemFactory(project=project, group="g", source="model-a")
    b1 = ItemFactory(project=project, group="g", source="model-b")
    c1 = ItemFactory(project=project, group="g", source="model-c")
    judge(project, annotator, a1, b1, Outcome.LEFT)  # a beats b
    judge(project, annotator, b1, a2, Outcome.LEFT)  # b beats a
    judge(project, annotator, a1, c1, Outcome.RIGHT)  # c beats a
    judge(project, annotator, b1, c1, Outcome.BOTH_BAD)  # a tie for b and c
    judge(project, annotator, c1, a2, Outcome.TIE)  # a tie for c and a
    judge(project, annotator, a1, a2, Outcome.TIE)  # same source: left out
    judge(project, annotator, a2, a1, Outcome.LEFT)  # same source: left out
    judge(project, annotator, a1, b1, Outcome.SKIP)  # not a comparison
    undone = judge(project, annotator, c1, b1, Outcome.LEFT)
    undone.undone_at = undone.created_at
    undone.save()
    rejected = judge(project, lead, c1, b1, Outcome.LEFT)
    JudgmentReview.objects.create(judgment=rejected, reviewer=lead,
                                  verdict=ReviewVerdict.REJECTED, reason="careless")
    return project


EXPECTED = {  # source: (wins, losses, ties), counted by hand from the rule
    "model-a": (1, 2, 1), "model-b": (1, 1, 1), "model-c": (1, 0, 2)}


def cells_of(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def counts_on(html: str, anchor: str, columns: slice) -> dict[str, tuple[int, ...]]:
    """Wins, losses and ties per source, read from the table after ``id="anchor"``."""
    table = re.search(rf'id="{anchor}".*?</table>', html, re.S).group(0)
    rows = [cells_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    return {next(cell for cell in row if cell.startswith("model-")):
            tuple(int(value) for value in row[columns]) for row in rows if row}


def test_the_selector_counts_by_the_rule(judged):
    tally = source_tally(project=judged)
    assert {r.source: (r.wins, r.losses, r.ties) for r in tally.records} == EXPECTED
    assert tally.same_source == 2


def test_project_page_dashboard_and_fit_agree_and_say_why(client_for, judged, lead):
    run = run_fit(judged)
    fitted = {score.source: (score.wins, score.losses, score.ties)
              for score in run.source_scores.all()}
    assert fitted == EXPECTED  # the fit by source counts by the same rule
    client = client_for(lead)
    detail = client.get(reverse("project-detail", args=[judged.pk])).content.decode()
    dashboard = client.get(reverse("project-dashboard", args=[judged.pk])).content.decode()
    assert counts_on(detail, "wins-by-source", slice(1, 4)) == EXPECTED
    assert counts_on(dashboard, "source-leaderboard", slice(5, 8)) == EXPECTED
    for html in (detail, dashboard):
        assert "2 comparisons between two responses of one source are left out" in html
        assert "“Both bad” counts as a tie" in html
