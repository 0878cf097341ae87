"""``python -m modeling alpha``: Krippendorff's alpha of a ``task,worker,label`` CSV.

Each task is a unit and each worker a coder; a worker may give at most one label per task.
Labels are category names for ``nominal`` and numbers for the other levels.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from modeling.cli.common import ModelError, Table, factorize, parse_numbers, read_table

HELP = ("Krippendorff's alpha (nominal, ordinal, interval or ratio) of a task,worker,label CSV; "
        "units with fewer than two labels are dropped.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV with a header and columns task,worker,label")
    parser.add_argument("--level", choices=("nominal", "ordinal", "interval", "ratio"),
                        default="nominal", help="difference function (default nominal)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from modeling.agreement import krippendorff_alpha

    table = read_table(args.input, required=("task", "worker", "label"))
    units, _ = factorize(table.columns["task"])
    coders, coder_ids = factorize(table.columns["worker"])
    _reject_repeats(table, units, coders)
    values = _values(table, args.level)
    try:
        fit = krippendorff_alpha(units, values, level=args.level)
    except ValueError as error:
        raise ModelError(str(error)) from None
    summary: dict[str, Any] = {
        "alpha": None if np.isnan(fit.alpha) else fit.alpha, "level": fit.level,
        "n_units": fit.n_units, "n_values": fit.n_values,
        "observed_disagreement": fit.observed_disagreement,
        "expected_disagreement": fit.expected_disagreement,
        "n_units_dropped": int(units.max()) + 1 - fit.n_units, "n_coders": len(coder_ids),
        "log_likelihood": None, "n_iter": 0, "converged": True,
    }
    if np.isnan(fit.alpha):
        summary["note"] = "alpha is undefined: every pairable value is the same"
    return summary


def _reject_repeats(table: Table, units: np.ndarray, coders: np.ndarray) -> None:
    """A coder gives one value per unit in Krippendorff's reliability data."""
    keys = units * (int(coders.max()) + 1) + coders
    _, first = np.unique(keys, return_index=True)
    if len(first) < len(keys):
        repeated = np.ones(len(keys), dtype=bool)
        repeated[first] = False
        row = int(np.flatnonzero(repeated)[0])
        raise table.error(row, f"worker {table.columns['worker'][row]!r} already labelled "
                               f"task {table.columns['task'][row]!r}")


def _values(table: Table, level: str) -> np.ndarray:
    if level == "nominal":
        return factorize(table.columns["label"])[0]
    values = parse_numbers(table, "label")
    bad = ~np.isfinite(values) | ((values < 0) if level == "ratio" else False)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        need = "a non-negative number" if level == "ratio" else "a finite number"
        raise table.error(row, f"column 'label' must be {need} for {level} alpha, "
                               f"got {table.columns['label'][row]!r}")
    return values
