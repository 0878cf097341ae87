"""Many-facet Rasch on a project's fine-grained ratings: rater severity and infit/outfit,
criterion difficulty and severity-corrected item scores with intervals.

Rows: usable annotations (:data:`~annotations.selectors.fine_grained_fits.USABLE_ANNOTATION`),
read by :func:`~annotations.selectors.fine_grained_fits.fine_grained_annotations`. Math:
:func:`modeling.reports.fine_grained.facets_report`. A rater whose infit or outfit lies
outside the run's ``fit_bounds`` is flagged.
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
from modeling.reports.types import Annotations, FacetsMetrics, FacetsOptions, Report

DEFAULTS: dict[str, Any] = {"form": "rating-scale", "fit_bounds": [0.5, 1.5], "device": "auto"}

Job = FitJob[Annotations, FacetsOptions]


def check_options(given: Mapping[str, Any]) -> dict[str, Any]:
    options = merged_options(DEFAULTS, given, {})
    if options["form"] not in ("rating-scale", "partial-credit"):
        raise ValueError("form must be 'rating-scale' or 'partial-credit'.")
    bounds = options["fit_bounds"]
    if (not isinstance(bounds, list | tuple) or len(bounds) != 2
            or not all(is_number(b) and b > 0 for b in bounds) or not bounds[0] < bounds[1]):
        raise ValueError("fit_bounds must be two numbers 0 < low < high, e.g. [0.5, 1.5].")
    options["fit_bounds"] = [float(bounds[0]), float(bounds[1])]
    return options


def load(run: FitRun) -> Job:
    low, high = run.options["fit_bounds"]
    return FitJob(fine_grained_annotations(project=run.project, data_version=run.data_version),
                  FacetsOptions(form=run.options["form"], fit_bounds=(low, high),
                                device=device_option(run.options)))


NOTICES = {
    "unused_values": lambda p: (
        "Rating values nobody used were squeezed out of the scale (as Facets does): "
        f"{', '.join(map(str, p['values']))}."),
    "disconnected_subsets": lambda p: (
        f"The ratings form {p['count']} disconnected subsets: measures in different subsets "
        "are not comparable."),
}


def results(run: FitRun, job: Job, report: Report[FacetsMetrics]) -> FitResults:
    return fit_results(report, notices=NOTICES)  # misfit (fit_bounds) flags raters


SPEC = FitKindSpec(
    kind=FitKind.FACETS, label="Many-facet Rasch", noun="fine-grained annotations",
    rows=Annotation, usable=USABLE_ANNOTATION, check_options=check_options, load=load,
    fitter="modeling.reports.fine_grained:facets_report", report=Report, results=results,
    applies_to=is_fine_grained)
