"""Which pair a rater sees next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from annotations.models import Assignment, Item, Outcome, PairwiseJudgment, Project

FEWEST_JUDGMENTS = "fewest_judgments"


@dataclass(frozen=True)
class PairChoice:
    item_low: int
    item_high: int
    strategy: str
    probability: float  # of this pair being chosen, for unbiased estimates later


def pair_next_for_rater(*, project: Project, rater: AbstractBaseUser, now: datetime
                        ) -> PairChoice | None:
    """The next pair for ``rater``: within one group, not yet judged by them, fewest
    judgments so far (pairs leased to other raters right now count as judged), ties
    broken uniformly at random. ``None`` when nothing is left.
    """
    with connection.cursor() as cursor:
        cursor.execute(_FEWEST_JUDGMENTS_SQL, _fewest_params(project, rater, now))
        row = cursor.fetchone()
    if row is None:
        return None
    low, high, _count, tied = row
    return PairChoice(int(low), int(high), FEWEST_JUDGMENTS, 1.0 / tied)


def _fewest_params(project: Project, rater: AbstractBaseUser, now: datetime) -> list[object]:
    now_value = connection.ops.adapt_datetimefield_value(now)
    return [project.pk, Outcome.SKIP, project.pk, now_value, rater.pk, project.pk, rater.pk,
            project.pk]


_JUDGMENT = PairwiseJudgment._meta.db_table
_ASSIGNMENT = Assignment._meta.db_table
_ITEM = Item._meta.db_table

_FEWEST_JUDGMENTS_SQL = f"""
WITH judged AS (
    SELECT pair_low, pair_high, COUNT(*) AS n
    FROM {_JUDGMENT}
    WHERE project_id = %s AND undone_at IS NULL AND outcome <> %s
    GROUP BY pair_low, pair_high
), leased AS (
    SELECT CASE WHEN left_item_id < right_item_id THEN left_item_id ELSE right_item_id END
               AS pair_low,
           CASE WHEN left_item_id < right_item_id THEN right_item_id ELSE left_item_id END
               AS pair_high,
           COUNT(*) AS n
    FROM {_ASSIGNMENT}
    WHERE project_id = %s AND status = 'open' AND expires_at > %s AND rater_id <> %s
          AND right_item_id IS NOT NULL
    GROUP BY 1, 2
), mine AS (
    SELECT pair_low, pair_high FROM {_JUDGMENT}
    WHERE project_id = %s AND rater_id = %s AND undone_at IS NULL
), candidates AS (
    SELECT a.id AS pair_low, b.id AS pair_high,
           COALESCE(judged.n, 0) + COALESCE(leased.n, 0) AS n
    FROM {_ITEM} a
    JOIN {_ITEM} b ON b.project_id = a.project_id AND b.item_group = a.item_group
                   AND a.id < b.id
    LEFT JOIN judged ON judged.pair_low = a.id AND judged.pair_high = b.id
    LEFT JOIN leased ON leased.pair_low = a.id AND leased.pair_high = b.id
    WHERE a.project_id = %s AND NOT EXISTS (
        SELECT 1 FROM mine WHERE mine.pair_low = a.id AND mine.pair_high = b.id)
)
SELECT pair_low, pair_high, n, COUNT(*) OVER (PARTITION BY n) AS tied
FROM candidates
ORDER BY n, RANDOM()
LIMIT 1
"""
