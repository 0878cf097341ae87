"""The fitting seam: the registry of kinds, failures classified, extra outputs written with
the scores, the fast path, duplicate requests as lookups, and policy from one place."""

from __future__ import annotations

import inspect
import logging
from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.module_loading import import_string

from annotations.fit_kinds import KINDS, FitJob
from annotations.fit_kinds import bradley_terry as bt_kind
from annotations.fit_kinds.base import fit_results
from annotations.models import FitRun, FitStatus, FitTrigger, ItemScore, RaterScore, Role
from annotations.models import WorkerHeartbeat as Marker
from annotations.services.fits import fit_run_request
from annotations.tasks.fits import fit_run_execute
from modeling.bradley_terry import NotIdentifiedError
from modeling.reports.types import ItemEstimate, Report
from tests.annotations.test_fits import BT, FAST, add_items, add_judgments, raters, run_fit
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture
def judged(db):
    project = ProjectFactory(name="Seam")
    items = add_items(project, groups=3)
    add_judgments(project, items, n=120, raters=raters())
    return project


def test_every_kind_names_a_pure_function_that_takes_its_job():
    for kind, spec in KINDS.items():
        assert spec.kind == kind
        assert spec.label
        assert spec.noun
        assert spec.fitter.startswith("modeling.reports.")
        fitter = import_string(spec.fitter.replace(":", "."))
        assert list(inspect.signature(fitter).parameters) == ["data", "options"]
        assert spec.check_options({})["fast"] is False


def test_a_model_error_is_recorded_as_such_and_logged_quietly(judged, monkeypatch, caplog):
    def not_identified(data, options):
        raise NotIdentifiedError("item x never loses")

    monkeypatch.setattr("modeling.reports.pairwise.pairwise_report", not_identified)
    caplog.set_level(logging.INFO, logger="annotations.tasks.fits")
    run = run_fit(judged)
    assert run.status == FitStatus.FAILED
    assert run.error == "Model error: NotIdentifiedError: item x never loses"
    assert not run.failed_internally
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_any_other_exception_is_an_internal_error_logged_with_its_traceback(
        judged, monkeypatch, caplog, client):
    def broken(data, options):
        raise KeyError("a bug")

    monkeypatch.setattr("modeling.reports.pairwise.pairwise_report", broken)
    run = run_fit(judged)
    assert run.status == FitStatus.FAILED
    assert run.error.startswith("Internal error: KeyError")
    assert run.failed_internally
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert not ItemScore.objects.exists()
    lead = UserFactory(username="lead")
    MembershipFactory(project=judged, user=lead, role=Role.LEAD)
    client.force_login(lead)
    page = client.get(reverse("project-dashboard", args=[judged.pk])).content.decode()
    assert "internal error" in page


class Marked:
    """A toy extra output: marks the run (standing in for, e.g., a selection plan)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def write(self, run: FitRun) -> None:
        Marker.objects.create(hostname=f"run-{run.pk}", queue="output", seen_at=run.created_at)
        if self.fail:
            raise RuntimeError("the output could not be written")


def toy_report(data, options) -> Report:
    return Report(n_data=len(data.left), n_iter=1, converged=True, log_likelihood=None,
                  device="cpu", metrics={"toy": True},
                  items=(ItemEstimate(item=data.left[0], score=1.0),))


def toy_spec(*, fail: bool):
    def results(run, job, report):
        return fit_results(report, outputs=[Marked(fail=fail)])

    return replace(bt_kind.SPEC, kind="toy", fitter=f"{__name__}:toy_report",
                   load=lambda run: FitJob(bt_kind.load(run).data, None), results=results)


@pytest.mark.parametrize("fail", [False, True])
def test_a_kind_with_an_extra_output_writes_it_with_the_scores_or_not_at_all(
        judged, monkeypatch, fail):
    monkeypatch.setitem(KINDS, "toy", toy_spec(fail=fail))
    request = fit_run_request(project=judged, kind="toy", trigger=FitTrigger.MANUAL)
    outcome = fit_run_execute.apply(args=[request.run.pk]).get()
    run = FitRun.objects.get(pk=request.run.pk)
    if fail:
        assert (outcome, run.status) == ("failed", FitStatus.FAILED)
        assert "the output could not be written" in run.error
        assert not Marker.objects.exists()
        assert not ItemScore.objects.exists()
    else:
        assert (outcome, run.status) == ("succeeded", FitStatus.SUCCEEDED)
        assert Marker.objects.get().hostname == f"run-{run.pk}"
        assert ItemScore.objects.filter(run=run).count() == 1
        assert run.metrics["toy"] is True
        assert set(run.metrics["timings"]) == {"load", "total"}


def test_the_fast_path_skips_the_bootstrap_and_the_evaluation(judged):
    request = fit_run_request(project=judged, kind=BT, trigger=FitTrigger.MANUAL,
                              options={"fast": True, "bootstrap": 200})
    assert request.run.options["bootstrap"] == 0
    assert request.run.options["evaluation"] is False
    fit_run_execute.apply(args=[request.run.pk])
    run = FitRun.objects.get(pk=request.run.pk)
    assert run.status == FitStatus.SUCCEEDED, run.error
    assert run.metrics["sources"]["intervals"] == "hessian"
    assert run.metrics["evaluation"] == {"skipped": "turned off in the run's options"}


def test_a_duplicate_request_is_a_lookup_that_inserts_nothing(judged):
    first = fit_run_request(project=judged, kind=BT, trigger=FitTrigger.AUTO, options=FAST)
    with CaptureQueriesContext(connection) as queries:
        again = fit_run_request(project=judged, kind=BT, trigger=FitTrigger.AUTO)
    assert (again.run, again.queued) == (first.run, False)
    assert not [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"].upper()]
    assert FitRun.objects.count() == 1


def test_evaluation_ids_are_stable_and_labels_are_for_display(judged):
    run = run_fit(judged, evaluation=True)
    models = run.metrics["evaluation"]["models"]
    assert [row["id"] for row in models][:2] == ["constant", "bt"]
    fitted = next(row for row in models if row["fitted"])
    assert fitted["id"] == run.metrics["evaluation"]["fitted_id"] == "bt+position+raters"
    assert fitted["name"] == run.metrics["evaluation"]["fitted"]


def test_policy_numbers_come_from_settings_and_reach_the_page(judged, settings, client):
    settings.FIT_RATER_FLAG_BELOW = 1.01  # every rater is below it
    settings.FIT_EVALUATION_GROWTH = 0.5
    run_fit(judged, evaluation=True)
    add_judgments(judged, _items(judged), n=30,
                  raters=raters(), seed=4)  # grew by a quarter: less than half
    run = run_fit(judged, evaluation=True)
    assert run.metrics["evaluation"]["reused"]
    assert all(score.flagged for score in RaterScore.objects.filter(run=run))
    assert RaterScore.objects.filter(run=run).count() == 3
    lead = UserFactory(username="lead")
    MembershipFactory(project=judged, user=lead, role=Role.LEAD)
    client.force_login(lead)
    page = client.get(reverse("project-dashboard", args=[judged.pk])).content.decode()
    assert "Raters below 1.01 are flagged" in page
    assert "when the data have grown by 50 %" in page


def _items(project):
    return {(int(item.group[1:]), item.source): item for item in project.items.all()}
