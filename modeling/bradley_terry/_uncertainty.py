"""Standard errors from the Hessian, and the batched bootstrap.

Standard errors are those of the *centred* scores, from the inverse negative Hessian of
the log-posterior at the optimum (the Laplace approximation; the plain ML covariance when
alpha = 0), with the nuisance parameters (position bias, tie parameter, cut points)
integrated out through the Schur complement:

* up to ``DENSE_SE_MAX`` parameters: the exact inverse (``"exact"``);
* larger, well-connected designs (the fit used Jacobi-CG): the second-order Neumann
  series of the Jacobi splitting, ``1/d_i + sum_j w_ij^2 / (d_i^2 d_j)`` (``"neumann"``),
  whose relative error is of the order of the inverse number of comparisons per item;
* larger, badly conditioned designs (sparse direct solver): an unbiased sketch
  ``var_i ~ mean_k (H^-1 G^T z_k)_i^2`` with ``H = G^T G`` and Rademacher ``z_k``
  (Spielman & Srivastava 2011, as for effective resistances), ``se_probes`` solves,
  relative error of the standard error about ``1 / sqrt(2 * se_probes)`` (``"sketch"``).

Bootstrap: unique comparisons are reweighted with multinomial counts (Efron 1979), and all
replicates are fitted together as one batched problem: scores (B, n), Newton steps whose
linear systems are solved by conjugate gradients preconditioned with the full-data
Hessian's factorization, which every replicate's Hessian is close to (a handful of
iterations per step, on any device).
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modeling.bradley_terry._backend import Array
from modeling.bradley_terry._data import Rows
from modeling.bradley_terry._linalg import (
    bordered_solve,
    conjugate_gradient,
)
from modeling.bradley_terry._newton import (
    Fit,
    Model,
    dense_variances,
)

DENSE_SE_MAX = 3000
CHUNK_CELLS = 2_000_000  # replicates x rows x categories per bootstrap batch
BOOTSTRAP_CG_STEPS = 6
BOOTSTRAP_THREADS: int | None = None  # None: one per CPU core


def variances(model: Model, fit: Fit, probes: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray, str]:
    """Variances of the centred scores (n,) and of phi (q,), and the method used."""
    n, q = model.n, model.n_phi
    if n + q <= DENSE_SE_MAX:
        score_variances, phi_variances = dense_variances(model, fit.system)
        return score_variances, phi_variances, "exact"
    phi_var = _phi_variances(model, fit)
    if fit.solver.plan.method == "cg":
        return _neumann(model, fit), phi_var, "neumann"
    return _sketch(model, fit, probes, seed), phi_var, "sketch"


def _phi_variances(model: Model, fit: Fit) -> np.ndarray:
    ops, system = model.ops, fit.system
    q = model.n_phi
    if q == 0:
        return np.zeros(0)
    solved = fit.solver.solve(system.border.T)
    schur = system.corner - solved @ system.border
    return np.diag(np.linalg.inv(ops.to_numpy(schur)))


def _neumann(model: Model, fit: Fit) -> np.ndarray:
    ops, graph, system = model.ops, model.graph, fit.system
    d = system.diagonal
    w2 = system.weights * system.weights
    second = ops.scatter(graph.first, w2 / d[graph.second], model.n) \
        + ops.scatter(graph.second, w2 / d[graph.first], model.n)
    return ops.to_numpy(1.0 / d + second / (d * d))


def _sketch(model: Model, fit: Fit, probes: int, seed: int) -> np.ndarray:
    ops, graph, system = model.ops, model.graph, fit.system
    rng = np.random.default_rng(seed + 7919)
    local = _local_curvature(model, fit)  # (m, r, r)
    root = np.linalg.cholesky(local + 1e-12 * np.eye(local.shape[-1]))
    root = ops.asarray(root)
    n, p = model.n, model.family.n_theta
    chunk = max(1, min(probes, CHUNK_CELLS // max(1, graph.first.shape[0] * root.shape[-1])))
    total = np.zeros(n)
    done = 0
    while done < probes:
        k = min(chunk, probes - done)
        z = ops.asarray(rng.choice([-1.0, 1.0], size=(k, *root.shape[:2])))
        local_v = (root @ z[..., None])[..., 0] if ops.is_torch else \
            np.einsum("mab,kmb->kma", root, z)
        rhs_s = graph.incidence_t(local_v[..., 0])
        parts = []
        if model.side is not None:
            parts.append((local_v[..., 0] * model.side).sum(-1)[:, None])
        if p:
            parts.append(local_v[..., 1:].sum(-2))
        rhs_phi = ops.cat(parts, axis=1) if parts else ops.zeros(k, 0)
        if model.alpha > 0:
            rhs_s = rhs_s + math.sqrt(model.alpha) * ops.asarray(rng.choice([-1.0, 1.0], (k, n)))
            rhs_phi = rhs_phi + math.sqrt(model.alpha_nuisance) * ops.asarray(
                rng.choice([-1.0, 1.0], (k, model.n_phi)))
        x_s, _ = bordered_solve(ops, fit.solver, rhs_s, rhs_phi, system.border,
                                system.corner)
        centred = ops.to_numpy(x_s - x_s.mean(-1)[:, None])
        total += (centred * centred).sum(0)
        done += k
    return total / probes


def _local_curvature(model: Model, fit: Fit) -> np.ndarray:
    """Per-row negative Hessian in (delta, theta): (m, 1 + p, 1 + p), numpy."""
    ops = model.ops
    family = model.family
    delta = model.delta(fit.s, fit.phi)
    theta = model.theta(fit.phi)
    if family.n_theta == 0:
        return ops.to_numpy(fit.system.weights)[:, None, None]
    return ops.to_numpy(family.local_curvature(delta, theta, model.counts))


def bootstrap(model: Model, rows: Rows, fit: Fit, replicates: np.ndarray | None,
              n_replicates: int, seed: int, *, max_iter: int, tol: float
              ) -> np.ndarray | None:
    """Scores (B, n), centred, of B bootstrap replicates fitted as batches."""
    if replicates is None and n_replicates == 0:
        return None
    rng = np.random.default_rng(seed)
    total = round(float(rows.event_weight.sum()))
    probabilities = rows.event_weight / rows.event_weight.sum()
    n_rep = len(replicates) if replicates is not None else n_replicates
    cells = max(1, rows.n_rows * rows.counts.shape[1])
    chunk = max(1, min(n_rep, CHUNK_CELLS // cells))
    starts = list(range(0, n_rep, chunk))
    # chunks are independent; numpy and LAPACK release the GIL, so CPU threads overlap
    precondition = _preconditioner(model, fit)  # one factorization for every replicate
    threads = BOOTSTRAP_THREADS or os.cpu_count() or 1
    workers = 1 if model.ops.is_torch else max(1, min(len(starts), threads))

    units = _event_units(rows.event_weight) if replicates is None else None

    def draw(start: int) -> np.ndarray:  # in order, on the calling thread: reproducible
        size = min(chunk, n_rep - start)
        if replicates is not None:
            return _replicate_event_weights(rows, replicates[start:start + size])
        if units is not None:
            return _resample_units(rng, units, size, len(rows.event_weight))
        return rng.multinomial(total, probabilities, size=size).astype(np.float64)

    def fit_chunk(event_weights: np.ndarray) -> np.ndarray:
        counts = rows.counts_from_event_weights(event_weights)
        scores = np.full((len(event_weights), rows.n_items), np.nan)
        ok = _identified(rows, counts) if model.alpha == 0 else np.ones(len(counts), bool)
        if ok.any():
            scores[ok] = _fit_batch(model, fit, model.ops.asarray(counts[ok]), precondition,
                                    max_iter=max_iter, tol=tol)
        return scores

    out = []
    if workers == 1:
        out = [fit_chunk(draw(start)) for start in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for group in range(0, len(starts), workers):
                batch = [draw(start) for start in starts[group:group + workers]]
                out.extend(pool.map(fit_chunk, batch))
    scores = np.concatenate(out, axis=0)
    failed = int(np.isnan(scores[:, 0]).sum())
    if failed:
        warnings.warn(f"{failed} of {n_rep} bootstrap replicates have no finite maximum-"
                      "likelihood estimate (an item never wins or never loses in them); their "
                      "scores are NaN (use a prior, alpha > 0)", RuntimeWarning, stacklevel=3)
    return scores


def _identified(rows: Rows, counts: np.ndarray) -> np.ndarray:
    """Replicates (B,) in which every item has won (or tied) and lost (or tied) at least once.

    Necessary for a finite ML estimate (Ford 1957); replicates failing it are not fitted.
    """
    K = counts.shape[-1]
    first_good = counts[..., K // 2:].sum(-1) > 0   # i did at least as well as j
    second_good = counts[..., :(K + 1) // 2].sum(-1) > 0
    n = rows.n_items

    def per_item(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(rows.first, a, n) + np.bincount(rows.second, b, n)
                         for a, b in zip(first.astype(float), second.astype(float),
                                         strict=True)])

    wins = per_item(first_good, second_good)
    losses = per_item(second_good, first_good)
    return np.all((wins > 0) & (losses > 0), axis=1)


def _event_units(event_weight: np.ndarray) -> np.ndarray | None:
    """With whole-number weights, event e as ``event_weight[e]`` units (None otherwise).

    Drawing ``total`` units uniformly with replacement is the multinomial draw over events
    with probabilities proportional to their weights, and many times faster than numpy's
    multinomial over tens of thousands of categories.
    """
    whole = np.rint(event_weight)
    if not np.array_equal(whole, event_weight) or whole.sum() > 2**31:
        return None
    return np.repeat(np.arange(len(event_weight)), whole.astype(np.int64))


def _resample_units(rng: np.random.Generator, units: np.ndarray, size: int,
                    n_events: int) -> np.ndarray:
    """Event weights (size, E) of ``size`` resamples of the units."""
    picks = units[rng.integers(0, len(units), size=(size, len(units)))]
    picks += np.arange(size)[:, None] * n_events
    counts = np.bincount(picks.ravel(), minlength=size * n_events)
    return counts.reshape(size, n_events).astype(np.float64)


def _replicate_event_weights(rows: Rows, weights: np.ndarray) -> np.ndarray:
    keep = rows.input_event >= 0
    events = rows.input_event[keep]
    size = len(rows.event_weight)
    return np.stack([np.bincount(events, row[keep], size) for row in weights])


def _fit_batch(model: Model, fit: Fit, counts: Array, precondition: object, *,
               max_iter: int, tol: float) -> np.ndarray:
    """Batched damped Newton for B replicates, PCG preconditioned by the full-data Hessian.

    Replicates that have converged leave the batch; the CG tolerance of each replicate
    follows its own gradient (Eisenstat & Walker's forcing term).
    """
    ops = model.ops
    batch = counts.shape[0]
    n, q = model.n, model.n_phi
    x = ops.cat([fit.s[None, :] + ops.zeros(batch, n), fit.phi[None, :] + ops.zeros(batch, q)],
                axis=1)
    # Newton converges quadratically; Fisher scoring (Crowd-BT) only linearly
    step_tol = math.sqrt(tol) if model.eta is None else 0.01 * math.sqrt(tol)
    active = np.arange(batch)
    first_norm = None
    value = der = None
    for _ in range(max_iter):
        index = ops.asarray(active, integer=True)
        sub = Model(ops=ops, graph=model.graph, family=model.family, counts=counts[index],
                    side=model.side, eta=model.eta, alpha=model.alpha,
                    alpha_nuisance=model.alpha_nuisance)
        xs = x[index]
        if der is None:
            der = sub.evaluate(xs[:, :n], xs[:, n:])
            value = der.loglik + sub.log_prior(xs[:, :n], xs[:, n:])
        gradient = _batch_gradient(sub, xs, der)
        norm = ops.to_numpy((gradient * gradient).sum(-1)) ** 0.5
        first_norm = np.maximum(norm, 1e-300) if first_norm is None else first_norm
        rtol = ops.asarray(np.clip(norm / first_norm[active], 1e-12, 0.1))
        # a few CG steps suffice: the preconditioner is the full-data Hessian, which every
        # replicate's is close to, and the outer Newton iteration corrects what is left
        step, _, _ = conjugate_gradient(ops, _batch_hessian(sub, der), precondition, gradient,
                                        rtol=rtol, max_iter=BOOTSTRAP_CG_STEPS)
        if model.ground:  # a constant shift of the scores changes nothing
            step[:, :n] = step[:, :n] - step[:, :n].mean(-1)[:, None]
        moved, value, size, der = _batch_line_search(sub, xs, step, gradient, value)
        x[index] = moved
        keep = size > step_tol
        if not keep.all():
            kept = ops.asarray(np.flatnonzero(keep), integer=True)
            active, value, der = active[keep], value[kept], _take(der, kept)
        if not len(active):
            break
    else:  # replicates still moving after max_iter: not converged, reported as NaN
        x[ops.asarray(active, integer=True)] = float("nan")
    scores = ops.to_numpy(x[:, :n])
    return scores - scores.mean(axis=1, keepdims=True)


def _take(der: object, index: Array) -> object:
    """The derivatives of a subset of replicates."""
    from modeling.bradley_terry._families import Derivatives

    return Derivatives(der.loglik[index], der.grad_delta[index], der.grad_theta[index],
                       der.curv_delta[index], der.curv_cross[index], der.curv_theta[index])


def _preconditioner(model: Model, fit: Fit):
    """The full-data Hessian's inverse: explicit up to ``DENSE_SE_MAX`` parameters (one
    matrix product per application, about 3x faster than triangular solves with a Cholesky
    factor for the few right-hand sides of a bootstrap chunk), else factorized once; Jacobi for huge
    CG-only fits."""
    ops, system, n = model.ops, fit.system, model.n
    if n + model.n_phi <= DENSE_SE_MAX:
        return _explicit_inverse(model, fit)
    solver = fit.solver
    if solver.plan.method != "cg":
        def exact(r: Array) -> Array:
            x_s, x_phi = bordered_solve(ops, solver, r[:, :n], r[:, n:], system.border,
                                        system.corner)
            if model.ground:
                x_s = x_s - x_s.mean(-1)[:, None]
            return ops.cat([x_s, x_phi], axis=1)
        return exact
    inverse_diagonal = 1.0 / system.diagonal
    inverse_corner = ops.inv(system.corner) if model.n_phi else system.corner

    def jacobi(r: Array) -> Array:
        x_s = r[:, :n] * inverse_diagonal
        if model.ground:
            x_s = x_s - x_s.mean(-1)[:, None]
        return ops.cat([x_s, r[:, n:] @ inverse_corner], axis=1)
    return jacobi


def _explicit_inverse(model: Model, fit: Fit):
    """Apply the inverse of the bordered Hessian [[L, B], [B^T, C]], grounded at the last
    item when the scores are only identified up to a shift."""
    ops, system, n = model.ops, fit.system, model.n
    kept = n - 1 if model.ground else n
    laplacian = model.graph.dense(system.weights, system.diagonal)[:kept, :kept]
    border = system.border[:kept]
    inverse = ops.cholesky_inverse(ops.cat([ops.cat([laplacian, border], axis=1),
                                            ops.cat([border.T, system.corner], axis=1)],
                                           axis=0))

    def apply(r: Array) -> Array:
        x = ops.cat([r[:, :kept], r[:, n:]], axis=1) @ inverse
        x_s = x[:, :kept]
        if model.ground:
            x_s = ops.cat([x_s, ops.zeros(x.shape[0], 1)], axis=1)
            x_s = x_s - x_s.mean(-1)[:, None]
        return ops.cat([x_s, x[:, kept:]], axis=1)
    return apply


def _batch_gradient(model: Model, x: Array, der: object) -> Array:
    ops, n = model.ops, model.n
    grad_s = model.graph.incidence_t(der.grad_delta) - model.alpha * x[:, :n]
    parts = [grad_s]
    if model.side is not None:
        parts.append((der.grad_delta * model.side).sum(-1)[:, None])
    parts.append(der.grad_theta)
    gradient = ops.cat(parts, axis=1)
    gradient[:, n:] = gradient[:, n:] - model.alpha_nuisance * x[:, n:]
    if model.ground:
        gradient[:, :n] = gradient[:, :n] - gradient[:, :n].mean(-1)[:, None]
    return gradient


def _batch_hessian(model: Model, der: object):
    ops, graph, n = model.ops, model.graph, model.n
    weights, cross, corner = der.curv_delta, der.curv_cross, der.curv_theta
    position = model.position

    def matvec(v: Array) -> Array:
        v_s, v_theta = v[:, :n], v[:, n + position:]
        d_delta = graph.difference(v_s)
        if position:
            d_delta = d_delta + v[:, n:n + 1] * model.side
        out_delta = weights * d_delta
        if v_theta.shape[1]:
            out_delta = out_delta + (cross @ v_theta[:, :, None])[..., 0]
        parts = [graph.incidence_t(out_delta) + model.alpha * v_s]
        if position:
            parts.append((out_delta * model.side).sum(-1)[:, None]
                         + model.alpha_nuisance * v[:, n:n + 1])
        if v_theta.shape[1]:
            parts.append((cross * d_delta[..., None]).sum(-2)
                         + (corner @ v_theta[:, :, None])[..., 0]
                         + model.alpha_nuisance * v_theta)
        return ops.cat(parts, axis=1)
    return matvec


def _batch_line_search(model: Model, x: Array, step: Array, gradient: Array, value: Array
                       ) -> tuple[Array, Array, np.ndarray, object]:
    """Per-replicate backtracking; returns the derivatives at the new points for reuse."""
    ops, n = model.ops, model.n
    xp = ops.xp
    decrement = (gradient * step).sum(-1)
    scale = ops.asarray(np.ones(x.shape[0]))
    slack = 1e-12 * xp.abs(value) + 1e-12
    der = None
    backtracked = False
    for _ in range(50):
        trial = x + scale[:, None] * step
        der = model.evaluate(trial[:, :n], trial[:, n:])
        new_value = der.loglik + model.log_prior(trial[:, :n], trial[:, n:])
        ok = model.valid(trial[:, n:]) & (new_value >= value + 1e-4 * scale * decrement - slack)
        ok = ok & (new_value == new_value)
        if bool(ok.all()):
            break
        scale = xp.where(ok, scale, 0.5 * scale)
        backtracked = True
    if backtracked:  # derivatives at the final points of the replicates that backtracked
        trial = x + scale[:, None] * step
        der = model.evaluate(trial[:, :n], trial[:, n:])
        new_value = der.loglik + model.log_prior(trial[:, :n], trial[:, n:])
    size = ops.to_numpy(ops.max_abs(scale[:, None] * step))
    return trial, new_value, size, der
