"""Reads about raters: the members page, and the rater's own quality page (agreement with
consensus, gold accuracy, time per task). Which judgments fits and exports may use (not
undone, not rejected by a reviewer, not by an excluded rater) is
``annotations.selectors.fits.LIVE_JUDGMENT``."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Q

from annotations.models import (
    Annotation,
    Membership,
    Outcome,
    PairwiseJudgment,
    Project,
    Ranking,
    RaterStatus,
    Rating,
    Role,
    WorkloadCap,
)
from annotations.selectors.gold import GoldScore, gold_scores
from annotations.selectors.projects import project_list_for_user
from annotations.selectors.rankings import ranking_consensus_agreement

CONSENSUS_MIN_OTHERS = 2  # a pair is "finished" for a rater when 2+ others judged it
LEADERBOARD_MIN_JUDGMENTS = 5
NO_PREFERENCE = 0  # tie and "both bad" count as the same verdict for consensus


@dataclass(frozen=True)
class RaterRow:
    """One member on the lead's members page."""

    membership: Membership
    judgments: int
    last_judged: object  # the latest judgment or annotation
    annotations: int
    gold: GoldScore | None
    global_status: RaterStatus | None
    cap: WorkloadCap | None


def rater_rows_for_project(project: Project, user_ids: list[int] | None = None
                           ) -> list[RaterRow]:
    members = Membership.objects.filter(project=project).select_related("user")
    if user_ids is not None:
        members = members.filter(user_id__in=user_ids)
    members = list(members.order_by("role", "user__username"))
    user_ids = [member.user_id for member in members]
    live = Q(judgments__project=project, judgments__undone_at__isnull=True) & ~Q(
        judgments__outcome=Outcome.SKIP)
    activity = {row["pk"]: row for row in get_user_model().objects.filter(pk__in=user_ids)
                .values("pk").annotate(n=Count("judgments", filter=live),
                                       last=Max("judgments__created_at", filter=live))}
    annotated = {rater: (n, last) for rater, n, last in (
        Annotation.objects.filter(project=project, rater_id__in=user_ids, skipped=False)
        .values("rater").annotate(n=Count("id"), last=Max("created_at"))
        .values_list("rater", "n", "last").order_by())}
    gold = gold_scores(project=project, rater_ids=user_ids)
    statuses = {status.user_id: status for status in RaterStatus.objects.filter(
        user_id__in=user_ids)}
    caps = {cap.rater_id: cap for cap in WorkloadCap.objects.filter(project=project)}
    return [RaterRow(member, activity[member.user_id]["n"],
                     _latest(activity[member.user_id]["last"],
                             annotated.get(member.user_id, (0, None))[1]),
                     annotated.get(member.user_id, (0, None))[0], gold.get(member.user_id),
                     statuses.get(member.user_id), caps.get(member.user_id))
            for member in members]


def _latest(*moments: object) -> object:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class Agreement:
    agreed: int
    compared: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


def consensus_agreement(project: Project) -> dict[int, Agreement]:
    """Per rater: on pairs that at least ``CONSENSUS_MIN_OTHERS`` other raters judged, how
    often the rater's verdict (which item won, or no preference) matches the strict
    majority of the others' verdicts. Pairs without a strict majority are not counted."""
    votes: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    rows = (PairwiseJudgment.objects.filter(project=project, undone_at__isnull=True)
            .exclude(outcome=Outcome.SKIP)
            .values_list("pair_low", "pair_high", "rater_id", "outcome", "left_item_id",
                         "right_item_id"))
    for low, high, rater, outcome, left, right in rows:
        votes[(low, high)].append((rater, _verdict(outcome, left, right)))
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for pair_votes in votes.values():
        counts = Counter(verdict for _rater, verdict in pair_votes)
        for rater, verdict in pair_votes:
            others = counts.copy()
            others[verdict] -= 1
            majority = _strict_majority(others)
            if sum(others.values()) >= CONSENSUS_MIN_OTHERS and majority is not None:
                tally[rater][0] += verdict == majority
                tally[rater][1] += 1
    return {rater: Agreement(agreed, compared) for rater, (agreed, compared) in tally.items()}


@dataclass(frozen=True)
class QualityRow:
    """A rater on the quality leaderboard (others are anonymous)."""

    rank: int | None
    is_me: bool
    label: str
    gold_accuracy: float | None
    agreement: float | None
    median_seconds: float | None


@dataclass(frozen=True)
class MyQuality:
    project: Project
    task: str  # "pairs", "items" or "rankings": one entry for each task the project serves
    done: int
    total: int
    gold: GoldScore | None
    agreement: Agreement | None
    median_seconds: float | None
    leaderboard: list[QualityRow]


def my_quality(user: AbstractBaseUser) -> list[MyQuality]:
    """The rater's quality in each project they annotate in: on pairs (agreement with the
    others' majority, gold accuracy) and on fine-grained items (agreement of their ratings
    with the others' median), with time per task."""
    entries = []
    for row in project_list_for_user(user):
        if row.role != Role.ANNOTATOR:
            continue
        if row.pairs:
            entries.append(_my_quality_in(row.project, user, row.pairs.done, row.pairs.total))
        if row.rankings:
            entries.append(_my_ranking_quality_in(row.project, user, row.rankings.done,
                                                  row.rankings.total))
        if row.items:
            entries.append(_my_fine_quality_in(row.project, user, row.items.done,
                                               row.items.total))
    return entries


