"""Reads for fits: which data a kind reads, the current run, staleness, and the data arrays
the fit task needs.

Every kind of fit is described by a :class:`FitKindSpec`: which rows it reads (their ids
define ``data_version``), which of those rows count as data, its default options and how
to check options. Other model families register theirs with :func:`fit_kind_register`
(e.g. at the bottom of their selectors module, imported by their services).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from annotations.models import (
    FitKind,
    FitRun,
    FitStatus,
    Item,
    Membership,
    Outcome,
    PairwiseJudgment,
    Project,
    RaterScore,
    ReviewVerdict,
)
from annotations.models.fits import ACTIVE_FIT_STATUSES

OptionsCheck = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class FitKindSpec:
    """What a kind of fit reads and how it is configured.

    ``data_model`` rows with a ``project`` foreign key; ``usable`` filters the rows that are
    data (e.g. judgments not undone and not skipped). ``check_options`` merges the given
    options over the defaults and raises ``ValueError`` naming a bad one.
    """

    kind: str
    data_model: type[models.Model]
    usable: Q
    noun: str  # "judgments", shown to the lead
    check_options: OptionsCheck
    applies_to: Callable[[Project], bool] = lambda project: True


FIT_KINDS: dict[str, FitKindSpec] = {}


def fit_kind_register(spec: FitKindSpec) -> None:
    FIT_KINDS[spec.kind] = spec


def fit_kind_spec(kind: str) -> FitKindSpec:
    """The spec of ``kind``; ``ValueError`` for a kind nobody registered."""
    try:
        return FIT_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(FIT_KINDS)) or "none"
        raise ValueError(f"Unknown kind of fit {kind!r} (known: {known}).") from None


# --- Bradley-Terry ------------------------------------------------------------------------

BRADLEY_TERRY_DEFAULTS: dict[str, Any] = {
    "ties": "half",  # or "davidson"; "both bad" counts as a tie (see modeling/tasks.py)
    "alpha": 1.0,  # Gaussian prior precision on the scores; 0 = maximum likelihood
    "position_bias": True,
    "rater_reliability": True,  # Crowd-BT (half-win ties only)
    "bootstrap": 100,  # replicates for the source leaderboard's intervals; 0 = Hessian SEs
    "evaluation": True,  # cross-validated held-out metrics (skipped for large data)
    "device": "auto",
}


def bradley_terry_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``; ``ValueError`` with a clear message otherwise."""
    unknown = sorted(set(given) - set(BRADLEY_TERRY_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(BRADLEY_TERRY_DEFAULTS)}.")
    options = {**BRADLEY_TERRY_DEFAULTS, **given}
    if options["ties"] not in ("half", "davidson"):
        raise ValueError("ties must be 'half' or 'davidson'.")
    alpha = options["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) \
            or not math.isfinite(alpha) or alpha < 0:
        raise ValueError("alpha must be a number >= 0.")
    for flag in ("position_bias", "rater_reliability", "evaluation"):
        if not isinstance(options[flag], bool):
            raise ValueError(f"{flag} must be true or false.")
    bootstrap = options["bootstrap"]
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) \
            or not 0 <= bootstrap <= 2000:
        raise ValueError("bootstrap must be a whole number from 0 to 2000.")
    if options["device"] not in ("auto", "cpu", "cuda"):
        raise ValueError("device must be 'auto', 'cpu' or 'cuda'.")
    if options["rater_reliability"] and options["ties"] == "davidson":
        raise ValueError("rater_reliability (Crowd-BT) needs ties='half'.")
    options["alpha"] = float(alpha)
    return options


# Judgments a fit uses: not undone, not skipped, not rejected by a reviewer, and not by a
# rater the lead excluded from fits (their judgments are kept, just not used).
_EXCLUDED_RATER = Membership.objects.filter(project_id=OuterRef("project_id"),
                                            user_id=OuterRef("rater_id"),
                                            excluded_from_fits=True)
LIVE_JUDGMENT = (Q(undone_at__isnull=True) & ~Q(outcome=Outcome.SKIP)
                 & ~Q(review__verdict=ReviewVerdict.REJECTED) & ~Exists(_EXCLUDED_RATER))

fit_kind_register(FitKindSpec(
    kind=FitKind.BRADLEY_TERRY, data_model=PairwiseJudgment, usable=LIVE_JUDGMENT,
    noun="judgments", check_options=bradley_terry_options,
    applies_to=lambda project: project.is_pairwise))


# --- versions, runs, staleness ------------------------------------------------------------

def fit_data_version(*, project: Project, kind: str) -> int:
    """The highest id of the rows ``kind`` reads in ``project`` (0 when there are none)."""
    spec = fit_kind_spec(kind)
    rows = spec.data_model._default_manager.filter(project=project)
    return rows.aggregate(version=Max("id"))["version"] or 0


def fit_data_count(*, project: Project, kind: str, after: int = 0,
                   up_to: int | None = None) -> int:
    """Usable rows with ``after < id <= up_to``: one indexed count."""
    spec = fit_kind_spec(kind)
    rows = spec.data_model._default_manager.filter(spec.usable, project=project, id__gt=after)
    if up_to is not None:
        rows = rows.filter(id__lte=up_to)
    return rows.count()


def fit_data_digest(*, project: Project, kind: str, up_to: int) -> str:
    """Count and id sum of the usable rows up to ``up_to``: it changes when rows stop (or
    start) counting without a new id, e.g. an undo, a rejection or an excluded rater."""
    spec = fit_kind_spec(kind)
    rows = spec.data_model._default_manager.filter(spec.usable, project=project,
                                                   id__lte=up_to)
    totals = rows.aggregate(n=Count("id"), ids=Sum("id"))
    return f"{totals['n']}:{totals['ids'] or 0}"


def fit_run_current(*, project: Project, kind: str) -> FitRun | None:
    """The run whose results are shown: the succeeded run on the newest data."""
    return (FitRun.objects.filter(project=project, kind=kind, status=FitStatus.SUCCEEDED)
            .order_by("-data_version", "-id").first())


def fit_run_last_evaluated(*, project: Project, kind: str) -> FitRun | None:
    """The newest succeeded run that carries a cross-validated evaluation."""
    return (FitRun.objects.filter(project=project, kind=kind, status=FitStatus.SUCCEEDED,
                                  metrics__has_key="evaluated_on")
            .order_by("-data_version").first())


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


# --- the data a fit reads -------------------------------------------------------------------

@dataclass(frozen=True)
class PairwiseData:
    """Live judgments up to a data version, as plain lists (the task turns them into arrays).

    ``outcome``: +1 left wins, -1 right wins, 0 tie or both bad. The item shown on the left
    is always ``left`` (judgments store the sides as shown).
    """

    judgment_ids: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)  # item ids
    right: list[int] = field(default_factory=list)
    outcome: list[int] = field(default_factory=list)
    rater: list[int] = field(default_factory=list)  # user ids
    # item id: (external id, group, source), for every item of the project
    items: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    skipped: int = 0  # skipped, undone, rejected or excluded judgments up to the version


