"""The public fit: validation, model choice, Newton, uncertainty, result."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from modeling.bradley_terry import _crowd, _uncertainty
from modeling.bradley_terry._backend import Ops, backend_for
from modeling.bradley_terry._data import (
    DisconnectedGraphWarning,
    NotIdentifiedError,
    Rows,
    check_identified,
    collapse,
    components,
)
from modeling.bradley_terry._families import Davidson, Logistic, Ordinal
from modeling.bradley_terry._linalg import Graph, SolverPlan
from modeling.bradley_terry._newton import NUISANCE_PRECISION, Model, newton


@dataclass(frozen=True)
class BradleyTerryResult:
    """A fitted Bradley-Terry model (see :func:`fit_bradley_terry`)."""

    scores: np.ndarray
    se: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    tie_parameter: float | None
    position_bias: float | None
    position_bias_se: float | None
    rater_reliability: np.ndarray | None
    thresholds: np.ndarray | None
    bootstrap_scores: np.ndarray | None
    components: list[list[int]]
    device: str
    seconds: float
    solver: str = ""
    se_method: str = ""


def fit_bradley_terry(left: ArrayLike, right: ArrayLike, outcome: ArrayLike, n_items: int, *,
                      weights: ArrayLike | None = None, rater: ArrayLike | None = None,
                      n_raters: int | None = None, left_shown: ArrayLike | None = None,
                      strength: ArrayLike | None = None, n_strength_levels: int | None = None,
                      ties: Literal["half", "davidson"] = "half", alpha: float = 1.0,
                      position_bias: bool = False, rater_reliability: bool = False,
                      bootstrap: int = 0, seed: int = 0, device: str | None = None,
                      max_iter: int = 100, tol: float = 1e-9,
                      replicate_weights: ArrayLike | None = None,
                      rater_prior: tuple[float, float] = (2.0, 2.0),
                      se_probes: int = 256, standard_errors: bool = True,
                      backend: str | None = None) -> BradleyTerryResult:
    """Fit a Bradley-Terry model by damped Newton's method; see the package docstring."""
    started = time.perf_counter()
    data = _validate(left, right, outcome, n_items, weights, rater, n_raters, left_shown,
                     strength, n_strength_levels, ties, alpha, position_bias,
                     rater_reliability, bootstrap, replicate_weights)
    ops = backend_for(device, backend)
    family, tie_parameter = _family(ops, data, ties)
    rows = collapse(data["left"], data["right"],
                    family.category(data["outcome"], data.get("strength")), n_items,
                    family.n_categories, weights=data.get("weights"),
                    side=data.get("side") if position_bias else None,
                    rater=data.get("rater") if rater_reliability else None,
                    n_raters=data.get("n_raters", 1),
                    keep_inverse=data.get("replicates") is not None)
    parts = _check_graph(rows, family, alpha, data)
    model = _model(ops, rows, family, alpha, position_bias)
    plan = SolverPlan.initial(ops, n_items)
    s = ops.zeros(n_items)
    phi = ops.asarray(np.r_[np.zeros(int(position_bias)), family.initial_theta()])
    eta = None
    if rater_reliability:
        fit, eta = _crowd.fit(model, rows, s, phi, n_raters=data["n_raters"],
                              prior=rater_prior, max_iter=max_iter, tol=tol, plan=plan)
        model.eta = ops.asarray(eta[rows.rater])
    else:
        fit = newton(model, s, phi, max_iter=max_iter, tol=tol, plan=plan)
    if standard_errors:
        variances, phi_variances, se_method = _uncertainty.variances(model, fit, se_probes,
                                                                     seed)
    else:
        variances, phi_variances, se_method = (np.full(n_items, np.nan),
                                               np.full(model.n_phi, np.nan), "none")
    bootstrap_scores = _uncertainty.bootstrap(model, rows, fit, data.get("replicates"),
                                              bootstrap, seed, max_iter=max_iter, tol=tol)
    return _result(ops, model, fit, family, tie_parameter, eta, variances, phi_variances,
                   bootstrap_scores, parts, started, se_method)


