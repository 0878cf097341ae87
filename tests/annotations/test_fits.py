"""Fit runs: the task executed in-process, idempotency, triggers, failures, redeliveries,
the reconciler, and the edge cases (empty project, all ties, disconnected sources)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import timedelta

import pytest
from celery import current_app
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from annotations.models import (
    FitRun,
    FitStatus,
    FitTrigger,
    ItemScore,
    JudgmentReview,
    Outcome,
    PairwiseJudgment,
    Project,
    RaterScore,
    ReviewVerdict,
    Role,
    SourceScore,
)
from annotations.selectors.fits import fit_run_current, rater_scores_current
from annotations.services.fits import (
    fit_run_fail,
    fit_run_request,
    fit_run_start,
    fit_runs_reconcile,
)
from annotations.services.judgments import JudgmentInput, assignment_for_rater, judgment_submit
from annotations.tasks import fits as fit_tasks
from annotations.tasks.fits import fit_run_execute
from tests.annotations.helpers import table_counts
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

BT = "bradley_terry"
STRENGTH = {"model-a": 1.2, "model-b": 0.4, "model-c": -0.4, "model-d": -1.2}
FAST = {"evaluation": False, "bootstrap": 0}


def add_items(project: Project, *, groups: int = 6, sources: dict[str, float] = STRENGTH
              ) -> dict[tuple[int, str], object]:
    return {(group, source): ItemFactory(project=project, group=f"g{group}", source=source)
            for group in range(groups) for source in sources}


def add_judgments(project: Project, items: dict, *, n: int, raters: list, seed: int = 0,
                  strength: dict[str, float] = STRENGTH, left_bonus: float = 0.0,
                  tie_rate: float = 0.1, pairs: list[tuple[str, str]] | None = None,
                  outcome: str | None = None, careless: tuple = ()) -> list[PairwiseJudgment]:
    """Judgments simulated by Bradley-Terry on the sources' strengths (bulk-created)."""
    rng = random.Random(seed)
    groups = sorted({group for group, _ in items})
    rows = []
    for index in range(n):
        group = rng.choice(groups)
        first, second = rng.choice(pairs) if pairs else rng.sample(sorted(strength), 2)
        left, right = items[(group, first)], items[(group, second)]
        rater = raters[index % len(raters)]
        if rater in careless and rng.random() < 0.8:  # eta = 0.6
            verdict = rng.choice((Outcome.LEFT, Outcome.RIGHT))
        elif outcome is None:
            delta = strength[first] - strength[second] + left_bonus
            verdict = (Outcome.TIE if rng.random() < tie_rate else
                       Outcome.LEFT if rng.random() < 1 / (1 + math.exp(-delta))
                       else Outcome.RIGHT)
        else:
            verdict = outcome
        rows.append(PairwiseJudgment(
            project=project, rater=rater, left_item=left,
            right_item=right, pair_low=min(left.pk, right.pk),
            pair_high=max(left.pk, right.pk), outcome=verdict, active_seconds=5.0,
            guideline_version=1, selection_strategy="test", idempotency_key=uuid.uuid4()))
    return PairwiseJudgment.objects.bulk_create(rows)


def raters(count: int = 3) -> list:
    return [UserFactory(username=f"rater{k}") for k in range(count)]


def run_fit(project: Project, **options) -> FitRun:
    request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL,
                              options={**FAST, **options})
    fit_run_execute.apply(args=[request.run.pk])
    return FitRun.objects.get(pk=request.run.pk)


@pytest.fixture
def judged(db):
    project = ProjectFactory(name="Fits")
    items = add_items(project)
    add_judgments(project, items, n=240, raters=raters())
    return project, items


