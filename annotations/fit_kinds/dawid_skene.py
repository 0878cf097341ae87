"""Dawid-Skene on a project's fine-grained annotations: the ratings as categories (one
task per item and criterion) and span presence (a yes/no task per item and category),
with Krippendorff's alpha per criterion and pairwise span agreement per item.

Rows: usable annotations, read by
:func:`~annotations.selectors.fine_grained_fits.fine_grained_annotations`. Math:
:func:`modeling.reports.fine_grained.dawid_skene_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotations.fit_kinds.base import (
    FitJob,
    FitKindSpec,
    FitResults,
    device_option,
    fit_results,
    is_number,
    merged_options,
)
from annotations.models import Annotation, FitKind, FitRun
from annotations.selectors.fine_grained import is_fine_grained
from annotations.selectors.fine_grained_fits import USABLE_ANNOTATION, fine_grained_annotations
from modeling.reports.types import Annotations, DawidSkeneMetrics, DawidSkeneOptions, Report

DEFAULTS: dict[str, Any] = {"smoothing": 0.01, "device": "auto"}

Job = FitJob[Annotations, DawidSkeneOptions]


def check_options(given: Mapping[str, Any]) -> dict[str, Any]:
    options = merged_options(DEFAULTS, given, {})
    if not is_number(options["smoothing"]) or options["smoothing"] < 0:
        raise ValueError("smoothing must be a number >= 0.")
    options["smoothing"] = float(options["smoothing"])
    return options


def load(run: FitRun) -> Job:
    return FitJob(fine_grained_annotations(project=run.project, data_version=run.data_version),
                  DawidSkeneOptions(smoothing=run.options["smoothing"],
                                    device=device_option(run.options)))


def results(run: FitRun, job: Job, report: Report[DawidSkeneMetrics]) -> FitResults:
    return fit_results(report)


SPEC = FitKindSpec(
    kind=FitKind.DAWID_SKENE, label="Dawid-Skene", noun="fine-grained annotations",
    rows=Annotation, usable=USABLE_ANNOTATION, check_options=check_options, load=load,
    fitter="modeling.reports.fine_grained:dawid_skene_report", report=Report, results=results,
    applies_to=is_fine_grained)
