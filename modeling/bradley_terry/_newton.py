"""Newton's method for the Bradley-Terry family, with an MM fallback.

Parameters are the scores ``s`` (n,) and the nuisance vector ``phi`` = (position bias
gamma if fitted, then the family's theta). The Hessian is a weighted graph Laplacian in
``s`` bordered by a few dense columns for ``phi``; :func:`bordered_solve` eliminates the
border with a Schur complement. Steps are damped by a backtracking line search on the
log-posterior. Convergence is judged by the size of the Newton step (the largest change
of any score or parameter), which bounds the distance to the optimum and keeps the
ranking stable; a small change of the log-likelihood alone is never taken as convergence,
because on badly conditioned designs it is tiny long before the ranking settles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modeling.bradley_terry._backend import Array, Ops
from modeling.bradley_terry._families import Derivatives, Logistic
from modeling.bradley_terry._linalg import Graph, LaplacianSolver, SolverPlan, bordered_solve

NUISANCE_PRECISION = 0.01  # N(0, 10^2) on gamma, log d and cut points whenever alpha > 0


@dataclass
class Model:
    """One fitting problem on the backend: rows, family, priors."""

    ops: Ops
    graph: Graph
    family: object
    counts: Array            # (m, K), or (B, m, K) in the bootstrap
    side: Array | None       # (m,) when the position bias is fitted
    eta: Array | None        # (m,) rater reliability of each row (Crowd-BT)
    alpha: float
    alpha_nuisance: float

    @property
    def n(self) -> int:
        return self.graph.n

    @property
    def position(self) -> int:
        return int(self.side is not None)

    @property
    def n_phi(self) -> int:
        return self.position + self.family.n_theta

    @property
    def ground(self) -> bool:
        return self.alpha == 0

    def theta(self, phi: Array) -> Array:
        return phi[..., self.position:]

    def delta(self, s: Array, phi: Array) -> Array:
        delta = self.graph.difference(s)
        if self.side is not None:
            delta = delta + phi[..., 0:1] * self.side
        return delta

    def log_prior(self, s: Array, phi: Array) -> Array:
        return -0.5 * (self.alpha * (s * s).sum(-1) + self.alpha_nuisance * (phi * phi).sum(-1))

    def evaluate(self, s: Array, phi: Array, derivatives: bool = True) -> Derivatives:
        return self.family.evaluate(self.delta(s, phi), self.theta(phi), self.counts,
                                    self.eta, derivatives)

    def objective(self, s: Array, phi: Array) -> Array:
        """Log-posterior (log-likelihood plus log-prior, up to a constant)."""
        return self.evaluate(s, phi, derivatives=False).loglik + self.log_prior(s, phi)

    def valid(self, phi: Array) -> Array:
        return self.family.valid(self.theta(phi))


@dataclass
class System:
    """Gradient and Hessian pieces at one point (single problem)."""

    grad_s: Array
    grad_phi: Array
    weights: Array   # Laplacian edge weights (m,)
    diagonal: Array  # (n,)
    border: Array    # (n, q)
    corner: Array    # (q, q)
    loglik: float


def newton_system(model: Model, s: Array, phi: Array, der: Derivatives | None = None,
                  curvature: Array | None = None) -> System:
    """Gradient of the log-posterior and its negative Hessian (exact or Fisher)."""
    ops, graph = model.ops, model.graph
    der = der if der is not None else model.evaluate(s, phi)
    weights = der.curv_delta if curvature is None else curvature
    grad_s = graph.incidence_t(der.grad_delta) - model.alpha * s
    grad_parts, border_parts = [], []
    corner = ops.zeros(model.n_phi, model.n_phi)
    if model.side is not None:
        side = model.side
        grad_parts.append((side * der.grad_delta).sum(-1)[None])
        border_parts.append(graph.incidence_t(weights * side)[None])
        corner[0, 0] = (weights * side * side).sum()
        if model.family.n_theta:
            corner[0, 1:] = side @ der.curv_cross
            corner[1:, 0] = corner[0, 1:]
    grad_parts.append(der.grad_theta)
    if model.family.n_theta:
        border_parts.append(graph.incidence_t(der.curv_cross.T))
        corner[model.position:, model.position:] = der.curv_theta
    grad_phi = ops.cat(grad_parts, axis=0) - model.alpha_nuisance * phi
    border = ops.cat(border_parts, axis=0).T if border_parts else ops.zeros(model.n, 0)
    corner = corner + model.alpha_nuisance * ops.eye(model.n_phi)
    diagonal = graph.degree(weights) + model.alpha
    return System(grad_s, grad_phi, weights, diagonal, border, corner, float(der.loglik))


@dataclass
class Fit:
    s: Array
    phi: Array
    n_iter: int
    converged: bool
    system: System       # at the final point
    solver: LaplacianSolver
    method: str          # "newton", "mm" or "fisher"


def newton(model: Model, s: Array, phi: Array, *, max_iter: int, tol: float,
           plan: SolverPlan) -> Fit:
    """Damped Newton; falls back to MM (quadratic bound) if a step cannot be made."""
    step_tol = math.sqrt(tol)
    der = model.evaluate(s, phi)
    value = float(der.loglik + model.log_prior(s, phi))
    first_norm = None
    for iteration in range(1, max_iter + 1):
        system = newton_system(model, s, phi, der)
        norm = _norm(model.ops, system)
        first_norm = first_norm or max(norm, 1e-300)
        solver = LaplacianSolver(model.graph, system.weights, system.diagonal,
                                 ground=model.ground, plan=plan)
        rtol = min(0.1, max(1e-12, norm / first_norm))
        ds, dphi = bordered_solve(model.ops, solver, system.grad_s, system.grad_phi,
                                  system.border, system.corner, rtol)
        moved = _line_search(model, s, phi, ds, dphi, system, value)
        if moved is None:
            return _fallback(model, s, phi, max_iter=max_iter, tol=tol, plan=plan,
                             done=iteration - 1)
        s, phi, value, size, der = moved
        if size <= step_tol:
            final = newton_system(model, s, phi, der)
            final_solver = LaplacianSolver(model.graph, final.weights, final.diagonal,
                                           ground=model.ground, plan=plan)
            return Fit(s, phi, iteration, True, final, final_solver, "newton")
    return _fallback(model, s, phi, max_iter=max_iter, tol=tol, plan=plan, done=max_iter)


def _norm(ops: Ops, system: System) -> float:
    squares = (system.grad_s * system.grad_s).sum() + (system.grad_phi * system.grad_phi).sum()
    return math.sqrt(float(squares))


def _line_search(model: Model, s: Array, phi: Array, ds: Array, dphi: Array,
                 system: System, value: float
                 ) -> tuple[Array, Array, float, float, Derivatives] | None:
    """Backtrack from the full step until the log-posterior rises (Armijo)."""
    ops = model.ops
    decrement = float((system.grad_s * ds).sum() + (system.grad_phi * dphi).sum())
    if not math.isfinite(decrement) or decrement < -1e-8 * max(1.0, abs(value)):
        return None
    slack = 1e-12 * max(1.0, abs(value))
    step = 1.0
    for _ in range(50):
        s_new, phi_new = s + step * ds, phi + step * dphi
        if bool(model.valid(phi_new)):
            der = model.evaluate(s_new, phi_new)
            new_value = float(der.loglik + model.log_prior(s_new, phi_new))
            if math.isfinite(new_value) and new_value >= value + 1e-4 * step * decrement - slack:
                size = step * max(_max_abs(ops, ds), _max_abs(ops, dphi))
                return s_new, phi_new, new_value, size, der
        step *= 0.5
    return None


def _max_abs(ops: Ops, values: Array) -> float:
    return float(abs(values).max()) if values.shape[-1] else 0.0


def _fallback(model: Model, s: Array, phi: Array, *, max_iter: int, tol: float,
              plan: SolverPlan, done: int) -> Fit:
    """MM with Boehning & Lindsay's (1988) quadratic bound for the logistic likelihood.

    The curvature of log sigma is at most 1/4, so a fixed Laplacian with weights n/4
    minorizes the log-posterior: every step increases it, however badly conditioned.
    Other families have no fixed bound here; their fit is returned as not converged.
    """
    system = newton_system(model, s, phi)
    if not isinstance(model.family, Logistic) or model.eta is not None:
        solver = LaplacianSolver(model.graph, system.weights, system.diagonal,
                                 ground=model.ground, plan=plan)
        return Fit(s, phi, done, False, system, solver, "newton")
    wins_i, wins_j = model.family.wins(model.counts)
    bound = 0.25 * (wins_i + wins_j)
    fixed = newton_system(model, s, phi, curvature=bound)
    solver = LaplacianSolver(model.graph, fixed.weights, fixed.diagonal, ground=model.ground,
                             plan=plan)
    previous = math.inf
    for iteration in range(1, 20 * max_iter + 1):
        system = newton_system(model, s, phi)
        ds, dphi = bordered_solve(model.ops, solver, system.grad_s, system.grad_phi,
                                  fixed.border, fixed.corner)
        s, phi = s + ds, phi + dphi
        size = max(_max_abs(model.ops, ds), _max_abs(model.ops, dphi))
        rate = min(size / previous, 0.999) if math.isfinite(previous) and previous > 0 else 0.999
        previous = size
        # linear convergence: the distance left is about size * rate / (1 - rate)
        if size * rate / (1 - rate) <= 0.01 * math.sqrt(tol) or size <= tol:
            final = newton_system(model, s, phi)
            return Fit(s, phi, done + iteration, True, final,
                       LaplacianSolver(model.graph, final.weights, final.diagonal,
                                       ground=model.ground, plan=plan), "mm")
    return Fit(s, phi, done + 20 * max_iter, False, system, solver, "mm")


def covariance_dense(model: Model, system: System) -> np.ndarray:
    """Inverse negative Hessian over (s, phi); grounded item's row and column are zero."""
    ops = model.ops
    laplacian = model.graph.dense(system.weights, system.diagonal)
    top = ops.cat([laplacian, system.border], axis=1)
    bottom = ops.cat([system.border.T, system.corner], axis=1)
    hessian = ops.cat([top, bottom], axis=0)
    n = model.n
    if model.ground:
        keep = ops.asarray(np.flatnonzero(np.arange(len(hessian)) != n - 1), integer=True)
        hessian = hessian[keep][:, keep]
    inverse = ops.to_numpy(ops.cholesky_inverse(hessian))
    if not model.ground:
        return inverse
    covariance = np.zeros((len(inverse) + 1, len(inverse) + 1))
    keep = np.arange(len(covariance)) != n - 1
    covariance[np.ix_(keep, keep)] = inverse
    return covariance