def test_fit_task_writes_scores_for_items_sources_and_raters(judged):
    project, items = judged
    run = run_fit(project, bootstrap=50)
    assert run.status == FitStatus.SUCCEEDED, run.error
    assert run.n_data == 240
    assert run.attempts == 1
    assert run.device == "cpu"
    assert run.n_iter > 0
    assert run.converged
    assert run.seconds > 0
    assert run.started_at <= run.finished_at
    assert run.data_version == PairwiseJudgment.objects.latest("id").pk
    scores = ItemScore.objects.filter(run=run)
    assert scores.count() == len(items)
    assert all(score.lower < score.rating < score.upper for score in scores)
    sources = list(SourceScore.objects.filter(run=run).order_by("-rating"))
    assert [source.source for source in sources] == sorted(STRENGTH, key=STRENGTH.get,
                                                           reverse=True)
    assert sum(source.n for source in sources) == 2 * 240
    assert all(source.plus > 0 and source.minus > 0 for source in sources)
    assert sources[0].rank_ub == 1
    assert run.metrics["sources"]["intervals"] == "bootstrap"
    assert RaterScore.objects.filter(run=run).count() == 3
    assert all(0.5 < rater.reliability <= 1 for rater in RaterScore.objects.filter(run=run))
    assert run.metrics["position_bias"]["lower"] < run.metrics["position_bias"]["upper"]
    assert set(run.metrics["win_rates"]["sources"]["names"]) == set(STRENGTH)
    assert fit_run_current(project=project, kind=BT) == run


def test_one_rater_gets_no_reliability_and_finite_intervals(db):
    """Crowd-BT cannot tell one rater's noise from the items' closeness: it is switched off
    (with a note) until two raters have enough judgments; every interval stays finite."""
    project = ProjectFactory(name="Solo")
    items = add_items(project, groups=4)
    add_judgments(project, items, n=12, raters=raters(1), tie_rate=0.3)
    run = run_fit(project, bootstrap=100, rater_reliability=True, position_bias=True)
    assert run.status == FitStatus.SUCCEEDED, run.error
    assert any("needs at least two raters" in warning for warning in run.warnings)
    assert not RaterScore.objects.filter(run=run, reliability__isnull=False).exists()
    for score in [*ItemScore.objects.filter(run=run), *SourceScore.objects.filter(run=run)]:
        assert math.isfinite(score.lower)
        assert math.isfinite(score.upper)
        assert score.upper - score.lower > 1.0  # 12 judgments are no certainty


def test_position_bias_is_recovered(db):
    project = ProjectFactory()
    items = add_items(project)
    add_judgments(project, items, n=600, raters=raters(), left_bonus=1.0, tie_rate=0.0)
    bias = run_fit(project).metrics["position_bias"]
    assert bias["lower"] > 0.3  # the left side wins far more often than quality predicts


def test_a_careless_rater_is_flagged(db):
    project = ProjectFactory()
    items = add_items(project, groups=8)
    good_one, good_two, careless = raters()
    add_judgments(project, items, n=600, raters=[good_one, good_two, careless],
                  careless=(careless,), tie_rate=0.0)
    run = run_fit(project)
    scores = {score.rater: score for score in RaterScore.objects.filter(run=run)}
    assert scores[careless].flagged
    assert not scores[good_one].flagged
    assert not scores[good_two].flagged
    assert scores[careless].reliability < min(scores[good_one].reliability,
                                              scores[good_two].reliability)
    assert scores[careless].details["basis"] == "sources"


def test_evaluation_compares_variants_and_is_reused_until_the_data_grows(judged):
    project, items = judged
    first = run_fit(project, evaluation=True, bootstrap=0)
    evaluation = first.metrics["evaluation"]
    names = [row["name"] for row in evaluation["models"]]
    assert names[0] == "constant 0.5"
    assert "+ position bias + rater reliability" in names
    fitted = [row for row in evaluation["models"] if row["fitted"]]
    assert len(fitted) == 1
    assert fitted[0]["log_loss"] < math.log(2)  # better than a coin
    assert 0 <= fitted[0]["brier"] <= 1
    assert len(fitted[0]["calibration"]) == 10
    assert [point["fraction"] for point in evaluation["learning_curve"]] == [0.25, 0.5, 0.75, 1]
    assert first.metrics["evaluated_on"] == 240
    add_judgments(project, items, n=10, raters=raters(), seed=1)
    second = run_fit(project, evaluation=True)
    assert second.metrics["evaluation"].get("reused")
    assert "evaluated_on" not in second.metrics


def test_same_data_version_twice_is_one_run_and_the_second_task_is_a_no_op(judged):
    project, _ = judged
    first = fit_run_request(project=project, kind=BT, trigger=FitTrigger.AUTO, options=FAST)
    again = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
    assert first.queued
    assert not again.queued
    assert again.run == first.run
    assert FitRun.objects.count() == 1
    assert fit_run_execute.apply(args=[first.run.pk]).get() == "succeeded"
    scores = ItemScore.objects.count()
    assert fit_run_execute.apply(args=[first.run.pk]).get() == "skipped"
    assert ItemScore.objects.count() == scores
    assert FitRun.objects.get().attempts == 1


