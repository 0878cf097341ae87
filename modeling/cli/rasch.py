"""``python -m modeling rasch``: Rasch or 2PL item response model by marginal maximum likelihood.

Input: a CSV with columns ``task,worker,label`` (task = item, worker = person, label 0 or 1;
a person may answer any subset of the items, each at most once). Output: one row per item,
``item,difficulty,se`` (2PL: plus ``discrimination,discrimination_se``), and optionally one
row per person, ``person,ability,se`` (EAP and posterior SD), in order of first appearance.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from modeling.cli.common import (
    ModelError,
    Table,
    factorize,
    format_float,
    parse_numbers,
    read_table,
    write_csv,
)

HELP = ("Rasch or 2PL item response model by marginal maximum likelihood (task,worker,label "
        "CSV, label 0/1); writes item,difficulty,se[,discrimination].")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV with a header and columns task,worker,label (0/1)")
    parser.add_argument("--out", required=True,
                        help="output CSV: item,difficulty,se[,discrimination,discrimination_se]")
    parser.add_argument("--persons-out", help="output CSV: person,ability,se (EAP, posterior SD)")
    parser.add_argument("--model", choices=("rasch", "2pl"), default="rasch",
                        help="rasch (default) or 2pl")
    parser.add_argument("--latent-variance", choices=("fixed", "estimated"), default="fixed",
                        help="Rasch scale: fixed = ability ~ N(0, 1), as R ltm (default); "
                             "estimated = ability ~ N(0, s^2) with s^2 estimated, as mirt")
    parser.add_argument("--quadrature", type=int, default=41,
                        help="Gauss-Hermite nodes (default 41)")
    parser.add_argument("--max-iter", type=int, default=500, help="most EM + Newton iterations")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="converged when a Newton step moves no parameter more than this")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.model == "2pl" and args.latent_variance == "estimated":
        raise ModelError("--latent-variance estimated applies to --model rasch only: the 2PL "
                         "fixes the ability scale at N(0, 1) and estimates every slope")
    table = read_table(args.input, required=("task", "worker", "label"))
    items, item_ids = factorize(table.columns["task"])
    persons, person_ids = factorize(table.columns["worker"])
    correct = parse_numbers(table, "label", integer=True, allowed=(0, 1))
    _reject_repeats(table, persons, items, len(item_ids))
    fit = _fit(args, persons, items, correct, item_ids)
    _write_items(args.out, item_ids, fit)
    if args.persons_out:
        write_csv(args.persons_out, ("person", "ability", "se"),
                  zip(person_ids, map(format_float, fit.ability.tolist()),
                      map(format_float, fit.ability_sd.tolist()), strict=True))
    return _summary(args, fit, len(item_ids), len(person_ids), len(table))


def _reject_repeats(table: Table, persons: np.ndarray, items: np.ndarray, n_items: int) -> None:
    cell = persons * n_items + items
    _, first = np.unique(cell, return_index=True)
    if first.size < cell.size:
        repeated = np.setdiff1d(np.arange(cell.size), first)[0]
        raise table.error(int(repeated), "this worker already answered this task on an earlier "
                                         "line; each person answers an item at most once")


def _fit(args: argparse.Namespace, persons: np.ndarray, items: np.ndarray, correct: np.ndarray,
         item_ids: list[str]) -> Any:
    from modeling.irt import ExtremeItemsError, fit_2pl, fit_rasch

    options = {"n_quadrature": args.quadrature, "max_iter": args.max_iter, "tol": args.tol,
               "device": args.device}
    try:
        if args.model == "2pl":
            return fit_2pl(persons, items, correct, **options)
        return fit_rasch(persons, items, correct, latent_variance=args.latent_variance,
                         **options)
    except ExtremeItemsError as error:
        named = ", ".join(f"'{item_ids[item]}' ({kind})"
                          for item, kind in zip(error.items[:10], error.kinds[:10], strict=False))
        raise ModelError(f"no finite maximum-likelihood difficulty for {len(error.items)} "
                         f"item(s): {named}; drop them or add responses") from None
    except ValueError as error:
        raise ModelError(str(error)) from None


def _write_items(path: str, item_ids: list[str], fit: Any) -> None:
    columns = [item_ids, fit.difficulty.tolist(), fit.difficulty_se.tolist()]
    header = ["item", "difficulty", "se"]
    if fit.model == "2pl":
        columns += [fit.discrimination.tolist(), fit.discrimination_se.tolist()]
        header += ["discrimination", "discrimination_se"]
    rows = ([row[0], *map(_cell, row[1:])] for row in zip(*columns, strict=True))
    write_csv(path, header, rows)


def _summary(args: argparse.Namespace, fit: Any, n_items: int, n_persons: int,
             n_responses: int) -> dict[str, Any]:
    return {"model": fit.model, "latent_variance_mode": args.latent_variance,
            "latent_variance": fit.latent_variance,
            "latent_variance_se": _number(fit.latent_variance_se),
            "log_likelihood": fit.log_likelihood, "n_iter": fit.n_iter,
            "converged": fit.converged, "n_items": n_items, "n_persons": n_persons,
            "n_responses": n_responses, "n_quadrature": fit.n_quadrature,
            "se_method": fit.se_method, "device": fit.device}


def _cell(value: float) -> str:
    return "" if value != value else format_float(value)


def _number(value: float) -> float | None:
    return None if value != value else value
