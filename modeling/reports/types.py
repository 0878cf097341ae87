"""The results contract: what each report function takes and returns.

Plain dataclasses and TypedDicts, with no numpy or torch import (not even a lazy one), so
that the app can build inputs and read stored results without loading the math. Inputs
use crowd-kit's long layout and vocabulary (``worker, left, right, label`` for pairwise
judgments; ``task, worker, label`` for labels); ids are the caller's own (e.g. database
primary keys) and come back unchanged in the estimates.

A report's ``metrics`` is JSON-ready (no NaN: missing numbers are ``None``) and is stored
as it is; its TypedDict is the contract between the code that writes it and the code that
reads it. Identifiers (``id``, ``code``, ``key``) are stable; ``name`` and ``label`` are
for display and may change. Warnings are :class:`Notice` data, worded by the app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

Json = Any  # a JSON value: None, bool, int, float, str, list or dict of them
MetricsT = TypeVar("MetricsT", bound=Mapping[str, Any])


@dataclass(frozen=True)
class Notice:
    """A warning as data: ``code`` names it (stable), ``params`` fill the app's wording."""

    code: str
    params: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemEstimate:
    """One item's score; ``rating``/``lower``/``upper`` on the 400-point scale where the
    family has one. ``details`` holds the family's other numbers (see its TypedDict)."""

    item: int
    score: float
    se: float | None = None
    rating: float | None = None
    lower: float | None = None
    upper: float | None = None
    rank: int | None = None
    n: float = 0.0
    wins: float = 0.0
    losses: float = 0.0
    ties: float = 0.0
    details: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceEstimate:
    """A source's (e.g. a model's) leaderboard entry: rating with its 95 % interval."""

    source: str
    score: float
    se: float | None
    rating: float
    lower: float
    upper: float
    rank_ub: int
    n: float
    wins: float
    losses: float
    ties: float


@dataclass(frozen=True)
class WorkerEstimate:
    """A worker's (rater's) quality. ``misfit`` is set by families that judge fit against
    bounds given in their options (facets); ``None`` leaves flagging to the caller's policy
    on ``reliability``."""

    worker: int
    reliability: float | None
    n: int
    misfit: bool | None = None
    details: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class Report(Generic[MetricsT]):
    """What every family returns: the fit's summary, estimates and warnings. A family
    with more outputs subclasses it and adds typed fields (with defaults)."""

    n_data: int
    n_iter: int | None
    converged: bool | None
    log_likelihood: float | None
    device: str
    metrics: MetricsT
    notices: tuple[Notice, ...] = ()
    items: tuple[ItemEstimate, ...] = ()
    sources: tuple[SourceEstimate, ...] = ()
    workers: tuple[WorkerEstimate, ...] = ()


# --- pairwise (Bradley-Terry family) ------------------------------------------------------

@dataclass(frozen=True)
class ItemInfo:
    name: str  # shown in warnings and win-rate tables (e.g. the external id)
    group: str  # items are compared within their group
    source: str  # the leaderboard by source aggregates over it


@dataclass(frozen=True)
class PairwiseJudgments:
    """Judgments in long layout; ``label`` is +1 when ``left`` won, -1 when ``right`` won
    and 0 for a tie (crowd-kit stores the winner's id; a side needs no tie sentinel).
    ``left`` is the item shown on the left. ``items`` describes every item named."""

    worker: Sequence[int]
    left: Sequence[int]
    right: Sequence[int]
    label: Sequence[int]
    items: Mapping[int, ItemInfo]
    skipped: int = 0  # judgments left out before the fit (shown in "nothing to fit")


@dataclass(frozen=True)
class PairwiseOptions:
    """Options of :func:`modeling.reports.pairwise.pairwise_report`.

    ``bootstrap``: replicates for the source leaderboard's intervals (0: Hessian). Crowd-BT
    (``rater_reliability``) is fitted only once two workers have ``rater_min_judgments``
    judgments each (one worker's reliability is not identified). ``evaluate``: run the
    cross-validated comparison of variants and the learning curve (about 30 extra fits).
    """

    ties: Literal["half", "davidson"] = "half"
    alpha: float = 1.0
    position_bias: bool = True
    rater_reliability: bool = True
    bootstrap: int = 100
    device: str | None = None
    evaluate: bool = False
    rater_min_judgments: int = 10
    evaluation_folds: int = 5
    win_table_max_items: int = 12


class PositionBiasJson(TypedDict):
    estimate: float
    se: float
    lower: float
    upper: float


class SourceBoardJson(TypedDict, total=False):
    n_comparisons: int
    n_same_source: int
    intervals: Literal["bootstrap", "hessian"]
    bootstrap: int
    n_iter: int
    position_bias: PositionBiasJson | None
    skipped: str  # why there is no leaderboard by source


class WinTableJson(TypedDict):
    names: list[str]
    win_rate: list[list[float | None]]
    comparisons: list[list[float]]


class WinRatesJson(TypedDict, total=False):
    sources: WinTableJson
    items: WinTableJson