def test_request_sends_the_task_by_name_after_commit(judged, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    project, _ = judged
    sent = []
    monkeypatch.setattr(current_app, "send_task",
                        lambda name, args: sent.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
        assert sent == []  # nothing leaves before the commit
    assert sent == [("annotations.tasks.fits.fit_run_execute", [request.run.pk])]


def test_broker_outage_loses_nothing(judged, monkeypatch, django_capture_on_commit_callbacks):
    project, _ = judged

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(current_app, "send_task", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
    assert FitRun.objects.get(pk=request.run.pk).status == FitStatus.QUEUED


def submit(project, rater, outcome=Outcome.LEFT):
    assignment = assignment_for_rater(project=project, rater=rater)
    return judgment_submit(assignment=assignment, answer=JudgmentInput(outcome=outcome))


def test_automatic_fit_after_every_n_judgments(db, monkeypatch,
                                               django_capture_on_commit_callbacks):
    project = ProjectFactory(fit_every_n=4)
    add_items(project, groups=3)
    rater = UserFactory(username="rater")
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args: sent.append(args[0]))
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            submit(project, rater)
    with django_capture_on_commit_callbacks(execute=True):
        submit(project, rater, Outcome.SKIP)  # a skip is not data
    assert not FitRun.objects.exists()
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        last = submit(project, rater).judgment
    run = FitRun.objects.get()
    assert (run.trigger, run.data_version, run.status) == (FitTrigger.AUTO, last.pk,
                                                            FitStatus.QUEUED)
    assert sent == [run.pk]
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            submit(project, rater)
    assert FitRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        submit(project, rater)
    assert FitRun.objects.count() == 2
    assert len(sent) == 2


def test_math_failure_is_recorded_and_not_retried(db):
    project = ProjectFactory()
    items = add_items(project, groups=2)
    # model-a always wins: its maximum-likelihood score is infinite without a prior.
    add_judgments(project, items, n=40, raters=raters(), pairs=[("model-a", "model-b")],
                  outcome=Outcome.LEFT)
    add_judgments(project, items, n=40, raters=raters(), pairs=[("model-b", "model-c")],
                  seed=3)
    request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL,
                              options={**FAST, "alpha": 0, "rater_reliability": False})
    result = fit_run_execute.apply(args=[request.run.pk])
    assert result.get() == "failed"
    assert result.state == "SUCCESS"
    run = FitRun.objects.get()
    assert run.status == FitStatus.FAILED
    assert run.attempts == 1
    assert "NotIdentifiedError" in run.error
    assert run.finished_at is not None
    assert not ItemScore.objects.exists()


def test_transient_errors_are_retried_then_the_run_fails_after_bounded_attempts(
        judged, monkeypatch, settings):
    project, _ = judged
    settings.FIT_MAX_ATTEMPTS = 3
    calls = []

    def flaky(run):
        calls.append(run.pk)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(fit_tasks, "fit_run_compute", flaky)
    request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
    fit_run_execute.apply(args=[request.run.pk])
    run = FitRun.objects.get()
    assert len(calls) == 3
    assert run.status == FitStatus.FAILED
    assert run.attempts == 3
    assert "Gave up after 3 attempts" in run.error


def test_a_redelivered_run_counts_attempts(judged, settings):
    project, _ = judged
    settings.FIT_MAX_ATTEMPTS = 2
    request = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL,
                              options=FAST)
    # Two deliveries whose worker died mid-fit (the run was left running).
    assert fit_run_start(run_id=request.run.pk) is not None
    assert fit_run_start(run_id=request.run.pk) is not None
    assert fit_run_execute.apply(args=[request.run.pk]).get() == "skipped"
    run = FitRun.objects.get()
    assert run.status == FitStatus.FAILED
    assert "Gave up after 2" in run.error


