"""What a kind of fit declares (:class:`FitKindSpec`) and the pieces kinds share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from django.db import models
from django.db.models import Q

from annotations.models import FitRun, ItemScore, Project, RaterScore, SourceScore
from modeling.reports.types import Notice, Report

InputT = TypeVar("InputT")
OptionsT = TypeVar("OptionsT")
ReportT = TypeVar("ReportT", bound=Report[Any])

OptionsCheck = Callable[[Mapping[str, Any]], dict[str, Any]]


class FitOutput(Protocol):
    """An extra output of a fit, written with its scores in the results' transaction."""

    def write(self, run: FitRun) -> None: ...


@dataclass(frozen=True)
class FitResults:
    """What the writer stores for a run: its summary, unsaved score rows (``run`` unset)
    and the kind's extra outputs, all in one transaction with the flip to succeeded."""

    n_data: int
    device: str = ""
    n_iter: int | None = None
    converged: bool | None = None
    log_likelihood: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    warnings: Sequence[str] = ()
    item_scores: Sequence[ItemScore] = ()
    source_scores: Sequence[SourceScore] = ()
    rater_scores: Sequence[RaterScore] = ()
    outputs: Sequence[FitOutput] = ()


@dataclass(frozen=True)
class FitJob(Generic[InputT, OptionsT]):
    """What the worker hands to the kind's pure function, ``fitter(data, options)``, and
    what loading found out that the results step needs (``context``, e.g. why a part of
    the fit was skipped)."""

    data: InputT
    options: OptionsT
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitKindSpec(Generic[InputT, OptionsT, ReportT]):
    """Everything about one kind of fit (see the package docstring for the life of a run).

    ``rows``: the model whose ids are the data version (rows with a ``project`` key);
    ``usable``: which of them are data. ``check_options`` merges the given options over
    the defaults and raises ``ValueError`` naming a bad one; ``fast`` are the overrides of
    the fast path (``{"fast": true}``: estimates only). ``load`` reads the run's data
    through selectors and turns the stored options into the fitter's (policy applied).
    ``fitter`` is the dotted path of a pure function in ``modeling.reports`` returning a
    ``report`` (imported by the worker only, so the web never loads the math);
    ``results`` turns the report into rows (and extra outputs) for the writer service.
    """

    kind: str  # stable id, stored in FitRun.kind
    label: str  # shown to people
    noun: str  # what its rows are called ("judgments")
    rows: type[models.Model]
    usable: Q
    check_options: OptionsCheck
    load: Callable[[FitRun], FitJob[InputT, OptionsT]]
    fitter: str
    report: type[ReportT]
    results: Callable[[FitRun, FitJob[InputT, OptionsT], ReportT], FitResults]
    applies_to: Callable[[Project], bool] = lambda project: True
    fast: Mapping[str, Any] = field(default_factory=dict)


# --- options --------------------------------------------------------------------------------

FAST = "fast"  # an option every kind accepts: skip what is not the estimates


def merged_options(defaults: Mapping[str, Any], given: Mapping[str, Any],
                   fast: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``defaults`` (unknown names refused); ``fast: true`` applies the
    kind's fast-path overrides; ``device`` is checked for every kind."""
    known = {**defaults, FAST: False}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(known)}.")
    options = {**known, **given}
    if not isinstance(options[FAST], bool):
        raise ValueError("fast must be true or false.")
    if options[FAST]:
        options.update(fast)
    if options.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise ValueError("device must be 'auto', 'cpu' or 'cuda'.")
    return options


def is_number(value: object) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


def device_option(options: Mapping[str, Any]) -> str | None:
    return None if options.get("device", "auto") == "auto" else options["device"]


# --- results ---------------------------------------------------------------------------------

NoticeText = Mapping[str, Callable[[Mapping[str, Any]], str]]


def notice_texts(notices: Sequence[Notice], texts: NoticeText) -> list[str]:
    """The kind's wording of its notices (a code it does not know is shown as data)."""
    return [texts[notice.code](notice.params) if notice.code in texts
            else f"{notice.code}: {dict(notice.params)}" for notice in notices]


def never_flagged(reliability: float | None) -> bool:
    return False


def fit_results(report: Report[Any], *, notices: NoticeText | None = None,
                flagged: Callable[[float | None], bool] = never_flagged,
                metrics: Mapping[str, Any] | None = None,
                outputs: Sequence[FitOutput] = ()) -> FitResults:
    """A report as what the writer stores: its estimates as unsaved rows, its notices in
    the kind's words. ``flagged`` decides, from a reliability, for workers whose family
    left flagging to policy (``misfit`` is ``None``); ``metrics`` replaces the report's."""
    items, sources, raters = _score_rows(report, flagged)
    return FitResults(
        n_data=report.n_data, device=report.device, n_iter=report.n_iter,
        converged=report.converged, log_likelihood=report.log_likelihood,
        metrics=report.metrics if metrics is None else metrics,
        warnings=notice_texts(report.notices, notices or {}), item_scores=items,
        source_scores=sources, rater_scores=raters, outputs=outputs)


def _score_rows(report: Report[Any], flagged: Callable[[float | None], bool]
                ) -> tuple[list[ItemScore], list[SourceScore], list[RaterScore]]:
    items = [ItemScore(item_id=row.item, score=row.score, se=row.se, rating=row.rating,
                       lower=row.lower, upper=row.upper, rank=row.rank, n=row.n,
                       wins=row.wins, losses=row.losses, ties=row.ties,
                       details=dict(row.details)) for row in report.items]
    sources = [SourceScore(source=row.source, score=row.score, se=row.se, rating=row.rating,
                           lower=row.lower, upper=row.upper, rank_ub=row.rank_ub, n=row.n,
                           wins=row.wins, losses=row.losses, ties=row.ties)
               for row in report.sources]
    raters = [RaterScore(rater_id=row.worker, reliability=row.reliability, n=row.n,
                         flagged=row.misfit if row.misfit is not None
                         else flagged(row.reliability), details=dict(row.details))
              for row in report.workers]
    return items, sources, raters
