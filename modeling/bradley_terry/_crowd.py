"""Crowd-BT (Chen, Bennett, Collins-Thompson & Horvitz 2013): raters who sometimes flip.

Rater k answers as the Bradley-Terry model with probability eta_k and reverses the
answer otherwise, so P(i beats j | k) = eta_k sigma(delta) + (1 - eta_k) sigma(-delta).
eta_k near 1 is a reliable rater, near 0.5 one who answers at random, below 0.5 an
adversarial one. The fit alternates a Fisher-scoring step on the scores (and position
bias) with an exact maximisation of every eta_k given the scores (the log-likelihood is
concave in each eta_k), under a Beta(a, b) prior on eta_k that keeps it inside (0, 1).
It starts from the plain Bradley-Terry fit, which picks the mode where most raters agree
with the majority (the likelihood is symmetric under s -> -s, eta -> 1 - eta).
"""

from __future__ import annotations

import math

import numpy as np

from modeling.bradley_terry._data import Rows
from modeling.bradley_terry._linalg import LaplacianSolver, SolverPlan, bordered_solve
from modeling.bradley_terry._newton import Fit, Model, _line_search, newton, newton_system

ETA_FLOOR = 1e-6


def fit(model: Model, rows: Rows, s: object, phi: object, *, n_raters: int,
        prior: tuple[float, float], max_iter: int, tol: float, plan: SolverPlan
        ) -> tuple[Fit, np.ndarray]:
    """Joint MAP of scores, nuisance parameters and reliabilities eta (n_raters,)."""
    ops = model.ops
    start = newton(model, s, phi, max_iter=max_iter, tol=tol, plan=plan)
    s, phi = start.s, start.phi
    raters = ops.asarray(rows.rater, integer=True)
    eta = update_eta(model, s, phi, raters, np.full(n_raters, 0.8), prior)
    # alternating steps converge linearly: stop when the distance left, about
    # size * rate / (1 - rate), is below the accuracy Newton reaches elsewhere
    target = 0.01 * math.sqrt(tol)
    previous = math.inf
    iterations = start.n_iter
    for iteration in range(1, max_iter + 1):
        model.eta = ops.asarray(eta)[raters]
        system = newton_system(model, s, phi)
        solver = LaplacianSolver(model.graph, system.weights, system.diagonal,
                                 ground=model.ground, plan=plan)
        ds, dphi = bordered_solve(ops, solver, system.grad_s, system.grad_phi, system.border,
                                  system.corner)
        value = float(model.objective(s, phi))
        moved = _line_search(model, s, phi, ds, dphi, system, value)
        if moved is None:
            break
        s, phi, _, size, _ = moved
        new_eta = update_eta(model, s, phi, raters, eta, prior)
        size = max(size, float(np.abs(new_eta - eta).max(initial=0.0)))
        eta = new_eta
        rate = min(size / previous, 0.999) if math.isfinite(previous) and previous > 0 else 0.999
        previous = size
        if size * rate / (1 - rate) <= target or size <= tol:
            model.eta = ops.asarray(eta)[raters]
            final = newton_system(model, s, phi)
            final_solver = LaplacianSolver(model.graph, final.weights, final.diagonal,
                                           ground=model.ground, plan=plan)
            return Fit(s, phi, iterations + iteration, True, final, final_solver,
                       "fisher"), eta
    model.eta = ops.asarray(eta)[raters]
    final = newton_system(model, s, phi)
    final_solver = LaplacianSolver(model.graph, final.weights, final.diagonal,
                                   ground=model.ground, plan=plan)
    return Fit(s, phi, iterations + max_iter, False, final, final_solver, "fisher"), eta


def update_eta(model: Model, s: object, phi: object, raters: object, eta: np.ndarray,
               prior: tuple[float, float], iterations: int = 100) -> np.ndarray:
    """Maximise the log-posterior in every eta_k given the scores (Newton, kept in (0, 1))."""
    ops = model.ops
    a, b = prior
    delta = model.delta(s, phi)
    eta = eta.copy()
    for _ in range(iterations):
        row_grad, row_curv = model.family.eta_derivatives(delta, model.counts,
                                                          ops.asarray(eta)[raters])
        grad = ops.to_numpy(ops.scatter(raters, row_grad, len(eta)))
        grad += (a - 1) / eta - (b - 1) / (1 - eta)
        curv = ops.to_numpy(ops.scatter(raters, row_curv, len(eta)))
        curv += (a - 1) / eta**2 + (b - 1) / (1 - eta) ** 2
        step = grad / np.maximum(curv, 1e-300)
        target = eta + step
        low, high = ETA_FLOOR, 1 - ETA_FLOOR
        target = np.where(target < low, 0.5 * (eta + low), target)
        target = np.where(target > high, 0.5 * (eta + high), target)
        change = np.abs(target - eta).max(initial=0.0)
        eta = target
        if change < 1e-12:
            break
    return eta


def log_likelihood(model: Model, s: object, phi: object, eta: np.ndarray,
                   raters: object) -> float:
    """Marginal Crowd-BT log-likelihood (for tests and diagnostics)."""
    saved = model.eta
    model.eta = model.ops.asarray(eta)[raters]
    value = float(model.evaluate(s, phi, derivatives=False).loglik)
    model.eta = saved
    return value
