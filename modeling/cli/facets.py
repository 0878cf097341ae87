"""``python -m modeling facets``: many-facet Rasch model for ratings (Linacre).

Input: a CSV with columns ``task,worker,label`` and optionally ``criterion`` (absent: one
criterion); ``label`` is an integer rating on the scale ``--scale LOW HIGH`` (default: the
observed range). Outputs, one row per item / rater in order of first appearance:
``task,measure,se,raw_mean,corrected_mean,corrected_low,corrected_high,n,infit,outfit,extreme``
and ``worker,severity,se,infit,outfit,n,extreme,misfit``. The JSON summary adds the thresholds,
criterion difficulties, separation reliabilities and the misfitting raters.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from modeling.cli.common import (
    InputError,
    ModelError,
    Table,
    factorize,
    format_float,
    parse_numbers,
    read_table,
    write_csv,
)

HELP = ("Many-facet Rasch model for ratings (task,worker[,criterion],label CSV, integer "
        "labels): item measures and severity-corrected means, rater severity and fit.")

ITEM_HEADER = ("task", "measure", "se", "raw_mean", "corrected_mean", "corrected_low",
               "corrected_high", "n", "infit", "outfit", "extreme")
RATER_HEADER = ("worker", "severity", "se", "infit", "outfit", "n", "extreme", "misfit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV with a header and columns task,worker[,criterion],"
                                      "label (integer rating)")
    parser.add_argument("--out", required=True,
                        help="output CSV of items: " + ",".join(ITEM_HEADER))
    parser.add_argument("--raters-out", required=True,
                        help="output CSV of raters: " + ",".join(RATER_HEADER))
    parser.add_argument("--form", choices=("rating-scale", "partial-credit"),
                        default="rating-scale",
                        help="one threshold set (default) or one per criterion")
    parser.add_argument("--scale", type=int, nargs=2, metavar=("LOW", "HIGH"),
                        help="the rating scale (default: lowest and highest label seen); "
                             "labels outside it are errors")
    parser.add_argument("--extreme-adjustment", type=float, default=0.3,
                        help="score points by which all-lowest / all-highest raw scores are "
                             "moved inward to get finite measures (default 0.3, as Facets)")
    parser.add_argument("--fit-bounds", type=float, nargs=2, default=(0.5, 1.5),
                        metavar=("LOW", "HIGH"),
                        help="flag raters whose infit or outfit mean-square is outside "
                             "(default 0.5 1.5)")
    parser.add_argument("--max-iter", type=int, default=500, help="most Newton iterations")
    parser.add_argument("--tol", type=float, default=1e-5,
                        help="converged when no measure moves more than this (logits)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    table = read_table(args.input, required=("task", "worker", "label"), optional=("criterion",))
    items, item_ids = factorize(table.columns["task"])
    raters, rater_ids = factorize(table.columns["worker"])
    if "criterion" in table.columns:
        criteria, criterion_ids = factorize(table.columns["criterion"])
    else:
        criteria, criterion_ids = np.zeros(len(table), dtype=np.int64), ["(all)"]
    ratings = parse_numbers(table, "label", integer=True)
    scale = _scale(args, table, ratings)
    fit = _fit(args, items, raters, criteria, ratings, scale)
    _write_items(args.out, item_ids, fit)
    _write_raters(args.raters_out, rater_ids, fit)
    return _summary(fit, rater_ids, criterion_ids, len(item_ids), len(table))


def _scale(args: argparse.Namespace, table: Table, ratings: np.ndarray) -> tuple[int, int]:
    if args.scale is None:
        low, high = int(ratings.min()), int(ratings.max())
        if low == high:
            raise InputError(f"every label is {low}: a rating scale needs two or more "
                             f"categories (give --scale LOW HIGH)", path=table.path)
        return low, high
    low, high = args.scale
    if high <= low:
        raise ModelError(f"--scale {low} {high}: HIGH must be above LOW")
    outside = np.flatnonzero((ratings < low) | (ratings > high))
    if outside.size:
        row = int(outside[0])
        raise table.error(row, f"label {ratings[row]} is off the scale {low}..{high}")
    return low, high


def _fit(args: argparse.Namespace, items: np.ndarray, raters: np.ndarray, criteria: np.ndarray,
         ratings: np.ndarray, scale: tuple[int, int]) -> Any:
    from modeling.facets import fit_facets

    try:
        return fit_facets(items, raters, criteria, ratings, categories=scale, form=args.form,
                          extreme_adjustment=args.extreme_adjustment,
                          fit_bounds=tuple(args.fit_bounds), max_iter=args.max_iter,
                          tol=args.tol, device=args.device)
    except ValueError as error:
        raise ModelError(str(error)) from None


def _write_items(path: str, item_ids: list[str], fit: Any) -> None:
    numbers = (fit.item_measure, fit.item_se, fit.item_raw_mean, fit.item_corrected_mean,
               fit.item_corrected_low, fit.item_corrected_high)
    rows = ([item, *map(_cell, values), n, _cell(infit), _cell(outfit), _extreme(extreme)]
            for item, *values, n, infit, outfit, extreme in zip(
                item_ids, *(column.tolist() for column in numbers), fit.item_n.tolist(),
                fit.item_infit.tolist(), fit.item_outfit.tolist(), fit.item_extreme.tolist(),
                strict=True))
    write_csv(path, ITEM_HEADER, rows)


def _write_raters(path: str, rater_ids: list[str], fit: Any) -> None:
    rows = ([rater, _cell(severity), _cell(se), _cell(infit), _cell(outfit), n,
             _extreme(extreme), int(misfit)]
            for rater, severity, se, infit, outfit, n, extreme, misfit in zip(
                rater_ids, fit.rater_severity.tolist(), fit.rater_se.tolist(),
                fit.rater_infit.tolist(), fit.rater_outfit.tolist(), fit.rater_n.tolist(),
                fit.rater_extreme.tolist(), fit.rater_misfit.tolist(), strict=True))
    write_csv(path, RATER_HEADER, rows)


def _summary(fit: Any, rater_ids: list[str], criterion_ids: list[str], n_items: int,
             n_ratings: int) -> dict[str, Any]:
    thresholds = [[_number(v) for v in row] for row in fit.thresholds.tolist()]
    threshold_se = [[_number(v) for v in row] for row in fit.threshold_se.tolist()]
    criteria = {name: {"difficulty": _number(d), "se": _number(se), "infit": _number(infit),
                       "outfit": _number(outfit), "n": n}
                for name, d, se, infit, outfit, n in zip(
                    criterion_ids, fit.criterion_difficulty.tolist(), fit.criterion_se.tolist(),
                    fit.criterion_infit.tolist(), fit.criterion_outfit.tolist(),
                    fit.criterion_n.tolist(), strict=True)}
    if fit.form == "partial-credit":
        thresholds_out: Any = dict(zip(criterion_ids, thresholds, strict=True))
        threshold_se_out: Any = dict(zip(criterion_ids, threshold_se, strict=True))
    else:
        thresholds_out, threshold_se_out = thresholds[0], threshold_se[0]
    misfitting = [rater_ids[r] for r in np.flatnonzero(fit.rater_misfit).tolist()]
    return {"form": fit.form, "scale": list(fit.categories), "log_likelihood": fit.log_likelihood,
            "n_iter": fit.n_iter, "converged": fit.converged, "n_items": n_items,
            "n_raters": len(rater_ids), "n_criteria": len(criterion_ids), "n_ratings": n_ratings,
            "thresholds": thresholds_out, "threshold_se": threshold_se_out,
            "criteria": criteria,
            "item_separation": _number(fit.item_separation),
            "item_reliability": _number(fit.item_reliability),
            "rater_separation": _number(fit.rater_separation),
            "rater_reliability": _number(fit.rater_reliability),
            "fit_bounds": list(fit.fit_bounds), "misfitting_raters": misfitting,
            "n_extreme_items": int(np.count_nonzero(fit.item_extreme)),
            "n_extreme_raters": int(np.count_nonzero(fit.rater_extreme)),
            "n_subsets": fit.n_subsets, "device": fit.device}


def _extreme(value: int) -> str:
    return {-1: "lowest", 1: "highest"}.get(value, "")


def _cell(value: float) -> str:
    return "" if value != value else format_float(value)


def _number(value: float) -> float | None:
    return None if value != value or value in (float("inf"), float("-inf")) else value