class CalibrationBinJson(TypedDict):
    lower: float
    upper: float
    predicted: float | None
    observed: float | None
    count: int


class EvaluationModelJson(TypedDict):
    id: str  # stable: "constant", "bt", "bt+position", ... (see pairwise.VARIANTS)
    name: str  # display label
    fitted: bool
    log_loss: float | None
    log_loss_se: float | None
    accuracy: float | None
    accuracy_se: float | None
    brier: float | None
    ece: float | None
    outcome_log_loss: float | None
    seconds: float
    calibration: list[CalibrationBinJson]


class CurvePointJson(TypedDict):
    fraction: float
    n_train: float
    log_loss: float | None
    log_loss_se: float | None
    accuracy: float | None
    brier: float | None


class EvaluationJson(TypedDict, total=False):
    n_folds: int
    fitted: str  # display label of the fitted variant
    fitted_id: str
    n: int
    curve_model: str
    models: list[EvaluationModelJson]
    learning_curve: list[CurvePointJson]
    skipped: str  # why this run has no evaluation of its own
    reused: bool  # the last evaluated run's evaluation stands


class PairwiseMetrics(TypedDict):
    n_items: int
    n_sources: int
    n_raters: int
    n_ties: int
    solver: str
    se_method: str
    position_bias: PositionBiasJson | None
    sources: SourceBoardJson
    win_rates: WinRatesJson
    tie_parameter: float | None
    evaluation: EvaluationJson
    timings: dict[str, float]
    evaluated_on: NotRequired[int]  # judgments of this run's own evaluation


class PairwiseRaterDetails(TypedDict):
    decisive: int
    agreement: float | None
    item_reliability: float | None
    source_reliability: float | None
    basis: Literal["sources", "items"]


# --- fine-grained annotations (many-facet Rasch, Dawid-Skene) ----------------------------

@dataclass(frozen=True)
class Criterion:
    key: str  # stable: "attribute:<id>" or "overall"
    name: str
    low: int
    high: int
    modelled: bool  # on the common scale the facets and Dawid-Skene fits use


@dataclass(frozen=True)
class Annotations:
    """Fine-grained annotations in long layout.

    ``annotations``: (id, task, worker) per annotation, ``task`` being the item annotated.
    One entry per rating in ``rating_annotation`` (an index into ``annotations``),
    ``rating_criterion`` (an index into ``criteria``) and ``rating_label`` (the value);
    ``spans``: (annotation index, start, end, category index) per marked span.
    """

    criteria: tuple[Criterion, ...] = ()
    categories: tuple[tuple[int, str], ...] = ()  # (id, name) of each span category
    annotations: tuple[tuple[int, int, int], ...] = ()
    rating_annotation: tuple[int, ...] = ()
    rating_criterion: tuple[int, ...] = ()
    rating_label: tuple[int, ...] = ()
    spans: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def scale(self) -> tuple[int, int] | None:
        modelled = [c for c in self.criteria if c.modelled]
        return (modelled[0].low, modelled[0].high) if modelled else None


@dataclass(frozen=True)
class FacetsOptions:
    form: Literal["rating-scale", "partial-credit"] = "rating-scale"
    fit_bounds: tuple[float, float] = (0.5, 1.5)  # infit/outfit outside: a misfitting rater
    device: str | None = None


@dataclass(frozen=True)
class DawidSkeneOptions:
    smoothing: float = 0.01
    device: str | None = None


class FacetsCriterionJson(TypedDict):
    key: str
    name: str
    difficulty: float | None
    se: float | None
    infit: float | None
    outfit: float | None
    n: int


class FacetsMetrics(TypedDict):
    form: str
    fit_bounds: list[float]
    scale: list[int]
    values: list[int]
    unused_values: list[int]
    thresholds: list[list[float | None]]
    criteria: list[FacetsCriterionJson]
    item_reliability: float | None
    item_separation: float | None
    rater_reliability: float | None
    rater_separation: float | None
    n_subsets: int
    n_items: int
    n_raters: int
    n_ratings: int
    timings: NotRequired[dict[str, float]]


class AlphaJson(TypedDict):
    key: str
    name: str
    alpha: float | None
    n_items: int


class SpanCategoryJson(TypedDict):
    id: int
    name: str
    f1: float | None


class SpanAgreementJson(TypedDict):
    micro_f1: float | None
    n_items: int
    by_item: dict[str, float | None]
    categories: list[SpanCategoryJson]


class DawidSkeneFitJson(TypedDict):
    classes: list[Json]
    n_tasks: int
    n_labels: int
    priors: list[float | None]
    converged: bool
    n_iter: int
    categories: NotRequired[list[dict[str, Json]]]


class DawidSkeneMetrics(TypedDict):
    alpha: list[AlphaJson]
    span_agreement: SpanAgreementJson | None
    ratings: DawidSkeneFitJson | None
    spans: DawidSkeneFitJson | None
    timings: NotRequired[dict[str, float]]
