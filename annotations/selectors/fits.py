"""Reads for fits: data versions and counts of a kind's rows, the current run, staleness,
and the lead's dashboard. What each kind reads is declared in ``annotations/fit_kinds/``;
what its stored results look like, in ``modeling/reports/types.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from annotations.fit_kinds import fit_kind_spec
from annotations.models import FitKind, FitRun, FitStatus, Project, RaterScore
from annotations.models.fits import ACTIVE_FIT_STATUSES
from annotations.selectors.pairwise_fits import (
    LIVE_JUDGMENT,  # noqa: F401 (read from here)
    fit_run_last_evaluated,
)
from modeling.reports.types import EvaluationJson, PairwiseMetrics, WinRatesJson

# --- versions, runs, staleness ------------------------------------------------------------

def fit_data_version(*, project: Project, kind: str) -> int:
    """The highest id of the rows ``kind`` reads in ``project`` (0 when there are none)."""
    spec = fit_kind_spec(kind)
    rows = spec.rows._default_manager.filter(project=project)
    return rows.aggregate(version=Max("id"))["version"] or 0


def fit_data_count(*, project: Project, kind: str, after: int = 0,
                   up_to: int | None = None) -> int:
    """Usable rows with ``after < id <= up_to``: one indexed count."""
    spec = fit_kind_spec(kind)
    rows = spec.rows._default_manager.filter(spec.usable, project=project, id__gt=after)
    if up_to is not None:
        rows = rows.filter(id__lte=up_to)
    return rows.count()


def fit_data_digest(*, project: Project, kind: str, up_to: int) -> str:
    """Count and id sum of the usable rows up to ``up_to``: it changes when rows stop (or
    start) counting without a new id, e.g. an undo, a rejection or an excluded rater."""
    spec = fit_kind_spec(kind)
    rows = spec.rows._default_manager.filter(spec.usable, project=project, id__lte=up_to)
    totals = rows.aggregate(n=Count("id"), ids=Sum("id"))
    return f"{totals['n']}:{totals['ids'] or 0}"


def fit_run_current(*, project: Project, kind: str) -> FitRun | None:
    """The run whose results are shown: the succeeded run on the newest data."""
    return (FitRun.objects.filter(project=project, kind=kind, status=FitStatus.SUCCEEDED)
            .order_by("-data_version", "-id").first())


def fit_run_pending(*, project: Project, kind: str) -> FitRun | None:
    """The newest queued or running run, if any."""
    return (FitRun.objects.filter(project=project, kind=kind, status__in=ACTIVE_FIT_STATUSES)
            .order_by("-data_version").first())


def fit_run_latest_version(*, project: Project, kind: str) -> int:
    """The data version of the newest run of any status (0 when none)."""
    runs = FitRun.objects.filter(project=project, kind=kind)
    return runs.aggregate(version=Max("data_version"))["version"] or 0


def fit_run_history(*, project: Project, kind: str | None = None, limit: int = 20
                    ) -> list[FitRun]:
    runs: QuerySet[FitRun] = FitRun.objects.filter(project=project)
    if kind is not None:
        runs = runs.filter(kind=kind)
    return list(runs.select_related("requested_by").order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class Staleness:
    """How far the shown fit is behind the data, for "fitted on N judgments, M new since"."""

    noun: str
    total: int  # usable rows now
    fitted_on: int | None  # rows the current run used (None: no current run)
    new_since: int  # usable rows newer than the current run's data version
    fitted_at: datetime | None
    next_auto_after: int  # more rows until an automatic fit is requested
    pending: FitRun | None = None

    @property
    def minutes_ago(self) -> int | None:
        if self.fitted_at is None:
            return None
        return int((timezone.now() - self.fitted_at).total_seconds() // 60)


def fit_staleness(*, project: Project, kind: str, current: FitRun | None) -> Staleness:
    spec = fit_kind_spec(kind)
    version = current.data_version if current else 0
    since_any_run = fit_data_count(project=project, kind=kind,
                                   after=fit_run_latest_version(project=project, kind=kind))
    new_since = fit_data_count(project=project, kind=kind, after=version)
    return Staleness(
        noun=spec.noun, total=fit_data_count(project=project, kind=kind),
        fitted_on=current.n_data if current else None, new_since=new_since,
        fitted_at=current.finished_at if current else None,
        next_auto_after=max(project.fit_every_n - since_any_run, 0),
        pending=fit_run_pending(project=project, kind=kind))


def fit_runs_stale(*, now: datetime | None = None) -> list[FitRun]:
    """Runs that look lost: queued but not sent (or picked up) for a while, or running
    for longer than any fit should (the worker died)."""
    now = now or timezone.now()
    queued_before = now - timedelta(seconds=settings.FIT_STALE_QUEUED_SECONDS)
    running_before = now - timedelta(seconds=settings.FIT_STALE_RUNNING_SECONDS)
    lost = (Q(status=FitStatus.QUEUED)
            & (Q(enqueued_at__lt=queued_before)
               | Q(enqueued_at__isnull=True, created_at__lt=queued_before))) \
        | (Q(status=FitStatus.RUNNING) & Q(started_at__lt=running_before)
           & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=running_before)))
    return list(FitRun.objects.filter(lost).order_by("id"))


# --- for other features -------------------------------------------------------------------

def rater_scores_current(*, project: Project, kind: str = FitKind.BRADLEY_TERRY
                         ) -> dict[int, RaterScore]:
    """Per-rater quality from the current run of ``kind``, keyed by user id (empty when
    there is no current run). Bradley-Terry: ``reliability`` is Crowd-BT's eta."""
    current = fit_run_current(project=project, kind=kind)
    if current is None:
        return {}
    return {score.rater_id: score for score in current.rater_scores.all()}