def _my_ranking_quality_in(project: Project, user: AbstractBaseUser, done: int, total: int
                           ) -> MyQuality:
    """Agreement: the pairs the rater's rankings imply that the others' majority ordered
    the same way, on tasks at least two others ranked."""
    agreement = {rater: Agreement(agreed, compared) for rater, (agreed, compared)
                 in ranking_consensus_agreement(project=project,
                                                min_others=CONSENSUS_MIN_OTHERS).items()}
    rankings = Ranking.objects.filter(project=project, skipped=False, undone_at__isnull=True)
    seconds = _median_seconds_of(rankings.values_list("rater_id", "active_seconds"))
    board = _leaderboard(user.pk, agreement, {}, seconds)
    return MyQuality(project, "rankings", done, total, None, agreement.get(user.pk),
                     seconds.get(user.pk), board)


def _my_quality_in(project: Project, user: AbstractBaseUser, done: int, total: int
                   ) -> MyQuality:
    agreement = consensus_agreement(project)
    gold = gold_scores(project=project)
    seconds = _median_seconds(project)
    board = _leaderboard(user.pk, agreement, gold, seconds)
    return MyQuality(project, "pairs", done, total, gold.get(user.pk), agreement.get(user.pk),
                     seconds.get(user.pk), board)


def _my_fine_quality_in(project: Project, user: AbstractBaseUser, done: int, total: int
                        ) -> MyQuality:
    agreement = rating_consensus_agreement(project)
    annotations = Annotation.objects.filter(project=project, skipped=False)
    seconds = _median_seconds_of(annotations.values_list("rater_id", "active_seconds"))
    board = _leaderboard(user.pk, agreement, {}, seconds)
    return MyQuality(project, "items", done, total, None, agreement.get(user.pk),
                     seconds.get(user.pk), board)


def rating_consensus_agreement(project: Project) -> dict[int, Agreement]:
    """Per rater: of their ratings on items and attributes that at least
    ``CONSENSUS_MIN_OTHERS`` other raters rated, how many equal the others' median (the
    lower median when it falls between two levels)."""
    values: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    rows = (Rating.objects.filter(annotation__project=project, annotation__skipped=False)
            .values_list("annotation__item_id", "attribute_id", "annotation__rater_id",
                         "value"))
    for item, attribute, rater, value in rows:
        values[(item, attribute)].append((rater, value))
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for ratings in values.values():
        for rater, value in ratings:
            others = sorted(other for who, other in ratings if who != rater)
            if len(others) >= CONSENSUS_MIN_OTHERS:
                tally[rater][0] += value == others[(len(others) - 1) // 2]
                tally[rater][1] += 1
    return {rater: Agreement(agreed, compared) for rater, (agreed, compared) in tally.items()}


def _leaderboard(me: int, agreement: dict[int, Agreement], gold: dict[int, GoldScore],
                 seconds: dict[int, float]) -> list[QualityRow]:
    """Ranked by gold accuracy, then agreement with consensus; volume plays no part beyond
    the minimum number of compared judgments."""
    eligible = [rater for rater, score in agreement.items()
                if score.compared >= LEADERBOARD_MIN_JUDGMENTS]

    def key(rater: int) -> tuple[float, float]:
        score = gold.get(rater)
        return (-(score.accuracy if score and score.accuracy is not None else -1.0),
                -(agreement[rater].rate or 0.0))

    ranked = sorted(eligible, key=key)
    rows = [QualityRow(rank, rater == me, "you" if rater == me else f"rater {rank}",
                       gold[rater].accuracy if rater in gold else None,
                       agreement[rater].rate, seconds.get(rater))
            for rank, rater in enumerate(ranked, start=1)]
    if me not in eligible:
        rows.append(QualityRow(None, True, "you (not ranked yet)",
                               gold[me].accuracy if me in gold else None,
                               agreement[me].rate if me in agreement else None, seconds.get(me)))
    return rows


def _median_seconds(project: Project) -> dict[int, float]:
    return _median_seconds_of(PairwiseJudgment.objects.filter(project=project,
                                                              undone_at__isnull=True)
                              .exclude(outcome=Outcome.SKIP)
                              .values_list("rater_id", "active_seconds"))


def _median_seconds_of(rows: Iterable[tuple[int, float]]) -> dict[int, float]:
    by_rater: dict[int, list[float]] = defaultdict(list)
    for rater, active in rows:
        by_rater[rater].append(active)
    return {rater: statistics.median(values) for rater, values in by_rater.items()}


def _verdict(outcome: str, left: int, right: int) -> int:
    return {Outcome.LEFT: left, Outcome.RIGHT: right}.get(outcome, NO_PREFERENCE)


def _strict_majority(counts: Counter[int]) -> int | None:
    total = sum(counts.values())
    for verdict, count in counts.items():
        if count * 2 > total:
            return verdict
    return None
