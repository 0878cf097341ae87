"""Wins by source: one rule for every page that counts them (the project page, the
dashboard's leaderboard), the same rule the Bradley-Terry fit by source uses.

* Only live judgments count (``LIVE_JUDGMENT``: not undone, not skipped, not rejected by a
  reviewer, not by a rater excluded from fits).
* Only comparisons between responses of two *different* sources count: a comparison of two
  responses of one source says nothing about that source against the others, so it is left
  out (and the number left out is reported).
* Each comparison counts once for each of its two sources: a win for one is a loss for the
  other; a tie and "both bad" are a tie for both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Count

from annotations.models import Outcome, PairwiseJudgment, Project
from annotations.selectors.fits import LIVE_JUDGMENT

WINS_FOR = {Outcome.LEFT: "left", Outcome.RIGHT: "right"}


@dataclass(frozen=True)
class SourceRecord:
    source: str
    wins: int
    losses: int
    ties: int

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        """Wins plus half the ties, over all comparisons."""
        return (self.wins + 0.5 * self.ties) / self.comparisons if self.comparisons else None


@dataclass(frozen=True)
class SourceTally:
    records: list[SourceRecord]  # best win rate first
    same_source: int  # live comparisons between two responses of one source, left out

    def by_source(self) -> dict[str, SourceRecord]:
        return {record.source: record for record in self.records}


def source_tally(*, project: Project, up_to: int | None = None) -> SourceTally:
    """Wins, losses and ties per source by the rule above; ``up_to``: only judgments with
    an id up to it (a fit's data version), so a fit's page shows the counts it used."""
    judgments = PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project)
    if up_to is not None:
        judgments = judgments.filter(id__lte=up_to)
    rows = (judgments.values_list("outcome", "left_item__source", "right_item__source")
            .annotate(n=Count("id")).order_by())
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    same_source = 0
    for outcome, left_source, right_source, n in rows:
        if left_source == right_source:
            same_source += n
            continue
        winner = WINS_FOR.get(outcome)
        for side, source in (("left", left_source), ("right", right_source)):
            tally[source]["ties" if winner is None else
                          "wins" if winner == side else "losses"] += n
    records = [SourceRecord(source, counts["wins"], counts["losses"], counts["ties"])
               for source, counts in tally.items()]
    records.sort(key=lambda record: (-(record.win_rate or 0.0), record.source))
    return SourceTally(records, same_source)
