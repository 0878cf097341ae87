"""Bradley-Terry on a project's pairwise judgments: leaderboards by item and by source,
Crowd-BT rater reliability, position bias, win rates and a cross-validated evaluation.

Rows: live judgments (:data:`~annotations.selectors.fits.LIVE_JUDGMENT`); a judgment's
``left_item`` is the item shown on the left; "both bad" counts as a tie. Math:
:func:`modeling.reports.pairwise.pairwise_report`. Policy (when to evaluate, when a
rater is flagged) comes from :func:`annotations.policy.fit_policy`.
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
from annotations.models import FitKind, FitRun, PairwiseJudgment
from annotations.policy import fit_policy
from annotations.selectors.pairwise_fits import (
    LIVE_JUDGMENT,
    fit_pairwise_judgments,
    fit_run_last_evaluated,
)
from modeling.reports.types import (
    EvaluationJson,
    PairwiseJudgments,
    PairwiseMetrics,
    PairwiseOptions,
    Report,
)

DEFAULTS: dict[str, Any] = {
    "ties": "half",  # or "davidson"
    "alpha": 1.0,  # Gaussian prior precision on the scores; 0 = maximum likelihood
    "position_bias": True,
    "rater_reliability": True,  # Crowd-BT (half-win ties only)
    "bootstrap": 100,  # replicates for the source leaderboard's intervals; 0 = Hessian SEs
    "evaluation": True,  # cross-validated held-out metrics (skipped for large data)
    "device": "auto",
}
FAST = {"bootstrap": 0, "evaluation": False}


def check_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``; ``ValueError`` with a clear message otherwise."""
    options = merged_options(DEFAULTS, given, FAST)
    if options["ties"] not in ("half", "davidson"):
        raise ValueError("ties must be 'half' or 'davidson'.")
    if not is_number(options["alpha"]) or options["alpha"] < 0:
        raise ValueError("alpha must be a number >= 0.")
    for flag in ("position_bias", "rater_reliability", "evaluation"):
        if not isinstance(options[flag], bool):
            raise ValueError(f"{flag} must be true or false.")
    bootstrap = options["bootstrap"]
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) \
            or not 0 <= bootstrap <= 2000:
        raise ValueError("bootstrap must be a whole number from 0 to 2000.")
    if options["rater_reliability"] and options["ties"] == "davidson":
        raise ValueError("rater_reliability (Crowd-BT) needs ties='half'.")
    options["alpha"] = float(options["alpha"])
    return options


Job = FitJob[PairwiseJudgments, PairwiseOptions]


def load(run: FitRun) -> Job:
    data = fit_pairwise_judgments(project=run.project, data_version=run.data_version)
    options = run.options
    skipped = _evaluation_skipped(run, len(data.left))
    return FitJob(data, PairwiseOptions(
        ties=options["ties"], alpha=options["alpha"], position_bias=options["position_bias"],
        rater_reliability=options["rater_reliability"], bootstrap=options["bootstrap"],
        device=device_option(options), evaluate=skipped is None,
        rater_min_judgments=fit_policy().rater_min_judgments),
        context={"evaluation": skipped})


def _evaluation_skipped(run: FitRun, n: int) -> EvaluationJson | None:
    """Why this run is not evaluated (``None``: it is). The evaluation costs about 30 extra
    fits: it is skipped for small data (too few to hold out), for large data, and while
    the data grew by less than the policy's growth since the last evaluated run (whose
    evaluation the dashboard shows)."""
    policy = fit_policy()
    if not run.options["evaluation"]:
        return {"skipped": "turned off in the run's options"}
    if n < policy.evaluation_min_data:
        return {"skipped": f"needs at least {policy.evaluation_min_data} judgments (has {n})"}
    if n > policy.evaluation_max_data:
        return {"skipped": f"more than {policy.evaluation_max_data:,} judgments "
                           "(FIT_EVALUATION_MAX_DATA)"}
    last = fit_run_last_evaluated(project=run.project, kind=run.kind)
    evaluated_on = last.metrics["evaluated_on"] if last else None
    if evaluated_on and n < evaluated_on * (1 + policy.evaluation_growth):
        return {"skipped": f"the data grew by less than {policy.evaluation_growth:.0%} since "
                           f"the last evaluation (on {evaluated_on:,} judgments)",
                "reused": True}
    return None


NOTICES = {
    "rater_reliability_off": lambda p: (
        "Rater reliability is not estimated yet: it needs at least two raters with "
        f"{p['min_judgments']} or more judgments each."),
    "disconnected_items": lambda p: (
        f"In group {p['group']!r} the items form {len(p['pieces'])} sets never compared "
        f"with each other: {_named_pieces(p['pieces'])}. Their scores are tied together "
        "only by the prior."),
    "disconnected_sources": lambda p: (
        f"The sources form {len(p['groups'])} groups that were never compared with each "
        f"other: {' | '.join('{' + ', '.join(group) + '}' for group in p['groups'])}. "
        "Ratings in different groups are placed on one scale only by the prior; compare "
        "ratings within a group."),
    "no_source_board": lambda p: f"No leaderboard by source: {p['reason']}.",
}


def _named_pieces(pieces: list[list[str]]) -> str:
    return " | ".join("{" + ", ".join(piece[:8]) + (", ..." if len(piece) > 8 else "") + "}"
                      for piece in pieces)


def results(run: FitRun, job: Job, report: Report[PairwiseMetrics]) -> FitResults:
    metrics = report.metrics
    if job.context["evaluation"] is not None:
        metrics = {**metrics, "evaluation": job.context["evaluation"]}
    threshold = fit_policy().rater_flag_below
    return fit_results(report, notices=NOTICES, metrics=metrics, flagged=lambda reliability:
                       reliability is not None and reliability < threshold)


SPEC = FitKindSpec(
    kind=FitKind.BRADLEY_TERRY, label="Bradley-Terry", noun="judgments",
    rows=PairwiseJudgment, usable=LIVE_JUDGMENT, check_options=check_options, load=load,
    fitter="modeling.reports.pairwise:pairwise_report", report=Report, results=results,
    applies_to=lambda project: project.is_pairwise, fast=FAST)
