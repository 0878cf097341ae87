"""Fine-grained fits through the fit-run framework: many-facet Rasch and Dawid-Skene (with
Krippendorff's alpha and span agreement) run as recorded, idempotent runs, store per-rater
and per-item results, and the results pages show them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from celery import current_app
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    Assignment,
    FitKind,
    FitRun,
    ItemScore,
    Membership,
    RaterScore,
    Role,
)
from annotations.selectors.fine_grained import fine_grained_task
from annotations.services.fine_grained import (
    AnnotationInput,
    SpanInput,
    annotation_submit,
    fine_grained_fits_request,
)
from annotations.tasks.fits import fit_run_execute
from modeling.agreement import krippendorff_alpha
from tests.annotations.fine_grained_setup import make_fine_grained
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

SEVERITY = [-1.2, -0.6, 0.0, 0.6, 1.2]  # five raters, lenient to harsh
THRESHOLDS = [-1.5, -0.5, 0.5, 1.5]  # a 0-4 scale


def annotate(project, rater, item, *, ratings, overall=None, spans=()):
    assignment = Assignment.objects.create(
        project=project, rater=rater, left_item=item, selection_strategy="test",
        expires_at=timezone.now() + timedelta(hours=1))
    return annotation_submit(assignment=assignment, answer=AnnotationInput(
        ratings=ratings, overall=overall, spans=tuple(spans), active_seconds=3.0))


@pytest.fixture
def simulated(db):
    """36 items, 5 raters of known severity, each item rated by 3 raters (rotating), so
    harsh and lenient raters see different items; rater 'reversed' read the scale upside
    down (4 means bad) on every other item, a misfit no severity explains."""
    rng = np.random.default_rng(7)
    project = make_fine_grained(ProjectFactory(name="Facets"), overall=None)
    task = fine_grained_task(project)
    categories = {category.name: category.pk for category in task.categories}
    helpfulness, correctness = (attribute.pk for attribute in task.attributes)
    quality = rng.normal(0, 1.5, 36)
    items = [ItemFactory(project=project, content="The moon is made of cheese, they say.")
             for _ in quality]
    raters = [UserFactory(username=f"rater{k}") for k in range(5)]
    noisy = UserFactory(username="reversed")
    for rater in [*raters, noisy]:
        MembershipFactory(project=project, user=rater, role=Role.ANNOTATOR)
    for i, item in enumerate(items):
        for k in (i % 5, (i + 1) % 5, (i + 2) % 5):
            values = [int(np.digitize(quality[i] - SEVERITY[k] + rng.logistic(),
                                      THRESHOLDS)) for _ in range(2)]
            spans = [SpanInput(start=4, end=8, category=categories["Style"])] if k < 3 else []
            annotate(project, raters[k], item, spans=spans,
                     ratings={helpfulness: values[0], correctness: values[1]})
        if i % 2:
            continue
        reversed_values = [4 - int(np.digitize(quality[i] + rng.logistic(), THRESHOLDS))
                           for _ in range(2)]
        annotate(project, noisy, item, ratings={helpfulness: reversed_values[0],
                                                correctness: reversed_values[1]})
    return project, items, raters, noisy, quality


def run_fits(project, requested_by=None, kinds=(FitKind.FACETS, FitKind.DAWID_SKENE)):
    requests = [request for request in
                fine_grained_fits_request(project=project, requested_by=requested_by)
                if request.run.kind in kinds]
    for request in requests:
        assert fit_run_execute.apply(args=[request.run.pk]).get() == "succeeded", \
            FitRun.objects.get(pk=request.run.pk).error
    return {request.run.kind: FitRun.objects.get(pk=request.run.pk) for request in requests}


def spearman(a, b) -> float:
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    return float(np.corrcoef(rank(np.asarray(a)), rank(np.asarray(b)))[0, 1])


def test_facets_run_recovers_rater_severity_and_flags_the_reversed_rater(simulated):
    project, _items, raters, noisy, _quality = simulated
    runs = run_fits(project)
    facets = runs[FitKind.FACETS]
    assert facets.n_data == 36 * 3 + 18
    scores = {score.rater_id: score for score in RaterScore.objects.filter(run=facets)}
    assert set(scores) == {rater.pk for rater in [*raters, noisy]}
    severities = [scores[rater.pk].details["severity"] for rater in raters]
    assert spearman(severities, SEVERITY) >= 0.9
    assert scores[noisy.pk].flagged
    assert scores[noisy.pk].details["infit"] > 1.5
    assert not any(scores[rater.pk].flagged for rater in raters[1:4])
    assert [c["name"] for c in facets.metrics["criteria"]] == ["Helpfulness", "Correctness"]
    assert ItemScore.objects.filter(run=facets).count() == 36


def test_corrected_scores_track_quality_better_than_raw_means(simulated):
    """With the misfitting rater excluded from fits (as a lead would), the corrected
    scores undo the severity differences that bias the raw means."""
    project, items, _raters, noisy, quality = simulated
    Membership.objects.filter(project=project, user=noisy).update(excluded_from_fits=True)
    facets = run_fits(project)[FitKind.FACETS]
    assert not RaterScore.objects.filter(run=facets, rater=noisy).exists()
    details = {s.item_id: s.details for s in ItemScore.objects.filter(run=facets)}
    raw = [details[item.pk]["raw_mean"] for item in items]
    corrected = [details[item.pk]["corrected"] for item in items]
    assert all(details[item.pk]["low"] <= details[item.pk]["corrected"]
               <= details[item.pk]["high"] for item in items)
    assert spearman(corrected, quality) > spearman(raw, quality)
    assert spearman(corrected, quality) > 0.8


def test_dawid_skene_run_stores_confusion_matrices_alpha_and_span_agreement(simulated):
    project, items, raters, noisy, _quality = simulated
    ds = run_fits(project)[FitKind.DAWID_SKENE]
    scores = {score.rater_id: score for score in RaterScore.objects.filter(run=ds)}
    confusion = np.array(scores[raters[2].pk].details["ratings"]["confusion"])
    assert confusion.shape == (5, 5)
    assert np.allclose(confusion.sum(axis=1), 1.0)
    agreement = {pk: s.details["ratings"]["agreement"] for pk, s in scores.items()}
    assert agreement[noisy.pk] == min(agreement.values())
    spans = scores[raters[0].pk].details["spans"]
    assert np.array(spans["confusion"]).shape == (2, 2)
    # alpha per attribute equals Krippendorff's alpha computed from the stored ratings
    task = fine_grained_task(project)
    for row, attribute in zip(ds.metrics["alpha"], task.attributes, strict=True):
        pairs = np.array([(r.annotation.item_id, r.value) for r in
                          attribute.ratings.select_related("annotation")])
        expected = krippendorff_alpha(pairs[:, 0], pairs[:, 1].astype(float), level="ordinal")
        assert row["alpha"] == pytest.approx(expected.alpha)
    # raters 0-2 mark the same characters, 3-4 and "random" mark nothing: per item, the
    # pairwise micro-F1 over four raters is (1 + 0 + 0 + ...) / pairs that marked anything
    by_item = ds.metrics["span_agreement"]["by_item"]
    assert set(by_item) == {str(item.pk) for item in items}
    assert all(0.0 <= value <= 1.0 for value in by_item.values())


def test_a_second_request_on_the_same_data_is_the_same_run(simulated):
    project = simulated[0]
    first = run_fits(project)
    again = fine_grained_fits_request(project=project, requested_by=None)
    assert [request.queued for request in again] == [False, False]
    assert {request.run.pk for request in again} == {run.pk for run in first.values()}
    assert FitRun.objects.count() == 2


def test_identical_spans_agree_perfectly(db):
    project = make_fine_grained(ProjectFactory(), overall=None)
    task = fine_grained_task(project)
    style = next(c.pk for c in task.categories if c.name == "Style")
    ratings = {attribute.pk: 2 for attribute in task.attributes}
    item = ItemFactory(project=project, content="0123456789")
    for name in ("a", "b"):
        rater = UserFactory(username=name)
        MembershipFactory(project=project, user=rater)
        annotate(project, rater, item, ratings=ratings,
                 spans=[SpanInput(start=2, end=6, category=style)])
    ds = run_fits(project, kinds=(FitKind.DAWID_SKENE,))[FitKind.DAWID_SKENE]
    assert ds.metrics["span_agreement"]["by_item"] == {str(item.pk): 1.0}


def test_facets_failure_is_recorded_not_raised(db):
    """Every rating the same value: no rating model exists; the run says why."""
    project = make_fine_grained(ProjectFactory(), overall=None)
    task = fine_grained_task(project)
    item = ItemFactory(project=project)
    rater = UserFactory(username="same")
    MembershipFactory(project=project, user=rater)
    annotate(project, rater, item, ratings={a.pk: 3 for a in task.attributes})
    request = next(r for r in fine_grained_fits_request(project=project, requested_by=None)
                   if r.run.kind == FitKind.FACETS)
    assert fit_run_execute.apply(args=[request.run.pk]).get() == "failed"
    run = FitRun.objects.get(pk=request.run.pk)
    assert "at least two different values" in run.error


def test_fits_are_requested_automatically_after_every_n_annotations(
        db, monkeypatch, django_capture_on_commit_callbacks):
    project = make_fine_grained(ProjectFactory(fit_every_n=2), overall=None)
    task = fine_grained_task(project)
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args: sent.append(args[0]))
    ratings = {attribute.pk: 1 for attribute in task.attributes}
    rater = UserFactory(username="auto")
    MembershipFactory(project=project, user=rater)
    for n in range(3):
        item = ItemFactory(project=project)
        with django_capture_on_commit_callbacks(execute=True):
            annotate(project, rater, item, ratings=ratings)
        assert len(sent) == (2 if n >= 1 else 0)
    assert set(FitRun.objects.values_list("kind", flat=True)) == {FitKind.FACETS,
                                                                  FitKind.DAWID_SKENE}


def test_results_pages_show_corrected_scores_with_intervals_next_to_raw_means(
        simulated, client_for):
    project, _items, _raters, noisy, _quality = simulated
    lead = UserFactory(username="boss")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    facets = run_fits(project, lead)[FitKind.FACETS]
    client = client_for(lead)
    page = client.get(reverse("fine-results", args=[project.pk])).content.decode()
    score = ItemScore.objects.filter(run=facets).order_by("-score").first()
    cell = (f"<strong>{score.details['corrected']:.2f}</strong> "
            f"[{score.details['low']:.2f}, {score.details['high']:.2f}]")
    assert cell in page
    assert f"{score.details['raw_mean']:.2f}" in page
    item_page = client.get(reverse("fine-item-results", args=[project.pk]),
                           {"item": score.item_id}).content.decode()
    assert f"{score.details['corrected']:.2f}" in item_page
    assert "fg-heat-" in item_page
    raters_page = client.get(reverse("fine-raters", args=[project.pk])).content.decode()
    assert "misfit" in raters_page
    severity = RaterScore.objects.get(run=facets, rater=noisy).details["severity"]
    assert f"{severity:.2f}" in raters_page