def test_previous_results_stay_visible_until_a_newer_run_succeeds(judged):
    project, items = judged
    first = run_fit(project)
    first_scores = ItemScore.objects.filter(run=first).count()
    add_judgments(project, items, n=20, raters=raters(), seed=5)
    second = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL,
                             options=FAST).run
    assert fit_run_current(project=project, kind=BT) == first  # queued
    fit_run_start(run_id=second.pk)
    assert fit_run_current(project=project, kind=BT) == first  # running
    fit_run_fail(run_id=second.pk, error="Math: it broke")
    assert fit_run_current(project=project, kind=BT) == first  # failed
    assert ItemScore.objects.filter(run=first).count() == first_scores
    retried = fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
    assert retried.queued
    assert retried.run == second
    fit_run_execute.apply(args=[second.pk])
    assert fit_run_current(project=project, kind=BT) == second


def test_an_older_queued_run_is_superseded_by_a_newer_one(judged):
    project, items = judged
    older = fit_run_request(project=project, kind=BT, trigger=FitTrigger.AUTO).run
    add_judgments(project, items, n=5, raters=raters(), seed=9)
    newer = fit_run_request(project=project, kind=BT, trigger=FitTrigger.AUTO,
                            options=FAST).run
    assert fit_run_execute.apply(args=[older.pk]).get() == "skipped"
    assert FitRun.objects.get(pk=older.pk).status == FitStatus.SUPERSEDED
    assert fit_run_execute.apply(args=[newer.pk]).get() == "succeeded"


def test_empty_project_refuses_a_fit_and_writes_nothing(project, items):
    before = table_counts()
    with pytest.raises(ValidationError, match="Nothing to fit"):
        fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)
    assert table_counts() == before


def test_only_skips_is_nothing_to_fit(db):
    project = ProjectFactory()
    items = add_items(project, groups=1)
    add_judgments(project, items, n=3, raters=raters(), outcome=Outcome.SKIP)
    with pytest.raises(ValidationError, match="Nothing to fit"):
        fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL)


def test_bad_options_are_refused(judged):
    project, _ = judged
    for options in ({"alpha": -1}, {"ties": "sometimes"}, {"bootstrap": 10**6},
                    {"colour": "red"}, {"ties": "davidson", "rater_reliability": True}):
        with pytest.raises(ValidationError):
            fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL,
                            options=options)
    with pytest.raises(ValidationError, match="Unknown kind"):
        fit_run_request(project=project, kind="astrology", trigger=FitTrigger.MANUAL)
    assert not FitRun.objects.exists()


def test_all_ties_fit_gives_equal_ratings(db):
    project = ProjectFactory()
    items = add_items(project, groups=3)
    add_judgments(project, items, n=60, raters=raters(), outcome=Outcome.TIE)
    run = run_fit(project)
    assert run.status == FitStatus.SUCCEEDED, run.error
    ratings = [source.rating for source in SourceScore.objects.filter(run=run)]
    assert max(ratings) - min(ratings) < 1e-6
    assert {source.rank_ub for source in SourceScore.objects.filter(run=run)} == {1}


def test_both_bad_counts_as_a_tie(db):
    project = ProjectFactory(allow_both_bad=True)
    items = add_items(project, groups=1)
    add_judgments(project, items, n=12, raters=raters(), outcome=Outcome.BOTH_BAD)
    run = run_fit(project)
    assert run.metrics["n_ties"] == 12
    assert sum(score.ties for score in ItemScore.objects.filter(run=run)) == 24


def test_disconnected_sources_are_named_in_a_warning(db):
    project = ProjectFactory()
    items = add_items(project, groups=3)
    add_judgments(project, items, n=40, raters=raters(), pairs=[("model-a", "model-b")])
    add_judgments(project, items, n=40, raters=raters(), pairs=[("model-c", "model-d")],
                  seed=1)
    run = run_fit(project)
    assert run.status == FitStatus.SUCCEEDED
    warning = next(text for text in run.warnings if "sources form 2 groups" in text)
    assert "{model-a, model-b}" in warning
    assert "{model-c, model-d}" in warning


def test_a_group_split_in_two_is_named(db):
    project = ProjectFactory()
    items = add_items(project, groups=1)
    add_judgments(project, items, n=10, raters=raters(), pairs=[("model-a", "model-b")])
    add_judgments(project, items, n=10, raters=raters(), pairs=[("model-c", "model-d")])
    run = run_fit(project)
    warning = next(text for text in run.warnings if "In group 'g0'" in text)
    assert items[(0, "model-a")].external_id in warning


