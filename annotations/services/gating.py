"""Automatic quality gates: pause a rater whose quality signal crosses a threshold once it
rests on enough judgments, and tell the project's leads.

Each signal is a pluggable :class:`SignalSource` (registered in ``SIGNAL_SOURCES``) that
returns, per rater, a value and the number of judgments behind it. Gold accuracy is computed
here from gold pairs; Crowd-BT reliability and Rasch infit/outfit are read from the latest
succeeded Bradley-Terry or many-facet Rasch fit (``RaterScore`` rows); a source whose
numbers do not exist yet (no fit, or a kind without that number) simply reports nobody,
so a gate on it waits. Evaluation runs after each judgment (gold gates, for that rater)
and after each fit (every gate of the project), and is idempotent: a paused rater is
skipped, and a rater a lead resumed is paused again by the same gate only on
``min_judgments`` more judgments.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.access import Task, project_offers
from annotations.models import (
    FitKind,
    GateComparison,
    GateSignal,
    GateTrip,
    GoldQuestion,
    Membership,
    MembershipStatus,
    Notification,
    PairwiseJudgment,
    Project,
    QualityGate,
    RaterScore,
    Role,
)
from annotations.policy import quality_gate_proposals
from annotations.selectors.fits import fit_run_current
from annotations.selectors.gold import gold_scores
from annotations.services.audit import Actor, audit_record
from annotations.services.raters import membership_set_status

logger = logging.getLogger(__name__)
GATE_PAUSE = "gate_pause"


@dataclass(frozen=True)
class RaterSignal:
    value: float
    n: int  # judgments the value rests on


class SignalSource(Protocol):
    def values(self, project: Project, rater_ids: Collection[int] | None
               ) -> dict[int, RaterSignal]: ...


class GoldAccuracy:
    def values(self, project: Project, rater_ids: Collection[int] | None
               ) -> dict[int, RaterSignal]:
        return {rater: RaterSignal(score.accuracy, score.answered)
                for rater, score in gold_scores(project=project, rater_ids=rater_ids).items()
                if score.accuracy is not None}


@dataclass(frozen=True)
class FitRaterNumber:
    """A number from the current fit of the first of ``kinds`` that has one:
    ``RaterScore.reliability`` (``detail`` None) or a key of ``RaterScore.details``."""

    kinds: tuple[str, ...]
    detail: str | None = None

    def values(self, project: Project, rater_ids: Collection[int] | None
               ) -> dict[int, RaterSignal]:
        runs = [fit_run_current(project=project, kind=kind) for kind in self.kinds]
        run = next((run for run in runs if run is not None), None)
        if run is None:
            return {}
        scores = RaterScore.objects.filter(run=run)
        if rater_ids is not None:
            scores = scores.filter(rater_id__in=rater_ids)
        found = {}
        for score in scores:
            value = score.reliability if self.detail is None else score.details.get(self.detail)
            if isinstance(value, int | float):
                found[score.rater_id] = RaterSignal(float(value), score.n)
        return found


SIGNAL_SOURCES: dict[str, SignalSource] = {
    GateSignal.GOLD_ACCURACY: GoldAccuracy(),
    GateSignal.CROWD_BT_RELIABILITY: FitRaterNumber((FitKind.BRADLEY_TERRY,)),
    GateSignal.RASCH_INFIT: FitRaterNumber((FitKind.FACETS,), "infit"),
    GateSignal.RASCH_OUTFIT: FitRaterNumber((FitKind.FACETS,), "outfit"),
}
SIGNAL_TASKS = {  # the task whose work a signal measures: gates follow the project's kind
    GateSignal.GOLD_ACCURACY: Task.PAIRWISE,
    GateSignal.CROWD_BT_RELIABILITY: Task.PAIRWISE,
    GateSignal.RASCH_INFIT: Task.FINE_GRAINED,
    GateSignal.RASCH_OUTFIT: Task.FINE_GRAINED,
}


@dataclass(frozen=True)
class GateConfig:
    signal: str
    comparison: str
    threshold: float
    min_judgments: int = 10
    enabled: bool = True


def gate_signals_for(project: Project) -> list[str]:
    """The signals that measure work this project's kind includes."""
    return [signal for signal, task in SIGNAL_TASKS.items() if project_offers(project, task)]


def gate_defaults_for(project: Project) -> list[dict[str, object]]:
    """The usual rule of each signal the project offers, in the gate form's words."""
    return [{"signal": GateSignal(signal).label, "comparison": GateComparison(comparison).label,
             "threshold": threshold}
            for signal, (comparison, threshold) in quality_gate_proposals().items()
            if signal in gate_signals_for(project)]


def quality_gate_set(*, actor: Actor, project: Project, config: GateConfig) -> QualityGate:
    """Create or change the project's gate for (signal, comparison)."""
    _validate_gate(config)
    if config.signal not in gate_signals_for(project):
        raise ValidationError({"signal": f"{GateSignal(config.signal).label} measures "
                                         f"{SIGNAL_TASKS[config.signal].label}, which this "
                                         "project does not have."})
    with transaction.atomic():
        gate = QualityGate.objects.select_for_update().filter(
            project=project, signal=config.signal, comparison=config.comparison).first()
        before = _gate_state(gate)
        gate = gate or QualityGate(project=project, signal=config.signal,
                                   comparison=config.comparison)
        gate.threshold, gate.min_judgments = config.threshold, config.min_judgments
        gate.enabled = config.enabled
        gate.save()
        audit_record(actor=actor, action="gate.set", target=gate, project=project,
                     before=before, after=_gate_state(gate))
    return gate


