"""Rasch and two-parameter logistic (2PL) item response models by marginal maximum likelihood.

Person ``p`` answers item ``j`` correctly with probability
``sigmoid(a_j * (theta_p - b_j)) = sigmoid(a_j * theta_p + d_j)`` with ``d_j = -a_j * b_j``
(difficulty ``b``, discrimination ``a``, intercept ``d`` as mirt calls it). Abilities are
integrated out over a normal population with Gauss-Hermite quadrature (Bock & Aitkin 1981):
EM iterations on the expected item counts, then Newton steps on the exact Hessian of the
marginal log-likelihood until the step is below ``tol``.

Scale conventions
-----------------
* Rasch, ``latent_variance="fixed"`` (default): ``a = 1`` and ``theta ~ N(0, 1)``, as R ltm's
  ``rasch(X, constraint = cbind(n_items + 1, 1))``.
* Rasch, ``latent_variance="estimated"``: ``a = 1`` and ``theta ~ N(0, sigma^2)`` with
  ``sigma^2`` estimated, as mirt's ``itemtype = "Rasch"``; then ``b = -d`` on that scale. The
  same fit is ltm's ``rasch(X)`` (common discrimination ``sigma``, ``theta ~ N(0, 1)``), whose
  difficulties are ``b / sigma``.
* 2PL: ``theta ~ N(0, 1)``, one ``a_j`` per item. Started from the Rasch fit with estimated
  latent variance (an all-zero start can run off to a degenerate optimum with ``a -> 1e3``).

Responses are long-format ``(person, item, correct)`` arrays, so persons may answer any subset
of the items. The E-step is ``persons x quadrature nodes`` matrices built from (sparse or dense)
``persons x items`` indicator matrices; there is no Python loop over persons.

Standard errors come from the observed information: the exact Hessian of the marginal
log-likelihood at the optimum, computed analytically with Louis' (1982) identity per person
(posterior expectation of the complete-data Hessian plus the posterior covariance of the
complete-data score). Person abilities are EAP estimates with their posterior SD.

References
----------
Rasch, G. (1960). Probabilistic Models for Some Intelligence and Attainment Tests.
Birnbaum, A. (1968). Some latent trait models. In Lord & Novick, Statistical Theories of
    Mental Test Scores.
Bock, R. D. & Aitkin, M. (1981). Marginal maximum likelihood estimation of item parameters:
    application of an EM algorithm. Psychometrika 46, 443-459.
Louis, T. A. (1982). Finding the observed information matrix when using the EM algorithm.
    JRSS B 44, 226-233.
Rizopoulos, D. (2006). ltm: an R package for latent variable modelling and item response
    theory analyses. J. Stat. Softw. 17(5). Chalmers, R. P. (2012). mirt. J. Stat. Softw. 48(6).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> persons, items = np.divmod(np.arange(2000 * 5), 5)
>>> theta, b = rng.normal(size=2000), np.linspace(-1, 1, 5)
>>> correct = rng.random(persons.size) < 1 / (1 + np.exp(b[items] - theta[persons]))
>>> fit = fit_rasch(persons, items, correct.astype(int))
>>> bool(np.all(np.abs(fit.difficulty - b) < 0.2)), fit.converged
(True, True)
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from modeling.device import default_dtype, resolve_device
from modeling.errors import ModelError

LATENT_VARIANCE_MODES = ("fixed", "estimated")

DENSE_CELLS = 20_000_000  # persons x items cells kept as dense matrices (else sparse CSR)
CHUNK_CELLS = 2_000_000  # persons x items cells per chunk of the Hessian computation
CHUNK_PAIRS = 400_000  # (person, item, item) triples per chunk of the pair sums
MAX_STEP = 1.0  # logits; EM and Newton steps are clipped to this length per parameter
EM_HANDOFF = 1e-2  # EM hands over to Newton once no parameter moves more than this
LOUIS_BY_PAIRS: bool | None = None  # Hessian terms by item pairs; None: whichever is cheaper
CHORD_LIMIT = 1e-3  # below this Newton step, try the next step with the same Hessian
M_STEP_ITER = 5  # Newton steps on the expected counts per EM iteration
START_TOL = 1e-2  # the Rasch fit that starts a 2PL fit stops at this step size


class ExtremeItemsError(ModelError):
    """Items answered all correctly, all incorrectly, or never: no finite ML estimate."""

    def __init__(self, items: np.ndarray, kinds: list[str]) -> None:
        self.items = np.asarray(items)
        self.kinds = kinds
        listed = ", ".join(f"item {i} ({k})" for i, k in zip(items[:10], kinds[:10], strict=False))
        super().__init__(f"{len(items)} item(s) have no finite maximum-likelihood difficulty: "
                         f"{listed}")


@dataclass(frozen=True)
class IRTResult:
    """A Rasch or 2PL fit. Arrays are indexed by item code / person code.

    ``covariance`` is the inverse observed information of the free parameters, in the order
    intercepts ``d`` (n_items), then the common slope ``sigma`` (Rasch, estimated latent
    variance) or the slopes ``a`` (2PL). ``ability``/``ability_sd`` are EAP and posterior SD
    on the latent scale (``theta ~ N(0, latent_variance)``).
    """

    model: str
    latent_variance_fixed: bool
    difficulty: np.ndarray
    difficulty_se: np.ndarray
    discrimination: np.ndarray
    discrimination_se: np.ndarray
    intercept: np.ndarray
    intercept_se: np.ndarray
    latent_variance: float
    latent_variance_se: float
    ability: np.ndarray
    ability_sd: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    covariance: np.ndarray
    n_quadrature: int
    device: str
    se_method: str = "observed information: exact Hessian of the marginal log-likelihood (Louis)"


@dataclass(frozen=True)
class _Design:
    """Responses on the device: long arrays sorted by person and indicator matrices."""

    person: torch.Tensor
    item: torch.Tensor
    correct: torch.Tensor
    weight: torch.Tensor
    degree: torch.Tensor
    row_start: torch.Tensor
    answered: torch.Tensor
    correct_matrix: torch.Tensor
    answered_t: torch.Tensor
    correct_matrix_t: torch.Tensor
    n_persons: int
    n_items: int
    dense: bool
    complete: bool  # every person answered every item


@dataclass(frozen=True)
class _Quadrature:
    nodes: torch.Tensor  # standard-normal Gauss-Hermite nodes
    log_weights: torch.Tensor


# ---------------------------------------------------------------------------- public API


def fit_rasch(persons: np.ndarray, items: np.ndarray, correct: np.ndarray, *,
              n_persons: int | None = None, n_items: int | None = None,
              person_weights: np.ndarray | None = None, latent_variance: str = "fixed",
              n_quadrature: int = 41, max_iter: int = 500, tol: float = 1e-6,
              device: str | torch.device | None = None,
              dtype: torch.dtype | None = None) -> IRTResult:
    """Fit the Rasch model by marginal maximum likelihood.

    Parameters
    ----------
    persons, items : int arrays, one entry per response (0-based codes)
    correct : 0/1 array, the response
    n_persons, n_items : sizes (default: largest code + 1)
    person_weights : frequency weight per person (e.g. counts of response patterns)
    latent_variance : "fixed" (theta ~ N(0, 1), ltm) or "estimated" (mirt)
    n_quadrature : Gauss-Hermite nodes
    max_iter : EM plus Newton iterations
    tol : convergence when no parameter moves more than this in a Newton step
    device, dtype : torch device ("cpu", "cuda", None = CUDA if present) and dtype
    """
    if latent_variance not in LATENT_VARIANCE_MODES:
        raise ValueError(f"latent_variance must be one of {LATENT_VARIANCE_MODES}")
    design, quadrature = _prepare(persons, items, correct, n_persons, n_items, person_weights,
                                  n_quadrature, device, dtype)
    kind = "rasch" if latent_variance == "fixed" else "rasch_var"
    start = _start_intercepts(design, 1.0)
    if kind == "rasch_var":
        start = torch.cat([start, start.new_ones(1)])
    return _fit(design, quadrature, kind, start, max_iter, tol)


def fit_2pl(persons: np.ndarray, items: np.ndarray, correct: np.ndarray, *,
            n_persons: int | None = None, n_items: int | None = None,
            person_weights: np.ndarray | None = None, start: IRTResult | None = None,
            n_quadrature: int = 41, max_iter: int = 500, tol: float = 1e-6,
            device: str | torch.device | None = None,
            dtype: torch.dtype | None = None) -> IRTResult:
    """Fit the two-parameter logistic model (theta ~ N(0, 1)) by marginal maximum likelihood.

    Starts from ``start`` (a Rasch fit) or, by default, from a Rasch fit with estimated latent
    variance, whose common slope ``sigma`` is the 2PL model with equal discriminations.
    Parameters are as for :func:`fit_rasch`.
    """
    design, quadrature = _prepare(persons, items, correct, n_persons, n_items, person_weights,
                                  n_quadrature, device, dtype)
    if start is None:
        phi = torch.cat([_start_intercepts(design, 1.0), design.weight.new_ones(1)])
        phi, _ = _em(design, quadrature, "rasch_var", phi, min(max_iter, 100), START_TOL)
        intercept, slope = phi[:-1], phi[-1:].abs().expand(design.n_items)
    else:
        intercept = torch.as_tensor(start.intercept, dtype=design.weight.dtype,
                                    device=design.weight.device)
        slope = torch.as_tensor(start.discrimination * math.sqrt(start.latent_variance),
                                dtype=intercept.dtype, device=intercept.device)
    return _fit(design, quadrature, "2pl", torch.cat([intercept, slope]), max_iter, tol)


def marginal_log_likelihood(persons: np.ndarray, items: np.ndarray, correct: np.ndarray,
                            difficulty: np.ndarray, discrimination: np.ndarray | float = 1.0,
                            *, latent_variance: float = 1.0, n_persons: int | None = None,
                            n_items: int | None = None,
                            person_weights: np.ndarray | None = None, n_quadrature: int = 41,
                            device: str | torch.device | None = None) -> float:
    """Marginal log-likelihood of given item parameters (e.g. another program's estimates)."""
    design, quadrature = _prepare(persons, items, correct, n_persons, n_items, person_weights,
                                  n_quadrature, device, None, check_extremes=False)
    like = design.weight
    a = np.broadcast_to(np.asarray(discrimination, dtype=float), (design.n_items,))
    slope = torch.as_tensor(a * math.sqrt(latent_variance), dtype=like.dtype, device=like.device)
    intercept = -torch.as_tensor(a * np.asarray(difficulty, float), dtype=like.dtype,
                                 device=like.device)
    return _log_likelihood(design, quadrature, intercept, slope)


# ---------------------------------------------------------------------- preparing input


def _prepare(persons, items, correct, n_persons, n_items, person_weights, n_quadrature,
             device, dtype, *, check_extremes: bool = True) -> tuple[_Design, _Quadrature]:
    persons, items, correct, n_persons, n_items, weights = _validate(
        persons, items, correct, n_persons, n_items, person_weights)
    if check_extremes:
        _check_items(items, correct, None if np.all(weights == 1) else weights[persons],
                     n_items)
    torch_device = resolve_device(None if device is None else str(device))
    torch_dtype = dtype or default_dtype(torch_device)
    design = _build_design(persons, items, correct, weights, n_persons, n_items,
                           torch_device, torch_dtype)
    return design, _gauss_hermite(n_quadrature, torch_device, torch_dtype)


def _validate(persons, items, correct, n_persons, n_items, person_weights):
    """Check the arrays and return them sorted by (person, item), with sizes and weights."""
    persons, items = np.asarray(persons), np.asarray(items)
    correct = np.asarray(correct)
    if not (persons.shape == items.shape == correct.shape) or persons.ndim != 1:
        raise ValueError("persons, items and correct must be 1-d arrays of equal length")
    if persons.size == 0:
        raise ValueError("no responses")
    for name, codes in (("persons", persons), ("items", items)):
        if not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0:
            raise ValueError(f"{name} must be non-negative integer codes")
    if not np.isin(correct, (0, 1)).all():
        raise ValueError("correct must contain only 0 and 1")
    n_persons = int(persons.max()) + 1 if n_persons is None else int(n_persons)
    n_items = int(items.max()) + 1 if n_items is None else int(n_items)
    if persons.max() >= n_persons or items.max() >= n_items:
        raise ValueError("a person or item code is not below n_persons / n_items")
    persons, items = np.asarray(persons, dtype=np.int64), np.asarray(items, dtype=np.int64)
    cell = persons * n_items + items
    if not np.all(cell[1:] > cell[:-1]):  # not already sorted without repeats
        order = np.argsort(cell, kind="stable")
        persons, items, correct, cell = persons[order], items[order], correct[order], cell[order]
        repeated = np.flatnonzero(cell[1:] == cell[:-1])
        if repeated.size:
            raise ValueError(f"person {persons[repeated[0]]} answered item "
                             f"{items[repeated[0]]} more than once")
    weights = (np.ones(n_persons) if person_weights is None
               else np.asarray(person_weights, dtype=float))
    if weights.shape != (n_persons,) or not np.all(np.isfinite(weights)) or weights.min() < 0:
        raise ValueError("person_weights must be n_persons finite non-negative numbers")
    return persons, items, np.asarray(correct, dtype=float), n_persons, n_items, weights


def _check_items(items: np.ndarray, correct: np.ndarray, weight: np.ndarray | None,
                 n_items: int) -> None:
    answered = np.bincount(items, weights=weight, minlength=n_items)
    right = np.bincount(items, weights=correct if weight is None else weight * correct,
                        minlength=n_items)
    kinds = np.select([answered <= 0, right <= 0, right >= answered],
                      ["no responses", "all incorrect", "all correct"], default="")
    bad = np.flatnonzero(kinds != "")
    if bad.size:
        raise ExtremeItemsError(bad, [str(k) for k in kinds[bad]])


def _build_design(persons, items, correct, weights, n_persons, n_items, device,
                  dtype) -> _Design:
    degree = np.bincount(persons, minlength=n_persons)
    row_start = np.concatenate([[0], np.cumsum(degree)])
    as_tensor = lambda array, kind=dtype: torch.as_tensor(array, dtype=kind, device=device)  # noqa: E731
    person_t, item_t, correct_t = as_tensor(persons, torch.long), as_tensor(items, torch.long), \
        as_tensor(correct)
    dense = n_persons * n_items <= DENSE_CELLS
    if dense:
        answered = torch.zeros(n_persons, n_items, dtype=dtype, device=device)
        answered[person_t, item_t] = 1.0
        correct_matrix = torch.zeros_like(answered)
        correct_matrix[person_t, item_t] = correct_t
        matrices = (answered, correct_matrix, answered.T, correct_matrix.T)
    else:
        matrices = _sparse_matrices(persons, items, correct, row_start, n_persons, n_items,
                                    device, dtype)
    return _Design(person_t, item_t, correct_t, as_tensor(weights), as_tensor(degree, torch.long),
                   as_tensor(row_start, torch.long), *matrices, n_persons, n_items, dense,
                   complete=persons.size == n_persons * n_items)


def _sparse_matrices(persons, items, correct, row_start, n_persons, n_items, device, dtype):
    def csr(rows, starts, cols, values, shape):
        del rows
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                torch.as_tensor(starts, device=device), torch.as_tensor(cols, device=device),
                torch.as_tensor(values, dtype=dtype, device=device), shape,
                check_invariants=False)

    ones = np.ones(persons.size)
    by_item = np.lexsort((persons, items))
    item_start = np.concatenate([[0], np.cumsum(np.bincount(items, minlength=n_items))])
    return (csr(persons, row_start, items, ones, (n_persons, n_items)),
            csr(persons, row_start, items, correct, (n_persons, n_items)),
            csr(items, item_start, persons[by_item], ones, (n_items, n_persons)),
            csr(items, item_start, persons[by_item], correct[by_item], (n_items, n_persons)))