def test_one_source_has_no_source_leaderboard_but_fits_items(db):
    project = ProjectFactory()
    items = add_items(project, groups=2, sources={"solo": 0.0, "solo-too": 0.0})
    for item in items.values():
        item.source = "solo"
        item.save()
    add_judgments(project, items, n=20, raters=raters(),
                  strength={"solo": 0.0, "solo-too": 0.0})
    run = run_fit(project)
    assert run.status == FitStatus.SUCCEEDED
    assert not SourceScore.objects.filter(run=run).exists()
    assert ItemScore.objects.filter(run=run).count() == 4


def test_undone_judgments_are_not_data(judged):
    project, _ = judged
    PairwiseJudgment.objects.filter(pk__in=PairwiseJudgment.objects.order_by("id")
                                    .values("id")[:40]).update(undone_at=timezone.now())
    assert run_fit(project).n_data == 200


def test_excluded_raters_and_rejected_judgments_are_left_out_and_refit_the_same_version(
        judged):
    project, _ = judged
    first = run_fit(project)
    excluded = PairwiseJudgment.objects.order_by("id").first().rater
    MembershipFactory(project=project, user=excluded, role=Role.ANNOTATOR,
                      excluded_from_fits=True)
    second = run_fit(project)
    assert second.pk != first.pk
    assert second.data_version == first.data_version
    assert second.n_data == 160
    assert not RaterScore.objects.filter(run=second, rater=excluded).exists()
    rejected = PairwiseJudgment.objects.exclude(rater=excluded).first()
    JudgmentReview.objects.create(judgment=rejected, reviewer=UserFactory(username="reviewer"),
                                  verdict=ReviewVerdict.REJECTED)
    third = run_fit(project)
    assert third.n_data == 159
    assert fit_run_current(project=project, kind=BT) == third
    assert not fit_run_request(project=project, kind=BT, trigger=FitTrigger.MANUAL).queued


def test_rater_scores_for_other_features(judged):
    project, _ = judged
    assert rater_scores_current(project=project) == {}
    run = run_fit(project)
    scores = rater_scores_current(project=project)
    assert set(scores) == set(PairwiseJudgment.objects.values_list("rater_id", flat=True))
    assert all(score.run_id == run.pk and score.n == 80 for score in scores.values())


def test_reconciler_resends_stale_runs_only(judged, monkeypatch, settings,
                                            django_capture_on_commit_callbacks):
    project, items = judged
    settings.FIT_STALE_QUEUED_SECONDS = 600
    settings.FIT_STALE_RUNNING_SECONDS = 3600
    stale = fit_run_request(project=project, kind=BT, trigger=FitTrigger.AUTO).run
    FitRun.objects.filter(pk=stale.pk).update(
        enqueued_at=timezone.now() - timedelta(minutes=11))
    add_judgments(project, items, n=3, raters=raters(), seed=2)
    fresh = fit_run_request(project=project, kind=BT, trigger=FitTrigger.AUTO).run
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args: sent.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        assert fit_runs_reconcile() == [stale.pk]
    assert sent == [stale.pk]
    assert FitRun.objects.get(pk=stale.pk).enqueued_at > timezone.now() - timedelta(minutes=1)
    FitRun.objects.filter(pk=fresh.pk).update(
        status=FitStatus.RUNNING, started_at=timezone.now() - timedelta(hours=2),
        enqueued_at=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert fit_runs_reconcile() == [fresh.pk]


def test_fit_command_runs_synchronously(judged, capsys):
    project, _ = judged
    call_command("fit", project.slug, "--sync", "--no-evaluation", "--bootstrap", "0")
    run = FitRun.objects.get()
    assert run.status == FitStatus.SUCCEEDED
    assert run.trigger == FitTrigger.MANUAL
    output = capsys.readouterr().out
    assert f"run {run.pk}" in output
    assert "succeeded" in output
    call_command("fit", str(project.pk), "--sync")
    assert "already" in capsys.readouterr().out
    assert FitRun.objects.count() == 1


def test_beat_schedules_the_reconciler_task(settings):
    from annotations.tasks.fits import fit_runs_reconcile_task

    entry = settings.CELERY_BEAT_SCHEDULE["fit-runs-reconcile"]
    assert entry["task"] == fit_runs_reconcile_task.name
    assert entry["options"]["queue"] == "default"
    assert current_app.conf.task_routes[fit_run_execute.name]["queue"] == "modeling"