def quality_gate_evaluate(*, project: Project, rater_ids: Collection[int] | None = None,
                          signals: Iterable[str] | None = None) -> list[GateTrip]:
    """Check the project's enabled gates (optionally only some signals or raters) and pause
    every active annotator who crosses one. Returns the new trips."""
    gates = QualityGate.objects.filter(project=project, enabled=True)
    if signals is not None:
        gates = gates.filter(signal__in=list(signals))
    trips = []
    for gate in gates:
        values = SIGNAL_SOURCES[gate.signal].values(project, rater_ids)
        for rater_id, signal in sorted(values.items()):
            if signal.n >= gate.min_judgments and _crosses(gate, signal.value):
                trip = _trip(gate, rater_id, signal)
                if trip is not None:
                    trips.append(trip)
    return trips


def quality_gate_after_judgment(*, judgment: PairwiseJudgment) -> None:
    """Run after a judgment commits: if it answered a gold pair and the project has a gold
    gate, check that gate for its rater. Never raises: the judgment is already stored, and
    a failing gate must not turn its response into an error."""
    try:
        project_id = judgment.project_id
        gold_gate = QualityGate.objects.filter(project_id=project_id, enabled=True,
                                               signal=GateSignal.GOLD_ACCURACY)
        is_gold = GoldQuestion.objects.filter(project_id=project_id,
                                              item_low_id=judgment.pair_low,
                                              item_high_id=judgment.pair_high)
        if gold_gate.exists() and is_gold.exists():
            quality_gate_evaluate(project=judgment.project, rater_ids=[judgment.rater_id],
                                  signals=[GateSignal.GOLD_ACCURACY])
    except Exception:
        logger.exception("Quality gate evaluation failed after judgment %s", judgment.pk)


def quality_gate_after_fit(*, project_id: int) -> None:
    """Run after a fit's results land: every gate of the project. Never raises."""
    try:
        quality_gate_evaluate(project=Project.objects.get(pk=project_id))
    except Exception:
        logger.exception("Quality gate evaluation failed after a fit of project %s", project_id)


def _crosses(gate: QualityGate, value: float) -> bool:
    return value < gate.threshold if gate.comparison == GateComparison.BELOW else (
        value > gate.threshold)


def _trip(gate: QualityGate, rater_id: int, signal: RaterSignal) -> GateTrip | None:
    with transaction.atomic():
        membership = (Membership.objects.select_for_update().select_related("user", "project")
                      .filter(project=gate.project, user_id=rater_id, role=Role.ANNOTATOR)
                      .first())
        if membership is None or membership.status != MembershipStatus.ACTIVE:
            return None
        last = GateTrip.objects.filter(gate=gate, rater_id=rater_id).first()
        if last is not None and signal.n < last.n + gate.min_judgments:
            return None  # resumed by a lead: wait for a fresh batch of evidence
        reason = (f"automatic quality check: {gate.get_signal_display().lower()} "
                  f"{signal.value:.2f} is {gate.comparison} {gate.threshold:g} "
                  f"after {signal.n} judgments")
        membership_set_status(actor=Actor.system(), membership=membership,
                              status=MembershipStatus.PAUSED, reason=reason)
        trip = GateTrip.objects.create(gate=gate, rater_id=rater_id, value=signal.value,
                                       n=signal.n)
        Notification.objects.create(
            project=gate.project, rater_id=rater_id, kind=GATE_PAUSE,
            message=f"{membership.user.get_username()} was paused: {reason}. Review their "
                    "work, then resume them or keep them paused.")
    return trip


def _validate_gate(config: GateConfig) -> None:
    errors: dict[str, str] = {}
    if config.signal not in SIGNAL_SOURCES:
        errors["signal"] = f"Unknown signal {config.signal!r}."
    if config.comparison not in GateComparison.values:
        errors["comparison"] = f"Unknown comparison {config.comparison!r}."
    if config.signal in (GateSignal.GOLD_ACCURACY, GateSignal.CROWD_BT_RELIABILITY) and not (
            0.0 <= config.threshold <= 1.0):
        errors["threshold"] = "Accuracy and reliability thresholds are between 0 and 1."
    elif not 0.0 <= config.threshold <= 100.0:
        errors["threshold"] = "Thresholds are between 0 and 100."
    if not 1 <= config.min_judgments <= 100_000:
        errors["min_judgments"] = "The minimum is between 1 and 100,000 judgments."
    if errors:
        raise ValidationError(errors)


def _gate_state(gate: QualityGate | None) -> dict[str, object]:
    if gate is None:
        return {}
    return {"signal": gate.signal, "comparison": gate.comparison, "threshold": gate.threshold,
            "min_judgments": gate.min_judgments, "enabled": gate.enabled}