def _gauss_hermite(n_quadrature: int, device, dtype) -> _Quadrature:
    if n_quadrature < 3:
        raise ValueError("n_quadrature must be at least 3")
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_quadrature)
    log_weights = np.log(weights / weights.sum())
    return _Quadrature(torch.as_tensor(nodes, dtype=dtype, device=device),
                       torch.as_tensor(log_weights, dtype=dtype, device=device))


def _start_intercepts(design: _Design, slope: float) -> torch.Tensor:
    """logit of the proportion correct, widened for the spread of abilities (probit approx.)."""
    weight = _take(design.weight, design.person)
    answered = torch.zeros(design.n_items, dtype=weight.dtype, device=weight.device)
    right = torch.zeros_like(answered)
    answered.index_add_(0, design.item, weight)
    right.index_add_(0, design.item, weight * design.correct)
    share = ((right + 0.5) / (answered + 1.0)).clamp(1e-4, 1 - 1e-4)
    return torch.logit(share) * math.sqrt(1.0 + math.pi * slope**2 / 8.0)


# --------------------------------------------------------------------------- estimation


def _fit(design: _Design, quadrature: _Quadrature, kind: str, phi: torch.Tensor,
         max_iter: int, tol: float) -> IRTResult:
    n_iter, converged, hessian = 0, False, None
    while n_iter < max_iter and not converged:
        phi, used = _em(design, quadrature, kind, phi, max_iter - n_iter, EM_HANDOFF)
        n_iter += used
        phi, used, converged, hessian = _newton(design, quadrature, kind, phi,
                                                max(0, min(20, max_iter - n_iter)), tol)
        n_iter += used
        if not converged:
            # the Hessian was not negative definite: more EM before trying Newton again
            phi, used = _em(design, quadrature, kind, phi, min(50, max_iter - n_iter), 0.0)
            n_iter += used
    if hessian is None:
        _, _, hessian = _marginal_derivatives(design, quadrature, kind, phi)
    return _result(design, quadrature, kind, phi, hessian, n_iter, converged)


