"""Quality gates: gold served at the gold rate and indistinguishable; a gate pauses at the
threshold only after the minimum count, notifies the leads, is idempotent; fit-based signals
(Crowd-BT reliability, Rasch infit/outfit) and pluggable sources."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import (
    AuditEntry,
    FitKind,
    FitRun,
    FitStatus,
    FitTrigger,
    GateComparison,
    GateSignal,
    GateTrip,
    GoldSettings,
    Membership,
    Notification,
    ProjectKind,
    QualityGate,
    RaterScore,
)
from annotations.models.judgment import AssignmentStatus
from annotations.services import gating
from annotations.services.audit import Actor
from annotations.services.fits import FitResults, fit_run_record_results
from annotations.services.gating import (
    GateConfig,
    RaterSignal,
    quality_gate_evaluate,
    quality_gate_set,
)
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from tests.annotations.helpers import table_counts
from tests.annotations.pools_support import answer_gold, gold_pairs, judge, member
from tests.factories import ItemFactory


@pytest.fixture
def gold_project(project):
    gold_pairs(project, 12)
    GoldSettings.objects.create(project=project, rate=1.0)
    return project


def gold_gate(project, threshold=0.6, min_judgments=5):
    return quality_gate_set(actor=Actor.system(), project=project, config=GateConfig(
        signal=GateSignal.GOLD_ACCURACY, comparison=GateComparison.BELOW, threshold=threshold,
        min_judgments=min_judgments))


def status_of(project, user):
    return Membership.objects.get(project=project, user=user).status


def test_gold_is_served_at_the_gold_rate(project, annotator):
    gold_pairs(project, 3)
    settings = GoldSettings.objects.create(project=project, rate=1.0)
    strategies = [judge(project, annotator).judgment.selection_strategy for _ in range(3)]
    assert strategies == ["gold"] * 3  # rate 1: gold while unjudged gold pairs remain
    settings.rate = 0.0
    settings.save()
    gold_pairs(project, 3, group_prefix="more")
    strategies = [judge(project, annotator).judgment.selection_strategy for _ in range(3)]
    assert "gold" not in strategies


def test_gold_share_follows_the_rate(project, annotator):
    gold_pairs(project, 40)
    for index in range(40):
        ItemFactory(project=project, group=f"plain{index}")
        ItemFactory(project=project, group=f"plain{index}")
    GoldSettings.objects.create(project=project, rate=0.25)
    served = [judge(project, annotator).judgment for _ in range(40)]
    share = sum(j.selection_strategy == "gold" for j in served) / len(served)
    assert 0.05 < share < 0.55  # 0.25 expected; binomial(40, 0.25) stays inside


def test_a_gold_task_looks_like_any_other(client_for, gold_project, annotator):
    question = gold_project.gold_questions.first()
    question.explanation = "SECRET-EXPLANATION"
    question.save()
    page = client_for(annotator).get(reverse("annotate", args=[gold_project.pk]))
    html = page.content.decode()
    assert assignment_for_rater(project=gold_project, rater=annotator).selection_strategy == \
        "gold"
    assert not re.search("gold", html, re.IGNORECASE)
    assert "SECRET-EXPLANATION" not in html


def test_gold_gate_pauses_exactly_when_crossing_after_the_minimum(
        client_for, django_capture_on_commit_callbacks, gold_project, lead, annotator):
    gold_gate(gold_project, threshold=0.6, min_judgments=5)
    answers = [False, False, True, True]  # 2/4 = 0.5 < 0.6, but only 4 answers
    for correct in answers:
        with django_capture_on_commit_callbacks(execute=True):
            answer_gold(gold_project, annotator, correct=correct)
        assert status_of(gold_project, annotator) == "active"
    with django_capture_on_commit_callbacks(execute=True):
        answer_gold(gold_project, annotator, correct=True)  # 3/5 = 0.6: at the threshold
    assert status_of(gold_project, annotator) == "active"
    held = assignment_for_rater(project=gold_project, rater=annotator)
    assert not GateTrip.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        question = gold_project.gold_questions.get(item_low_id=min(held.left_item_id,
                                                                   held.right_item_id),
                                                   item_high_id=max(held.left_item_id,
                                                                    held.right_item_id))
        wrong = "right" if held.left_item_id == question.expected_winner_id else "left"
        judgment_submit(assignment=held, answer=JudgmentInput(outcome=wrong))  # 3/6 = 0.5
    membership = Membership.objects.get(project=gold_project, user=annotator)
    assert membership.status == "paused"
    assert "gold accuracy 0.50 is below 0.6 after 6 judgments" in membership.status_reason
    trip = GateTrip.objects.get()
    assert (trip.value, trip.n) == (0.5, 6)
    notice = Notification.objects.get()
    assert "annotator was paused" in notice.message
    entry = AuditEntry.objects.get(action="rater.pause")
    assert (entry.actor_name, entry.before["status"], entry.after["status"]) == (
        "system", "active", "paused")
    for name in ("project-detail", "project-dashboard", "project-raters"):
        page = client_for(lead).get(reverse(name, args=[gold_project.pk]))
        assert "annotator was paused" in page.content.decode(), name
    dismiss = reverse("notification-dismiss", args=[gold_project.pk, notice.pk])
    assert client_for(lead).post(dismiss, headers={"HX-Request": "true"}).status_code == 200
    page = client_for(lead).get(reverse("project-detail", args=[gold_project.pk]))
    assert "annotator was paused" not in page.content.decode()
    refused = client_for(annotator).get(reverse("annotate", args=[gold_project.pk]))
    assert refused.status_code == 403
    assert "gold accuracy 0.50" in refused.content.decode()


def test_gate_evaluation_is_idempotent_and_resume_waits_for_new_evidence(
        client_for, django_capture_on_commit_callbacks, gold_project, lead, annotator):
    gold_gate(gold_project, threshold=0.6, min_judgments=3)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answer_gold(gold_project, annotator, correct=False)
    assert status_of(gold_project, annotator) == "paused"
    before = table_counts()
    assert quality_gate_evaluate(project=gold_project) == []
    assert table_counts() == before
    client_for(lead).post(reverse("rater-status", args=[gold_project.pk, annotator.pk]),
                          {"status": "active"})
    assert GateTrip.objects.get().resolved_at is not None
    for _ in range(2):  # 5 answers: fewer than 3 + 3 since the trip
        with django_capture_on_commit_callbacks(execute=True):
            answer_gold(gold_project, annotator, correct=False)
        assert status_of(gold_project, annotator) == "active"
    with django_capture_on_commit_callbacks(execute=True):
        answer_gold(gold_project, annotator, correct=False)
    assert status_of(gold_project, annotator) == "paused"
    assert GateTrip.objects.count() == 2
    assert Notification.objects.count() == 2


def test_gates_never_pause_leads_and_disabled_gates_do_nothing(
        django_capture_on_commit_callbacks, gold_project, lead, annotator):
    gate = gold_gate(gold_project, threshold=0.9, min_judgments=1)
    with django_capture_on_commit_callbacks(execute=True):
        answer_gold(gold_project, lead, correct=False)
    assert status_of(gold_project, lead) == "active"
    gate.enabled = False
    gate.save()
    with django_capture_on_commit_callbacks(execute=True):
        answer_gold(gold_project, annotator, correct=False)
    assert status_of(gold_project, annotator) == "active"


def fit_run(project, kind=FitKind.BRADLEY_TERRY, version=1):
    return FitRun.objects.create(project=project, kind=kind, data_version=version,
                                 status=FitStatus.RUNNING, trigger=FitTrigger.MANUAL)


def test_crowd_bt_gate_pauses_after_a_fit_lands(django_capture_on_commit_callbacks, project,
                                                annotator):
    careful = member(project, "careful")
    newcomer = member(project, "newcomer")
    quality_gate_set(actor=Actor.system(), project=project, config=GateConfig(
        signal=GateSignal.CROWD_BT_RELIABILITY, comparison=GateComparison.BELOW,
        threshold=0.6, min_judgments=20))
    assert quality_gate_evaluate(project=project) == []  # no fit yet: the gate waits
    run = fit_run(project)
    scores = [RaterScore(rater=annotator, reliability=0.41, n=50),
              RaterScore(rater=careful, reliability=0.97, n=50),
              RaterScore(rater=newcomer, reliability=0.2, n=5)]
    with django_capture_on_commit_callbacks(execute=True):
        assert fit_run_record_results(run=run, results=FitResults(n_data=105,
                                                                  rater_scores=scores))
    assert status_of(project, annotator) == "paused"
    assert "crowd-bt reliability 0.41 is below 0.6 after 50" in Membership.objects.get(
        project=project, user=annotator).status_reason
    assert status_of(project, careful) == "active"
    assert status_of(project, newcomer) == "active"  # too few judgments behind the number


def fine_grained_too(project):
    """Rasch infit and outfit measure fine-grained work: the project needs that task."""
    project.kind = ProjectKind.BOTH
    project.save(update_fields=["kind"])


@pytest.mark.parametrize(("infit", "paused"), [(1.9, True), (1.5, False), (0.9, False)])
def test_rasch_infit_gate_reads_the_facets_fit(project, annotator, infit, paused):
    fine_grained_too(project)
    quality_gate_set(actor=Actor.system(), project=project, config=GateConfig(
        signal=GateSignal.RASCH_INFIT, comparison=GateComparison.ABOVE, threshold=1.5,
        min_judgments=10))
    run = fit_run(project, kind=FitKind.FACETS)
    RaterScore.objects.create(run=run, rater=annotator, n=30,
                              details={"infit": infit, "outfit": 1.0, "severity": 0.2})
    FitRun.objects.filter(pk=run.pk).update(status=FitStatus.SUCCEEDED)
    trips = quality_gate_evaluate(project=project)
    assert (status_of(project, annotator) == "paused") is paused
    assert len(trips) == int(paused)


def test_signal_sources_are_pluggable(monkeypatch, project, annotator):
    class FixedOutfit:
        def values(self, project, rater_ids):
            return {annotator.pk: RaterSignal(value=2.4, n=40)}

    monkeypatch.setitem(gating.SIGNAL_SOURCES, GateSignal.RASCH_OUTFIT, FixedOutfit())
    fine_grained_too(project)
    quality_gate_set(actor=Actor.system(), project=project, config=GateConfig(
        signal=GateSignal.RASCH_OUTFIT, comparison=GateComparison.ABOVE, threshold=1.5,
        min_judgments=10))
    [trip] = quality_gate_evaluate(project=project)
    assert (trip.rater_id, trip.value) == (annotator.pk, 2.4)
    assert status_of(project, annotator) == "paused"


def test_pause_by_gate_releases_the_open_lease(gold_project, annotator):
    gold_gate(gold_project, threshold=0.9, min_judgments=1)
    answer_gold(gold_project, annotator, correct=False)
    held = assignment_for_rater(project=gold_project, rater=annotator)
    quality_gate_evaluate(project=gold_project)
    held.refresh_from_db()
    assert held.status == AssignmentStatus.RELEASED


def test_lead_sets_gates_through_the_page(client_for, project, lead):
    url = reverse("quality-gate", args=[project.pk])
    response = client_for(lead).post(url, {"signal": "gold_accuracy", "comparison": "below",
                                           "threshold": "0.7", "min_judgments": "8",
                                           "enabled": "on"})
    assert response.status_code == 302
    gate = QualityGate.objects.get()
    assert (gate.threshold, gate.min_judgments, gate.enabled) == (0.7, 8, True)
    assert AuditEntry.objects.get(action="gate.set").after["threshold"] == 0.7
    before = table_counts()
    bad = client_for(lead).post(url, {"signal": "gold_accuracy", "comparison": "below",
                                      "threshold": "7", "min_judgments": "8"})
    assert bad.status_code == 422
    assert "between 0 and 1" in bad.content.decode()
    assert table_counts() == before