def _validate(left: ArrayLike, right: ArrayLike, outcome: ArrayLike, n_items: int,
              weights: ArrayLike | None, rater: ArrayLike | None, n_raters: int | None,
              left_shown: ArrayLike | None, strength: ArrayLike | None,
              n_strength_levels: int | None, ties: str, alpha: float, position_bias: bool,
              rater_reliability: bool, bootstrap: int,
              replicate_weights: ArrayLike | None) -> dict:
    data: dict = {"left": _integers(left, "left"), "right": _integers(right, "right"),
                  "outcome": _integers(outcome, "outcome")}
    count = len(data["left"])
    if len(data["right"]) != count or len(data["outcome"]) != count:
        raise ValueError("left, right and outcome must have the same length")
    if count == 0:
        raise ValueError("no comparisons to fit")
    if n_items < 1:
        raise ValueError("n_items must be at least 1")
    for name in ("left", "right"):
        if data[name].min() < 0 or data[name].max() >= n_items:
            raise ValueError(f"{name} must hold item indices in [0, {n_items})")
    if np.any(data["left"] == data["right"]):
        raise ValueError(f"an item is compared with itself at position "
                         f"{int(np.flatnonzero(data['left'] == data['right'])[0])}")
    if data["outcome"].min() < -1 or data["outcome"].max() > 1:
        raise ValueError("outcome must be +1 (left wins), -1 (right wins) or 0 (tie)")
    if ties not in ("half", "davidson"):
        raise ValueError(f"ties must be 'half' or 'davidson', not {ties!r}")
    if not (alpha >= 0 and np.isfinite(alpha)):
        raise ValueError("alpha (prior precision) must be finite and >= 0")
    if bootstrap < 0:
        raise ValueError("bootstrap must be >= 0")
    if weights is not None:
        data["weights"] = _weights(weights, count)
    if position_bias:
        data["side"] = _sides(left_shown, count)
    if rater is not None or rater_reliability:
        _validate_raters(data, rater, n_raters, count)
    if strength is not None:
        _validate_strength(data, strength, n_strength_levels)
    if rater_reliability and (strength is not None or ties == "davidson"):
        raise ValueError("rater_reliability (Crowd-BT) is implemented for the half-win "
                         "model only (no strength, ties='half')")
    if replicate_weights is not None:
        replicates = np.asarray(replicate_weights, dtype=np.float64)
        if replicates.ndim != 2 or replicates.shape[1] != count or np.any(replicates < 0):
            raise ValueError("replicate_weights must be (B, n_comparisons), >= 0")
        data["replicates"] = replicates
    return data


def _weights(weights: ArrayLike, count: int) -> np.ndarray:
    values = np.asarray(weights, dtype=np.float64).ravel()
    if len(values) != count or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("weights must be finite, >= 0 and one per comparison")
    if not values.sum() > 0:
        raise ValueError("all weights are zero: no comparisons to fit")
    return values


def _sides(left_shown: ArrayLike | None, count: int) -> np.ndarray:
    if left_shown is None:
        raise ValueError("position_bias needs left_shown")
    shown = np.asarray(left_shown).ravel()
    if len(shown) != count or not np.isin(shown, (0, 1)).all():
        raise ValueError("left_shown must be booleans (or 0/1), one per comparison")
    return np.where(shown.astype(bool), 1, -1).astype(np.int64)


def _validate_raters(data: dict, rater: ArrayLike | None, n_raters: int | None,
                     count: int) -> None:
    if rater is None:
        raise ValueError("rater_reliability needs rater")
    data["rater"] = _integers(rater, "rater")
    data["n_raters"] = int(n_raters if n_raters is not None else data["rater"].max() + 1)
    if len(data["rater"]) != count or data["rater"].min() < 0 \
            or data["rater"].max() >= data["n_raters"]:
        raise ValueError(f"rater must hold indices in [0, {data['n_raters']}), "
                         "one per comparison")


def _validate_strength(data: dict, strength: ArrayLike, n_levels: int | None) -> None:
    values = _integers(strength, "strength")
    decisive = data["outcome"] != 0
    if len(values) != len(data["outcome"]):
        raise ValueError("strength must have one value per comparison")
    top = int(n_levels if n_levels is not None else max(1, values[decisive].max(initial=1)))
    if np.any(decisive & ((values < 1) | (values > top))):
        raise ValueError(f"strength must be in 1..{top} for comparisons that are not ties")
    data["strength"] = values
    data["n_levels"] = top


def _integers(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values).ravel()
    if array.dtype == np.int64:
        return array
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) \
                and np.all(array == np.round(array)):
            return array.astype(np.int64)
        raise ValueError(f"{name} must hold integers")
    return array.astype(np.int64)


def _family(ops: Ops, data: dict, ties: str) -> tuple[object, float | None]:
    has_ties = bool(np.any(data["outcome"] == 0))
    if "strength" in data:
        return Ordinal(ops, data["n_levels"], has_ties), None
    if ties == "davidson":
        if has_ties:
            return Davidson(ops), None
        return Logistic(ops), 0.0  # ML of d is 0 without ties: Davidson reduces to BT
    return Logistic(ops), None