def _item_parameters(kind: str, phi: torch.Tensor, n_items: int):
    intercept = phi[:n_items]
    if kind == "rasch":
        return intercept, torch.ones_like(intercept)
    if kind == "rasch_var":
        return intercept, phi[n_items:].expand(n_items)
    return intercept, phi[n_items:]


def _log_joint(design: _Design, quadrature: _Quadrature, intercept: torch.Tensor,
               slope: torch.Tensor) -> torch.Tensor:
    """log P(responses_p, node q) for every person and node: persons x nodes."""
    x = quadrature.nodes
    softplus = torch.nn.functional.softplus(slope[:, None] * x + intercept[:, None])
    spent = softplus.sum(0) if design.complete else design.answered @ softplus
    sums = design.correct_matrix @ torch.stack([slope, intercept], dim=1)
    return sums[:, :1] * x + sums[:, 1:] - spent + quadrature.log_weights


def _log_likelihood(design, quadrature, intercept, slope) -> float:
    log_joint = _log_joint(design, quadrature, intercept, slope)
    return float(design.weight @ torch.logsumexp(log_joint, dim=1))


def _posterior(design: _Design, quadrature: _Quadrature, intercept: torch.Tensor,
               slope: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Marginal log-likelihood and the posterior over nodes (persons x nodes)."""
    posterior = _log_joint(design, quadrature, intercept, slope)
    top = posterior.max(dim=1, keepdim=True).values
    posterior.sub_(top).exp_()
    total = posterior.sum(dim=1, keepdim=True)
    posterior.div_(total)
    return float(design.weight @ (top + total.log())[:, 0]), posterior


def _expected_counts(design: _Design, posterior: torch.Tensor):
    """Bock & Aitkin's expected numbers of responses and of correct ones: items x nodes."""
    weighted = posterior * design.weight[:, None]
    if design.complete:
        expected_n = weighted.sum(0).expand(design.n_items, -1)
    else:
        expected_n = design.answered_t @ weighted
    return expected_n, design.correct_matrix_t @ weighted


def _item_derivatives(expected_n, expected_r, x, intercept, slope):
    """Gradient (d then a) and item blocks (dd, da, aa) of the expected complete-data
    log-likelihood; at the E-step's parameters the gradient is the marginal one (Fisher)."""
    prob = torch.sigmoid(slope[:, None] * x + intercept[:, None])
    residual = expected_r - expected_n * prob
    info = expected_n * prob * (1 - prob)
    gradient = torch.cat([residual.sum(1), residual @ x])
    return gradient, -torch.stack([info.sum(1), info @ x, info @ (x * x)])


def _em(design, quadrature, kind, phi, max_iter, tol):
    """Bock-Aitkin EM; the M-step is a few Newton steps on the expected counts."""
    n_items, x, used = design.n_items, quadrature.nodes, 0
    while used < max_iter:
        used += 1
        _, posterior = _posterior(design, quadrature, *_item_parameters(kind, phi, n_items))
        counts = _expected_counts(design, posterior)
        before = phi
        for _ in range(M_STEP_ITER):
            params = _item_parameters(kind, phi, n_items)
            step = _m_step(kind, *_item_derivatives(*counts, x, *params), n_items)
            phi = phi + step
            if float(step.abs().max()) < tol / 10:
                break
        if float((phi - before).abs().max()) < tol:
            break
    return phi, used


def _m_step(kind: str, gradient: torch.Tensor, item_hessian: torch.Tensor,
            n_items: int) -> torch.Tensor:
    g_d, g_a = gradient[:n_items], gradient[n_items:]
    h_dd, h_da, h_aa = item_hessian
    if kind == "rasch":
        step = -g_d / h_dd
    elif kind == "rasch_var":  # arrowhead system: intercepts and one common slope
        shared_g = g_a.sum() - (h_da * g_d / h_dd).sum()
        shared_h = h_aa.sum() - (h_da * h_da / h_dd).sum()
        step_slope = -shared_g / shared_h
        step = torch.cat([-(g_d + h_da * step_slope) / h_dd, step_slope.reshape(1)])
    else:  # one 2 x 2 system per item
        det = h_dd * h_aa - h_da * h_da
        step = torch.cat([-(h_aa * g_d - h_da * g_a) / det, -(h_dd * g_a - h_da * g_d) / det])
    return step.clamp(-MAX_STEP, MAX_STEP)


def _newton(design, quadrature, kind, phi, max_iter, tol):
    """Newton steps on the marginal log-likelihood with backtracking; stops when the step is
    below ``tol`` or when the Hessian is not negative definite (EM then continues). Once a
    full step is below ``CHORD_LIMIT``, the next step is first tried with the same Hessian
    (a chord step: one E-step instead of a new Hessian); if it is below ``tol`` the fit has
    converged and the standard errors come from that Hessian, one small step away."""
    hessian = None
    for used in range(1, max_iter + 1):
        log_lik, gradient, hessian = _marginal_derivatives(design, quadrature, kind, phi)
        factor, info = torch.linalg.cholesky_ex(-hessian)
        if int(info) != 0:
            return phi, used, False, None
        step = torch.cholesky_solve(gradient[:, None], factor)[:, 0]
        step = step * min(1.0, MAX_STEP / float(step.abs().max().clamp_min(1e-300)))
        full_step = True
        while not _ascends(design, quadrature, kind, phi + step, log_lik):
            step, full_step = step / 2, False
            if float(step.abs().max()) < 1e-12:
                return phi, used, False, hessian
        phi = phi + step
        if full_step and float(step.abs().max()) < tol:
            return phi, used, True, hessian
        if full_step and float(step.abs().max()) < CHORD_LIMIT:
            chord = torch.cholesky_solve(_marginal_gradient(design, quadrature, kind, phi)[:, None],
                                         factor)[:, 0]
            if float(chord.abs().max()) < tol:
                return phi + chord, used, True, hessian
    return phi, max_iter, False, hessian


def _marginal_gradient(design, quadrature, kind, phi) -> torch.Tensor:
    intercept, slope = _item_parameters(kind, phi, design.n_items)
    _, posterior = _posterior(design, quadrature, intercept, slope)
    gradient, _ = _item_derivatives(*_expected_counts(design, posterior), quadrature.nodes,
                                    intercept, slope)
    g_d, g_a = gradient[:design.n_items], gradient[design.n_items:]
    if kind == "rasch":
        return g_d
    return torch.cat([g_d, g_a.sum().reshape(1)]) if kind == "rasch_var" else gradient


def _ascends(design, quadrature, kind, phi, log_lik) -> bool:
    params = _item_parameters(kind, phi, design.n_items)
    return _log_likelihood(design, quadrature, *params) >= log_lik - 1e-10 * abs(log_lik)


def _chain(kind: str, n_items: int, gradient: torch.Tensor,
           hessian_blocks: dict[str, torch.Tensor]):
    """Map derivatives in (d, a) to the free parameters of the model."""
    g_d, g_a = gradient[:n_items], gradient[n_items:]
    h_dd = hessian_blocks["dd"]
    if kind == "rasch":
        return g_d, h_dd
    h_da, h_aa = hessian_blocks["da"], hessian_blocks["aa"]
    if kind == "rasch_var":
        column = h_da.sum(1, keepdim=True)
        corner = h_aa.sum().reshape(1, 1)
        return (torch.cat([g_d, g_a.sum().reshape(1)]),
                torch.cat([torch.cat([h_dd, column], 1), torch.cat([column.T, corner], 1)]))
    return gradient, torch.cat([torch.cat([h_dd, h_da], 1), torch.cat([h_da.T, h_aa], 1)])


def _marginal_derivatives(design, quadrature, kind, phi):
    """Log-likelihood, gradient and exact Hessian of the marginal log-likelihood in the free
    parameters (Louis' identity per person, accumulated over chunks of persons)."""
    intercept, slope = _item_parameters(kind, phi, design.n_items)
    log_lik, posterior = _posterior(design, quadrature, intercept, slope)
    gradient, item_hessian = _item_derivatives(*_expected_counts(design, posterior),
                                               quadrature.nodes, intercept, slope)
    blocks = _louis_blocks(design, quadrature.nodes, intercept, slope, posterior,
                           with_slopes=kind != "rasch")
    for order, name in enumerate(blocks):
        blocks[name] = blocks[name] + torch.diag(item_hessian[order])
    gradient, hessian = _chain(kind, design.n_items, gradient, blocks)
    return log_lik, gradient, hessian


def _louis_blocks(design, x, intercept, slope, posterior, *, with_slopes: bool):
    """Sum over persons of the posterior covariance of the complete-data score (Louis 1982),
    by blocks d-d, d-a, a-a. Terms in the responses cancel against the outer product of the
    posterior mean score; what is left is summed either per chunk of persons as dense
    matrix products (cost ~ persons x items^2; the sum_q x^m P_jq P_kq term in closed form
    for complete persons) or over the item pairs each person answered (cost ~ sum of
    squared person degrees x nodes), whichever is cheaper."""
    prob = torch.sigmoid(slope[:, None] * x + intercept[:, None])  # items x nodes
    names = ("dd", "da", "aa") if with_slopes else ("dd",)
    powers = torch.stack([x**order for order in range(len(names))], dim=1)  # nodes x orders
    pair_cost = float((design.degree.double() ** 2).sum()) * x.numel()
    by_pairs = LOUIS_BY_PAIRS
    if by_pairs is None:
        by_pairs = pair_cost < design.n_persons * design.n_items**2 * 2 * len(names)
    if by_pairs:
        terms = _pair_louis_terms(design, powers, prob, posterior, with_slopes)
        return dict(zip(names, terms, strict=True))
    blocks = {name: prob.new_zeros(design.n_items, design.n_items) for name in names}
    complete_mass = prob.new_zeros(x.numel())
    for start, stop in _person_chunks(design, dense=True):
        terms, mass = _chunk_louis_terms(design, x, prob, posterior, start, stop, with_slopes)
        pairs = _incomplete_pair_term(design, powers, prob, posterior, start, stop)
        complete_mass += mass
        for order, name in enumerate(names):
            blocks[name] += terms[order] + pairs[order]
    for order, name in enumerate(names):
        blocks[name] += (prob * (complete_mass * powers[:, order])) @ prob.T
    return blocks


def _person_chunks(design: _Design, *, dense: bool):
    """Consecutive person ranges whose dense slices (``dense``) and item pairs (all, or those
    of incomplete persons when ``dense``) fit the budgets."""
    degree = design.degree.cpu().numpy()
    pairs = degree.astype(float) ** 2
    if dense:
        pairs = np.where(degree < design.n_items, pairs, 0.0)
    cost = pairs / CHUNK_PAIRS + (design.n_items / CHUNK_CELLS if dense else 0.0)
    bounds = np.flatnonzero(np.diff(np.floor(np.cumsum(cost)), prepend=0.0)) if cost.size else []
    edges = sorted({0, design.n_persons, *map(int, bounds)})
    return list(itertools.pairwise(edges))


def _pair_louis_terms(design, powers, prob, posterior, with_slopes):
    """The same blocks as :func:`_chunk_louis_terms` plus the P P' term, summed over the
    pairs (j, k) of items each person answered: orders x items x items."""
    n_items = design.n_items
    out = prob.new_zeros(n_items * n_items, powers.shape[1])
    m1 = posterior @ powers[:, 1] if with_slopes else None
    m2 = posterior @ powers[:, 2] if with_slopes else None
    for start, stop in _person_chunks(design, dense=False):
        lo, hi = int(design.row_start[start]), int(design.row_start[stop])
        person, item, correct = design.person[lo:hi], design.item[lo:hi], design.correct[lo:hi]
        entry_mass = _take(posterior, person) * _take(prob, item)  # post_pq P_jq, answered
        entry_moments = entry_mass @ powers  # A^m
        first, second = _pairs_within_persons(person, _take(design.degree, person))
        for begin in range(0, first.numel(), CHUNK_PAIRS):
            f, s = first[begin:begin + CHUNK_PAIRS], second[begin:begin + CHUNK_PAIRS]
            who, item_f, item_s = _take(person, f), _take(item, f), _take(item, s)
            values = (_take(entry_mass, f) * _take(prob, item_s)) @ powers
            a_f, a_s = _take(entry_moments, f), _take(entry_moments, s)
            values[:, 0] -= a_f[:, 0] * a_s[:, 0]
            if with_slopes:
                mean = _take(m1, who)
                spread = _take(m2, who) - mean**2
                e_f, e_s = a_f[:, 2] - mean * a_f[:, 1], a_s[:, 2] - mean * a_s[:, 1]
                y_f, y_s = _take(correct, f), _take(correct, s)
                values[:, 1] += (mean * a_f[:, 0] - a_f[:, 1]) * y_s - a_f[:, 0] * a_s[:, 1]
                values[:, 2] += (y_f * (spread * y_s - 2 * e_s) + y_s * (spread * y_f - 2 * e_f)
                                 ) / 2 - a_f[:, 1] * a_s[:, 1]
            values *= _take(design.weight, who)[:, None]
            out.index_add_(0, item_f * n_items + item_s, values)
    return out.T.reshape(-1, n_items, n_items)


def _chunk_louis_terms(design, x, prob, posterior, start, stop, with_slopes):
    """For persons start..stop-1, with A^m_pj = r_pj sum_q post_pq x_q^m P_jq, M^m_p the
    posterior moments of x, W the weights and Y the correct responses: the d-d block
    -A0' W A0, the d-a block (M1 A0 - A1)' W Y - A0' W A1, and the a-a block
    sym(Y' W ((M2 - M1^2) Y - 2 (A2 - M1 A1))) - A1' W A1."""
    answered, correct = _dense_rows(design, start, stop)
    weight, post = design.weight[start:stop, None], posterior[start:stop]
    complete = design.degree[start:stop] == design.n_items
    mass = (post * (weight * complete[:, None])).sum(0)

    def mean_prob(order: int) -> torch.Tensor:
        moment = (post * x**order) @ prob.T
        return moment if design.complete else moment * answered

    a0 = mean_prob(0)
    if not with_slopes:
        return [-(a0.T @ (weight * a0))], mass
    a1, a2 = mean_prob(1), mean_prob(2)
    m1, m2 = (post @ x)[:, None], (post @ x**2)[:, None]
    d_a = (m1 * a0 - a1).T @ (weight * correct) - a0.T @ (weight * a1)
    half = correct.T @ (weight * ((m2 - m1 * m1) * correct - 2 * (a2 - m1 * a1)))
    a_a = (half + half.T) / 2 - a1.T @ (weight * a1)
    return [-(a0.T @ (weight * a0)), d_a, a_a], mass


def _dense_rows(design: _Design, start: int, stop: int):
    if design.dense:
        return design.answered[start:stop], design.correct_matrix[start:stop]
    lo, hi = int(design.row_start[start]), int(design.row_start[stop])
    rows = design.person[lo:hi] - start
    answered = design.weight.new_zeros(stop - start, design.n_items)
    answered[rows, design.item[lo:hi]] = 1.0
    correct = torch.zeros_like(answered)
    correct[rows, design.item[lo:hi]] = design.correct[lo:hi]
    return answered, correct


def _incomplete_pair_term(design, powers, prob, posterior, start, stop):
    """For each power m of x: sum over incomplete persons p in start..stop-1 and pairs (j, k)
    of items p answered of sum_q w_p post_pq x_q^m P_jq P_kq. Returns orders x items x items."""
    n_items = design.n_items
    out = prob.new_zeros(n_items * n_items, powers.shape[1])
    lo, hi = int(design.row_start[start]), int(design.row_start[stop])
    degree = design.degree[design.person[lo:hi]]
    keep = degree < n_items
    if bool(keep.any()):
        person, item, degree = design.person[lo:hi][keep], design.item[lo:hi][keep], degree[keep]
        first, second = _pairs_within_persons(person, degree)
        for begin in range(0, first.numel(), CHUNK_PAIRS):
            f, s = first[begin:begin + CHUNK_PAIRS], second[begin:begin + CHUNK_PAIRS]
            who, item_f, item_s = _take(person, f), _take(item, f), _take(item, s)
            weighted = _take(posterior, who) * _take(design.weight, who)[:, None]
            values = (weighted * _take(prob, item_f) * _take(prob, item_s)) @ powers
            out.index_add_(0, item_f * n_items + item_s, values)
    return out.T.reshape(-1, n_items, n_items)


def _pairs_within_persons(person: torch.Tensor, degree: torch.Tensor):
    """All (first, second) index pairs of entries of the same person (entries grouped by
    person, ``degree`` = that person's number of entries, repeated per entry)."""
    index = torch.arange(person.numel(), device=person.device)
    first = torch.repeat_interleave(index, degree)
    block_start = torch.cumsum(degree, 0) - degree  # where each entry's pairs begin
    person_start = _run_starts(person)  # first entry of each entry's person
    offset = torch.arange(first.numel(), device=person.device) - _take(block_start, first)
    return first, _take(person_start, first) + offset


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[index] along dim 0 (index_select: several times faster than indexing)."""
    return torch.index_select(values, 0, index)


def _run_starts(person: torch.Tensor) -> torch.Tensor:
    """For entries grouped by person: the index of the first entry of each entry's person."""
    index = torch.arange(person.numel(), device=person.device)
    new_run = torch.ones_like(person, dtype=torch.bool)
    new_run[1:] = person[1:] != person[:-1]
    return torch.cummax(torch.where(new_run, index, torch.zeros_like(index)), dim=0).values


# ------------------------------------------------------------------------------ results


def _result(design, quadrature, kind, phi, hessian, n_iter, converged) -> IRTResult:
    n_items = design.n_items
    intercept, slope = _item_parameters(kind, phi, n_items)
    covariance, info = torch.linalg.inv_ex(-hessian)
    if int(info) != 0:
        covariance = torch.full_like(hessian, float("nan"))
    log_lik, posterior = _posterior(design, quadrature, intercept, slope)
    variance = torch.diagonal(covariance).clamp_min(0)
    sigma = float(slope[0].abs()) if kind == "rasch_var" else 1.0
    theta = quadrature.nodes * sigma
    ability = posterior @ theta
    ability_sd = (posterior @ theta**2 - ability**2).clamp_min(0).sqrt()
    d, d_se = intercept.cpu().numpy(), variance[:n_items].sqrt().cpu().numpy()
    nan = np.full(n_items, np.nan)
    if kind == "2pl":
        a = slope.cpu().numpy()
        a_se = variance[n_items:].sqrt().cpu().numpy()
        cov_da = torch.diagonal(covariance[:n_items, n_items:]).cpu().numpy()
        b_var = (d_se**2 - 2 * d * cov_da / a + d**2 * a_se**2 / a**2) / a**2
        difficulty, difficulty_se, discrimination, discrimination_se = \
            -d / a, np.sqrt(np.clip(b_var, 0, None)), a, a_se
    else:
        difficulty, difficulty_se, discrimination, discrimination_se = -d, d_se, \
            np.ones(n_items), nan
    variance_se = (2 * sigma * float(variance[-1].sqrt())) if kind == "rasch_var" else math.nan
    return IRTResult(
        model="2pl" if kind == "2pl" else "rasch", latent_variance_fixed=kind != "rasch_var",
        difficulty=difficulty, difficulty_se=difficulty_se, discrimination=discrimination,
        discrimination_se=discrimination_se, intercept=d, intercept_se=d_se,
        latent_variance=sigma**2, latent_variance_se=variance_se,
        ability=ability.cpu().numpy(), ability_sd=ability_sd.cpu().numpy(),
        log_likelihood=log_lik, n_iter=n_iter, converged=converged,
        covariance=covariance.cpu().numpy(), n_quadrature=int(quadrature.nodes.numel()),
        device=str(phi.device))