def rater_score_current(*, project: Project, rater: AbstractBaseUser,
                        kind: str = FitKind.BRADLEY_TERRY) -> RaterScore | None:
    current = fit_run_current(project=project, kind=kind)
    if current is None:
        return None
    return current.rater_scores.filter(rater=rater).first()


# --- the lead's dashboard -----------------------------------------------------------------

BASELINE_ID = "constant"  # the coin in the evaluation table (modeling.reports.pairwise)

@dataclass(frozen=True)
class PositionBias:
    """The fitted left-side effect gamma (log-odds) with its 95 % interval, in words:
    between responses of equal quality the left one wins with ``sigmoid(gamma)``."""

    estimate: float
    lower: float
    upper: float

    @staticmethod
    def _chance(log_odds: float) -> float:
        return 1.0 / (1.0 + math.exp(-log_odds))

    @property
    def left_wins(self) -> float:
        return self._chance(self.estimate)

    @property
    def left_wins_interval(self) -> tuple[float, float]:
        return self._chance(self.lower), self._chance(self.upper)

    @property
    def favoured(self) -> str | None:
        """"left" or "right" when the interval excludes no bias, else ``None``."""
        if self.lower > 0:
            return "left"
        if self.upper < 0:
            return "right"
        return None

    @property
    def percent_more(self) -> float:
        """How much more often the favoured side wins than quality alone predicts (%)."""
        winner = self.left_wins if self.estimate >= 0 else 1.0 - self.left_wins
        return (winner / 0.5 - 1.0) * 100.0


@dataclass(frozen=True)
class FitDashboard:
    current: FitRun | None
    staleness: Staleness
    sources: list[Any]
    items: list[Any]
    n_items: int
    raters: list[Any]
    position_bias: PositionBias | None
    evaluation: EvaluationJson | None
    evaluation_run: FitRun | None
    history: list[FitRun]

    @property
    def win_rates(self) -> WinRatesJson:
        return pairwise_metrics(self.current).get("win_rates", {}) if self.current else {}


def pairwise_metrics(run: FitRun) -> PairwiseMetrics:
    """A Bradley-Terry run's stored summary, typed (written by its kind's results)."""
    metrics: PairwiseMetrics = run.metrics
    return metrics


def fit_dashboard(*, project: Project, kind: str = FitKind.BRADLEY_TERRY,
                  item_limit: int = 50) -> FitDashboard:
    """Everything the lead's dashboard shows, from the current (latest succeeded) run."""
    current = fit_run_current(project=project, kind=kind)
    evaluation_run = current if current and "evaluated_on" in current.metrics \
        else fit_run_last_evaluated(project=project, kind=kind)
    items = current.item_scores.select_related("item") if current else None
    return FitDashboard(
        current=current, staleness=fit_staleness(project=project, kind=kind, current=current),
        sources=list(current.source_scores.order_by("-rating", "source")) if current else [],
        items=list(items.order_by("-rating", "item_id")[:item_limit]) if items else [],
        n_items=items.count() if items else 0,
        raters=list(current.rater_scores.select_related("rater")
                    .order_by("reliability", "rater__username")) if current else [],
        position_bias=_position_bias(current),
        evaluation=pairwise_metrics(evaluation_run).get("evaluation") if evaluation_run else None,
        evaluation_run=evaluation_run,
        history=fit_run_history(project=project, kind=kind))


def _position_bias(run: FitRun | None) -> PositionBias | None:
    bias = pairwise_metrics(run).get("position_bias") if run else None
    if not bias:
        return None
    return PositionBias(bias["estimate"], bias["lower"], bias["upper"])


def fit_dashboard_state(*, project: Project, kind: str = FitKind.BRADLEY_TERRY) -> str:
    """Changes whenever a run is requested or finishes, or the current run changes: the
    dashboard's panels are refreshed when the state a page shows differs from this."""
    runs = FitRun.objects.filter(project=project, kind=kind)
    latest = runs.order_by("-id").values_list("id", "status").first()
    current = (runs.filter(status=FitStatus.SUCCEEDED).order_by("-data_version", "-id")
               .values_list("id", flat=True).first())
    return f"{current or 0}.{latest[0]}.{latest[1]}" if latest else "none"


def fit_evaluation_advice(evaluation: EvaluationJson | None) -> list[str]:
    """What the cross-validated evaluation says a lead could do, in words."""
    if not evaluation or "models" not in evaluation:
        return []
    models = [row for row in evaluation["models"] if row["id"] != BASELINE_ID
              and row["log_loss"] is not None]
    fitted = next((row for row in models if row["fitted"]), None)
    advice = []
    if models and fitted:
        best = min(models, key=lambda row: row["log_loss"])
        margin = best["log_loss_se"] or 0.0
        if best is not fitted and fitted["log_loss"] - best["log_loss"] > margin:
            advice.append(f"“{best['name']}” predicts held-out judgments better than the "
                          f"fitted model (log-loss {best['log_loss']:.3f} against "
                          f"{fitted['log_loss']:.3f}).")
        else:
            advice.append("No richer variant predicts held-out judgments clearly better than "
                          "the fitted model.")
    curve = [point for point in evaluation.get("learning_curve", [])
             if point["log_loss"] is not None]
    if len(curve) >= 2:
        last, before = curve[-1], curve[-2]
        if before["log_loss"] - last["log_loss"] > (last["log_loss_se"] or 0.0) / 2:
            advice.append("The held-out log-loss is still falling as training data grows: "
                          "more judgments would sharpen the estimates.")
        else:
            advice.append("The learning curve has flattened: more judgments of the same kind "
                          "would change the predictions little.")
    return advice