def _check_graph(rows: Rows, family: object, alpha: float, data: dict) -> list[list[int]]:
    counts = rows.counts
    K = counts.shape[1]
    if alpha == 0:
        beats = np.stack([counts[:, K // 2:].sum(1) > 0, counts[:, :(K + 1) // 2].sum(1) > 0],
                         axis=1)
        parts = check_identified(rows, beats)
        _check_nuisance(rows, family, data)
        return parts
    parts = components(rows)
    if len(parts) > 1:
        shown = "; ".join(str(part[:10])[:-1] + (", ...]" if len(part) > 10 else "]")
                          for part in parts[:5])
        warnings.warn(f"the comparison graph has {len(parts)} connected components "
                      f"(items {shown}{'; ...' if len(parts) > 5 else ''}); only the prior "
                      "places them on one scale", DisconnectedGraphWarning, stacklevel=3)
    return parts


def _check_nuisance(rows: Rows, family: object, data: dict) -> None:
    totals = rows.counts.sum(0)
    if isinstance(family, Davidson) and totals[0] + totals[2] == 0:
        raise NotIdentifiedError("every comparison is a tie: the maximum-likelihood Davidson "
                                 "tie parameter is infinite (use a prior, alpha > 0)")
    if isinstance(family, Ordinal):
        K = len(totals)
        levels = totals[:family.n_levels][::-1] + totals[K - family.n_levels:]
        unused = [level + 1 for level in range(family.n_levels) if levels[level] == 0]
        if unused:
            raise NotIdentifiedError(f"strength level(s) {unused} never used: their "
                                     "maximum-likelihood cut points are not finite "
                                     "(use a prior, alpha > 0)")
        if family.with_ties and totals[:K // 2].sum() + totals[K // 2 + 1:].sum() == 0:
            raise NotIdentifiedError("every comparison is a tie: the maximum-likelihood "
                                     "tie band is infinite (use a prior, alpha > 0)")


def _model(ops: Ops, rows: Rows, family: object, alpha: float, position_bias: bool) -> Model:
    graph = Graph(ops, rows.first, rows.second, rows.n_items)
    side = ops.asarray(rows.side) if position_bias else None
    return Model(ops=ops, graph=graph, family=family, counts=ops.asarray(rows.counts),
                 side=side, eta=None, alpha=float(alpha),
                 alpha_nuisance=NUISANCE_PRECISION if alpha > 0 else 0.0)


def _result(ops: Ops, model: Model, fit: object, family: object, tie_parameter: float | None,
            eta: np.ndarray | None, variances: np.ndarray, phi_variances: np.ndarray,
            bootstrap_scores: np.ndarray | None, parts: list[list[int]], started: float,
            se_method: str) -> BradleyTerryResult:
    s = ops.to_numpy(fit.s)
    phi = ops.to_numpy(fit.phi)
    position = model.position
    thresholds = None
    if isinstance(family, Davidson):
        tie_parameter = float(np.exp(phi[position]))
    if isinstance(family, Ordinal):
        thresholds = ops.to_numpy(family.cut_points(ops.asarray(phi[position:])))
    return BradleyTerryResult(
        scores=s - s.mean(), se=np.sqrt(np.clip(variances, 0.0, None)),
        log_likelihood=fit.system.loglik, n_iter=fit.n_iter, converged=fit.converged,
        tie_parameter=tie_parameter,
        position_bias=float(phi[0]) if position else None,
        position_bias_se=float(np.sqrt(np.abs(phi_variances[0]))) if position else None,
        rater_reliability=eta, thresholds=thresholds, bootstrap_scores=bootstrap_scores,
        components=parts, device=ops.name, seconds=time.perf_counter() - started,
        solver=f"{fit.method}/{fit.solver.plan.method}", se_method=se_method)


def predict_proba(result: BradleyTerryResult, left: ArrayLike, right: ArrayLike,
                  left_shown: ArrayLike | None = None) -> np.ndarray:
    """Outcome probabilities (m, 3): columns P(left wins), P(tie), P(right wins).

    The tie column is 0 for the half-win model (ties are not an outcome of that model).
    ``left_shown`` applies the fitted position bias (ignored when none was fitted; when
    omitted, no position effect is added). For a graded-strength model the columns sum the
    strength levels. Crowd-BT predictions are those of a fully reliable rater.
    """
    from modeling.bradley_terry._backend import NumpyOps

    ops = NumpyOps()
    delta = result.scores[np.asarray(left, dtype=np.int64)] \
        - result.scores[np.asarray(right, dtype=np.int64)]
    if result.position_bias is not None and left_shown is not None:
        delta = delta + result.position_bias * np.where(np.asarray(left_shown, bool), 1, -1)
    if result.thresholds is not None:
        cuts = result.thresholds
        with_ties = bool(cuts[0] > 0)
        family = Ordinal(ops, len(cuts), with_ties)
        theta = cuts if with_ties else cuts[1:]
        mass = family.probabilities(delta, theta)
        half = len(cuts)
        tie = mass[:, half] if with_ties else np.zeros(len(delta))
        return np.stack([mass[:, -half:].sum(1), tie, mass[:, :half].sum(1)], axis=1)
    if result.tie_parameter:
        mass = Davidson(ops).probabilities(delta, np.array([np.log(result.tie_parameter)]))
    else:
        mass = Logistic(ops).probabilities(delta, np.zeros(0))
    return mass[:, ::-1].copy()


def outcome_counts(left: ArrayLike, right: ArrayLike, outcome: ArrayLike, n_items: int, *,
                   weights: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wins, losses and ties per item (weighted sums), for tables next to the scores."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.int64)
    w = np.ones(len(left)) if weights is None else np.asarray(weights, dtype=np.float64)
    winner = np.where(outcome > 0, left, right)
    loser = np.where(outcome > 0, right, left)
    decisive = outcome != 0
    wins = np.bincount(winner[decisive], w[decisive], n_items)
    losses = np.bincount(loser[decisive], w[decisive], n_items)
    ties = np.bincount(left[~decisive], w[~decisive], n_items) \
        + np.bincount(right[~decisive], w[~decisive], n_items)
    return wins, losses, ties
