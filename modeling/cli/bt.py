"""``python -m modeling bt``: Bradley-Terry scores from a pairwise CSV.

Input: crowd-kit's pairwise layout, ``worker,left,right,label`` where ``label`` is the
winner's id (equal to ``left`` or ``right``) or the word ``tie``; optional columns
``left_shown`` (1 when ``left`` was displayed on the left, 0 otherwise) and ``strength``
(1..S, how much better the winner is; empty or ignored for ties). Ids are strings.

The position bias is fitted whenever the ``left_shown`` column is present (turn it off with
``--no-position-bias``; ``--position-bias`` without the column is an error). The graded
strength model is used with ``--strength`` (the ``strength`` column is required then).

Output (``--out``): ``item,score,se,lower,upper,rank,wins,losses,ties`` sorted by rank,
``score`` the natural-log strength centred to mean 0, ``lower``/``upper`` the 95 %
interval (bootstrap percentiles with ``--bootstrap N``, else score -/+ 1.96 se). With
``--raters``, Crowd-BT rater reliabilities go to ``--raters-out`` as
``worker,reliability,n``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from itertools import repeat
from typing import Any

import numpy as np

from modeling.cli.common import (
    InputError,
    ModelError,
    Table,
    factorize,
    format_float,
    read_table,
    write_csv,
)

HELP = "Bradley-Terry scores (ties, position bias, Crowd-BT raters, bootstrap) from pairs"
REQUIRED = ("worker", "left", "right", "label")
TIE_LABEL = "tie"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV with worker,left,right,label[,left_shown,strength]")
    parser.add_argument("--out", required=True, help="where to write the item scores CSV")
    parser.add_argument("--ties", choices=("half", "davidson"), default="half",
                        help="half: a tie is half a win each (default); davidson: "
                             "Davidson's tie model")
    parser.add_argument("--alpha", type=float, default=1.0,
                        help="prior precision on the scores (default 1; 0 = maximum "
                             "likelihood, an error when that is infinite)")
    parser.add_argument("--position-bias", action=argparse.BooleanOptionalAction,
                        default=None, help="fit the left-shown bias (default: when the "
                                           "left_shown column is present)")
    parser.add_argument("--strength", action="store_true",
                        help="graded preference strength from the 'strength' column")
    parser.add_argument("--raters", action="store_true",
                        help="rater reliability (Crowd-BT), written to --raters-out")
    parser.add_argument("--raters-out", help="where to write worker,reliability,n")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="N bootstrap replicates for the intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda when present, else cpu)")
    parser.add_argument("--max-iter", type=int, default=100)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.raters and not args.raters_out:
        raise InputError("--raters needs --raters-out FILE")
    if args.bootstrap < 0:
        raise InputError("--bootstrap must be >= 0")
    optional = ("left_shown", "strength")
    table = read_table(args.input, required=REQUIRED, optional=optional)
    if args.strength and "strength" not in table.columns:
        raise InputError("--strength needs a 'strength' column", path=args.input, line=1)
    position = args.position_bias if args.position_bias is not None else \
        "left_shown" in table.columns
    if position and "left_shown" not in table.columns:
        raise InputError("--position-bias needs a 'left_shown' column", path=args.input,
                         line=1)
    data = parse_pairs(table, position=position, strength=args.strength)
    result = _fit(args, data)
    return _write(args, data, result)


def parse_pairs(table: Table, *, position: bool, strength: bool) -> dict[str, Any]:
    """Integer-coded comparisons from the table, naming the first malformed line."""
    left, right, label = (table.columns[name] for name in ("left", "right", "label"))
    n = len(table)
    interleaved = [None] * (2 * n)
    interleaved[0::2], interleaved[1::2] = left, right
    codes, items = factorize(interleaved)
    left_code, right_code = codes[0::2], codes[1::2]
    same = np.flatnonzero(left_code == right_code)
    if len(same):
        raise table.error(int(same[0]), f"left and right are the same item {left[same[0]]!r}")
    index = {name: code for code, name in enumerate(items)}
    label_code = np.fromiter(map(index.get, label, repeat(-1)), np.int64, count=n)
    outcome = np.where(label_code == left_code, 1, np.where(label_code == right_code, -1, 0))
    undecided = np.flatnonzero(outcome == 0)
    if len(undecided):
        labels = np.asarray(label, dtype=object)[undecided]
        bad = undecided[labels != TIE_LABEL]
        if len(bad):
            row = int(bad[0])
            raise table.error(row, f"label {label[row]!r} is neither left ({left[row]!r}), "
                                   f"right ({right[row]!r}) nor '{TIE_LABEL}'")
    workers, worker_names = factorize(table.columns["worker"])
    data = {"left": left_code, "right": right_code, "outcome": outcome, "items": items,
            "rater": workers, "workers": worker_names}
    if position:
        data["left_shown"] = _flags(table, "left_shown")
    if strength:
        data["strength"] = _strength(table, outcome)
    return data


def _flags(table: Table, column: str) -> np.ndarray:
    cells = table.columns[column]
    values = np.asarray(cells, dtype=object)
    ok = (values == "0") | (values == "1")
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise table.error(row, f"column '{column}' must be 0 or 1, got {cells[row]!r}")
    return values == "1"


def _strength(table: Table, outcome: np.ndarray) -> np.ndarray:
    cells = table.columns["strength"]
    values = np.zeros(len(cells), dtype=np.int64)
    for row in np.flatnonzero(outcome != 0):
        cell = cells[row]
        if not cell.isdigit() or int(cell) < 1:
            raise table.error(int(row), f"column 'strength' must be an integer >= 1 for a "
                                        f"decisive comparison, got {cell!r}")
        values[row] = int(cell)
    return values


def _fit(args: argparse.Namespace, data: dict[str, Any]) -> Any:
    from modeling.bradley_terry import NotIdentifiedError, fit_bradley_terry

    items = data["items"]
    options: dict[str, Any] = {"ties": args.ties, "alpha": args.alpha,
                               "bootstrap": args.bootstrap, "seed": args.seed,
                               "device": args.device, "max_iter": args.max_iter}
    if "left_shown" in data:
        options.update(left_shown=data["left_shown"], position_bias=True)
    if "strength" in data:
        options["strength"] = data["strength"]
    if args.raters:
        options.update(rater=data["rater"], n_raters=len(data["workers"]),
                       rater_reliability=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit_bradley_terry(data["left"], data["right"], data["outcome"],
                                       len(items), **options)
    except NotIdentifiedError as error:
        raise ModelError(_name_items(str(error), error, items)) from None
    except ValueError as error:
        raise ModelError(str(error)) from None
    for warning in caught:
        if "connected components" in str(warning.message):
            groups = "; ".join(", ".join(items[i] for i in part[:10])
                               + (", ..." if len(part) > 10 else "")
                               for part in result.components[:5])
            print(f"warning: the comparison graph has {len(result.components)} connected "
                  f"components ({groups}{'; ...' if len(result.components) > 5 else ''}); "
                  "only the prior places them on one scale", file=sys.stderr)
        else:
            print(f"warning: {warning.message}", file=sys.stderr)
    return result


def _name_items(message: str, error: Any, items: list[str]) -> str:
    head = message.split(":")[0]
    if error.items:
        named = ", ".join(repr(items[i]) for i in error.items[:20])
        more = f" and {len(error.items) - 20} more" if len(error.items) > 20 else ""
        return f"{message}\n  items: {named}{more}"
    if error.components:
        groups = "; ".join("[" + ", ".join(repr(items[i]) for i in part[:10])
                           + (", ..." if len(part) > 10 else "") + "]"
                           for part in error.components[:5])
        return f"{head}: {message[len(head) + 2:]}\n  groups: {groups}"
    return message


def _write(args: argparse.Namespace, data: dict[str, Any], result: Any) -> dict[str, Any]:
    from modeling.bradley_terry import outcome_counts

    items = data["items"]
    wins, losses, ties = outcome_counts(data["left"], data["right"], data["outcome"],
                                        len(items))
    if result.bootstrap_scores is not None:
        lower, upper = np.percentile(result.bootstrap_scores, [2.5, 97.5], axis=0)
    else:
        lower, upper = result.scores - 1.96 * result.se, result.scores + 1.96 * result.se
    order = np.argsort(-result.scores, kind="stable")
    rows = [(items[i], format_float(result.scores[i]), format_float(result.se[i]),
             format_float(lower[i]), format_float(upper[i]), rank + 1, _count(wins[i]),
             _count(losses[i]), _count(ties[i])) for rank, i in enumerate(order)]
    write_csv(args.out, ("item", "score", "se", "lower", "upper", "rank", "wins", "losses",
                         "ties"), rows)
    summary: dict[str, Any] = {
        "log_likelihood": result.log_likelihood, "n_iter": result.n_iter,
        "converged": result.converged, "n_items": len(items),
        "n_comparisons": len(data["outcome"]), "ties": args.ties, "alpha": args.alpha,
        "device": result.device, "solver": result.solver}
    if result.tie_parameter is not None:
        summary["tie_parameter"] = result.tie_parameter
    if result.position_bias is not None:
        summary.update(position_bias=result.position_bias,
                       position_bias_se=result.position_bias_se)
    if result.thresholds is not None:
        summary["thresholds"] = result.thresholds
    if args.raters:
        n_judged = np.bincount(data["rater"], minlength=len(data["workers"]))
        write_csv(args.raters_out, ("worker", "reliability", "n"),
                  [(name, format_float(eta), int(count)) for name, eta, count
                   in zip(data["workers"], result.rater_reliability, n_judged, strict=True)])
        summary["n_raters"] = len(data["workers"])
    if args.bootstrap:
        summary["bootstrap"] = args.bootstrap
    return summary


def _count(value: float) -> int | str:
    return int(value) if float(value).is_integer() else format_float(value)