def dense_variances(model: Model, system: System) -> tuple[np.ndarray, np.ndarray]:
    """Variances of the centred scores (n,) and of phi (q,) from one Cholesky factor.

    With Sigma = H^-1 = L^-T L^-1: diag(Sigma) is the column sums of (L^-1)^2 and
    Sigma 1_s two triangular products, so the full inverse is never formed.
    """
    ops, n = model.ops, model.n
    laplacian = model.graph.dense(system.weights, system.diagonal)
    hessian = ops.cat([ops.cat([laplacian, system.border], axis=1),
                       ops.cat([system.border.T, system.corner], axis=1)], axis=0)
    size = n + model.n_phi
    keep = np.arange(size) != (n - 1 if model.ground else -1)
    if model.ground:
        index = ops.asarray(np.flatnonzero(keep), integer=True)
        hessian = hessian[index][:, index]
    inverse_factor = ops.to_numpy(ops.inverse_cholesky_factor(hessian))
    diagonal = np.zeros(size)
    diagonal[keep] = (inverse_factor * inverse_factor).sum(axis=0)
    on_scores = (np.arange(size) < n)[keep].astype(np.float64)
    sums = np.zeros(size)
    sums[keep] = inverse_factor.T @ (inverse_factor @ on_scores)  # Sigma 1_s
    total = float(on_scores @ sums[keep])
    score_variances = diagonal[:n] - 2 * sums[:n] / n + total / n**2
    return score_variances, diagonal[n:]


def centred_variances(covariance_ss: np.ndarray) -> np.ndarray:
    """diag(P C P) with P = I - 11^T/n: variances of the centred scores."""
    row_means = covariance_ss.mean(axis=1)
    return np.diag(covariance_ss) - 2 * row_means + row_means.mean()
