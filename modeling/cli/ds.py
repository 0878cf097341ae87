"""``python -m modeling ds``: aggregate categorical labels by Dawid-Skene or majority vote.

Input: a CSV with columns ``task,worker,label`` (strings). Output: ``task,label,confidence``
(one row per task, in order of first appearance) and optionally ``worker,accuracy,n,agreement``.
Classes are ordered numerically when every label is a number, else alphabetically; "lowest"
ties and Dawid-Skene posterior ties go to the first class in that order.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from modeling.cli.common import ModelError, Table, factorize, format_float, read_table, write_csv

HELP = ("Aggregate categorical labels (task,worker,label CSV) by Dawid-Skene EM "
        "or majority vote; writes task,label,confidence.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV with a header and columns task,worker,label")
    parser.add_argument("--out", required=True, help="output CSV: task,label,confidence")
    parser.add_argument("--workers-out", help="output CSV: worker,accuracy,n,agreement")
    parser.add_argument("--method", choices=("ds", "mv"), default="ds",
                        help="ds: Dawid-Skene (default); mv: majority vote")
    parser.add_argument("--max-iter", type=int, default=1000, help="most EM iterations")
    parser.add_argument("--tol", type=float, default=1e-10,
                        help="stop when the log-likelihood gains less than this per label")
    parser.add_argument("--smoothing", type=float, default=0.0,
                        help="Dirichlet pseudo-count per confusion cell (default 0: ML)")
    parser.add_argument("--tie-rule", choices=("random", "lowest", "abstain"), default="random",
                        help="majority-vote ties: random (seeded), lowest class, or abstain")
    parser.add_argument("--seed", type=int, default=0, help="seed of random tie breaks")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    table = read_table(args.input, required=("task", "worker", "label"))
    tasks, task_ids = factorize(table.columns["task"])
    workers, worker_ids = factorize(table.columns["worker"])
    labels, classes = _ordered_classes(table)
    summary: dict[str, Any] = {"method": args.method, "n_tasks": len(task_ids),
                               "n_workers": len(worker_ids), "n_labels": len(table),
                               "classes": classes}
    if args.method == "mv":
        fit, extra = _majority_vote(args, tasks, workers, labels)
    else:
        fit, extra = _dawid_skene(args, tasks, workers, labels)
        extra["priors"] = dict(zip(classes, fit.priors.tolist(), strict=True))
    summary.update(extra)
    winners = ["" if code < 0 else classes[code] for code in fit.labels.tolist()]
    write_csv(args.out, ("task", "label", "confidence"),
              zip(task_ids, winners, map(format_float, fit.confidence.tolist()), strict=True))
    if args.workers_out:
        _write_workers(args.workers_out, worker_ids, fit)
    return summary


def _ordered_classes(table: Table) -> tuple[np.ndarray, list[str]]:
    """Class codes in numeric order when every label is a number, else in string order."""
    codes, classes = factorize(table.columns["label"])
    try:
        keys: list[Any] = [float(label) for label in classes]
    except ValueError:
        keys = list(classes)
    order = sorted(range(len(classes)), key=keys.__getitem__)
    recode = np.empty(len(classes), dtype=np.int64)
    recode[order] = np.arange(len(classes))
    return recode[codes], [classes[position] for position in order]


def _dawid_skene(args: argparse.Namespace, tasks: np.ndarray, workers: np.ndarray,
                 labels: np.ndarray) -> tuple[Any, dict[str, Any]]:
    from modeling.dawid_skene import fit_dawid_skene

    try:
        fit = fit_dawid_skene(tasks, workers, labels, max_iter=args.max_iter, tol=args.tol,
                              smoothing=args.smoothing, device=args.device)
    except ValueError as error:
        raise ModelError(str(error)) from None
    return fit, {"log_likelihood": fit.log_likelihood, "n_iter": fit.n_iter,
                 "converged": fit.converged, "max_iter": args.max_iter, "tol": args.tol,
                 "smoothing": args.smoothing,
                 "label_tie_rule": "lowest", "device": fit.device}


def _majority_vote(args: argparse.Namespace, tasks: np.ndarray, workers: np.ndarray,
                   labels: np.ndarray) -> tuple[Any, dict[str, Any]]:
    from modeling.dawid_skene import majority_vote

    fit = majority_vote(tasks, workers, labels, tie_rule=args.tie_rule, seed=args.seed)
    return fit, {"log_likelihood": None, "n_iter": 0, "converged": True,
                 "tie_rule": args.tie_rule, "seed": fit.seed, "n_ties": fit.n_ties}


def _write_workers(path: str, worker_ids: list[str], fit: Any) -> None:
    """Dawid-Skene: posterior accuracy; majority vote has no error model, so its accuracy is
    the agreement with the majority (what crowd-kit's ``MajorityVote.skills_`` reports)."""
    agreement = fit.worker_agreement.tolist()
    accuracy = fit.worker_accuracy.tolist() if hasattr(fit, "worker_accuracy") else agreement
    rows = zip(worker_ids, map(_cell, accuracy), fit.worker_n_labels.tolist(),
               map(_cell, agreement), strict=True)
    write_csv(path, ("worker", "accuracy", "n", "agreement"), rows)


def _cell(value: float) -> str:
    return "" if value != value else format_float(value)  # NaN: no label to judge by