OUTCOME_CODE = {Outcome.LEFT: 1, Outcome.RIGHT: -1, Outcome.TIE: 0, Outcome.BOTH_BAD: 0}


def fit_pairwise_data(*, project: Project, data_version: int) -> PairwiseData:
    judgments = PairwiseJudgment.objects.filter(project=project, id__lte=data_version)
    rows = (judgments.filter(LIVE_JUDGMENT).order_by("id")
            .values_list("id", "left_item_id", "right_item_id", "outcome", "rater_id"))
    data = PairwiseData()
    for judgment_id, left, right, outcome, rater in rows.iterator(chunk_size=10_000):
        data.judgment_ids.append(judgment_id)
        data.left.append(left)
        data.right.append(right)
        data.outcome.append(OUTCOME_CODE[outcome])
        data.rater.append(rater)
    items = Item.objects.filter(project=project).values_list("id", "external_id", "group",
                                                             "source")
    data.items.update((pk, (external_id, group, source))
                      for pk, external_id, group, source in items.iterator(chunk_size=10_000))
    return PairwiseData(**{**data.__dict__, "skipped": judgments.count() - len(data.left)})


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
    evaluation: dict[str, Any] | None
    evaluation_run: FitRun | None
    history: list[FitRun]

    @property
    def win_rates(self) -> dict[str, Any]:
        return self.current.metrics.get("win_rates", {}) if self.current else {}


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
        evaluation=evaluation_run.metrics.get("evaluation") if evaluation_run else None,
        evaluation_run=evaluation_run,
        history=fit_run_history(project=project, kind=kind))


def _position_bias(run: FitRun | None) -> PositionBias | None:
    bias = run.metrics.get("position_bias") if run else None
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


def fit_evaluation_advice(evaluation: dict[str, Any] | None) -> list[str]:
    """What the cross-validated evaluation says a lead could do, in words."""
    if not evaluation or "models" not in evaluation:
        return []
    models = [row for row in evaluation["models"] if row["name"] != "constant 0.5"
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
