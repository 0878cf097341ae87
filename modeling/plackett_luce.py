"""Plackett-Luce model for full, partial (sub-) and top-k rankings.

A ranking ``(i_1, i_2, ..., i_m)`` of the items in a choice set ``A`` (best first) is a
sequence of choices: ``i_1`` is chosen from ``A``, ``i_2`` from what is left, and so on.
With log-worths ``theta``,

    P(ranking) = prod_{j < stages} exp(theta[i_j]) / sum_{l >= j} exp(theta[i_l])

(Plackett 1975; Luce 1959). A full or sub-ranking (only the items it lists were in the
set) has ``m - 1`` informative stages; a top-k ranking (``unranked`` items were in the set
too and placed below the ranked ones, in no particular order) has ``k`` stages, the unranked
items joining every denominator.

The negative log-likelihood is convex in ``theta`` (Hunter 2004), so the fit is Newton's
method with a backtracking line search on the exact Hessian, falling back to Hunter's (2004)
MM algorithm when the Newton system cannot be solved. Two optional priors:

* ``alpha``: a Gaussian prior ``theta ~ N(0, 1/alpha)`` (MAP; ridge on the log-worths).
* ``npseudo``: PlackettLuce's pseudo-rankings (Turner et al. 2020): every item wins once and
  loses once, each weighted ``npseudo``, against a ghost item of fixed worth. It makes the
  network of wins and losses strongly connected, so every estimate is finite.

With neither, the maximum-likelihood estimate exists only when that network is strongly
connected (Hunter 2004, assumption 1); otherwise a :class:`ModelError` names the items.

References
----------
Hunter, D. R. (2004). MM algorithms for generalized Bradley-Terry models. Annals of
Statistics 32(1), 384-406.
Turner, H. L., van Etten, J., Firth, D. & Kosmidis, I. (2020). Modelling rankings in R: the
PlackettLuce package. Computational Statistics 35, 1027-1057.

Examples
--------
>>> result = fit_plackett_luce([[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2]], 3)
>>> result.converged, result.log_worths.round(2).tolist()
(True, [0.72, 0.11, -0.83])
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from modeling.device import default_dtype, resolve_device
from modeling.errors import ModelError

if TYPE_CHECKING:
    import torch

_HESSIAN_CHUNK = 1 << 22  # ranking-stage pairs per Hessian block (bounds memory)
_MM_ITERATIONS_PER_NEWTON = 100


@dataclass(frozen=True)
class PlackettLuceResult:
    """A fitted Plackett-Luce model.

    Attributes
    ----------
    log_worths : (n_items,) log-worths centred to mean 0.
    se : (n_items,) standard errors of the centred log-worths (from the inverse Hessian of
        the negative log-posterior; a pseudo-inverse when the model has no prior).
    covariance : (n_items, n_items) covariance of the centred log-worths (None when the fit
        was asked for no standard errors; ``se`` is then NaN).
    log_likelihood : log-likelihood of the rankings (weighted; priors excluded).
    n_iter, converged : iterations run; whether the gradient test passed.
    method : "newton" or "mm" (the algorithm that produced the estimate).
    n_rankings : rankings used (rankings with no choice stage are ignored).
    n_ignored : rankings ignored because they rank a single item and leave none unranked.
    """

    log_worths: np.ndarray
    se: np.ndarray
    covariance: np.ndarray | None
    log_likelihood: float
    n_iter: int
    converged: bool
    method: str
    n_rankings: int
    n_ignored: int
    alpha: float
    npseudo: float
    device: str
    seconds: float

    @property
    def scores(self) -> np.ndarray:
        """Alias of ``log_worths`` so leaderboards treat PL and BT fits alike."""
        return self.log_worths

    def relative_to(self, reference: int) -> tuple[np.ndarray, np.ndarray]:
        """Log-worths minus the reference item's, with the standard errors of those contrasts.

        The reference gets 0 with standard error 0, as in PlackettLuce's ``summary(ref=)``.
        """
        if self.covariance is None:
            raise ValueError("this fit has no covariance (it was run with covariance='none')")
        return relative_log_worths(self.log_worths, self.covariance, reference)


def relative_log_worths(log_worths: np.ndarray, covariance: np.ndarray,
                        reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Contrasts ``theta_i - theta_ref`` with standard errors ``sqrt(v_i + v_ref - 2 c_i,ref)``."""
    if not 0 <= reference < len(log_worths):
        raise ValueError(f"reference {reference} is not an item index (0..{len(log_worths) - 1})")
    variances = (np.diag(covariance) + covariance[reference, reference]
                 - 2.0 * covariance[:, reference])
    return log_worths - log_worths[reference], np.sqrt(np.clip(variances, 0.0, None))


@dataclass(frozen=True)
class PaddedRankings:
    """Rankings as a rectangular array: ``items[r, :length[r]]`` is ranking r (best first,
    then its unranked items), padded with ``n_items``; ``stages[r]`` choices are informative."""

    items: np.ndarray
    length: np.ndarray
    stages: np.ndarray
    weights: np.ndarray
    n_items: int
    n_ignored: int


def pad_rankings(rankings: Sequence[Sequence[int]], n_items: int, *,
                 unranked: Sequence[Sequence[int]] | None = None,
                 weights: Sequence[float] | np.ndarray | None = None) -> PaddedRankings:
    """Validate ragged rankings and pad them into one integer array (rankings with no choice
    stage, e.g. a single item with nothing unranked, are dropped and counted)."""
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if len(rankings) == 0:
        raise ValueError("no rankings were given")
    if unranked is not None and len(unranked) != len(rankings):
        raise ValueError(f"unranked has {len(unranked)} entries for {len(rankings)} rankings")
    ranked = [np.asarray(ranking, dtype=np.int64).reshape(-1) for ranking in rankings]
    rest = ([np.asarray(extra, dtype=np.int64).reshape(-1) for extra in unranked]
            if unranked is not None else [np.empty(0, np.int64)] * len(ranked))
    n_ranked = np.fromiter((len(r) for r in ranked), np.int64, len(ranked))
    n_rest = np.fromiter((len(r) for r in rest), np.int64, len(rest))
    stages = np.where(n_rest > 0, n_ranked, n_ranked - 1).clip(min=0)
    weight = (np.ones(len(ranked)) if weights is None
              else np.asarray(weights, dtype=np.float64).reshape(-1))
    if weight.shape != (len(ranked),) or not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("weights must be one finite non-negative number per ranking")
    keep = np.flatnonzero(stages > 0)
    if keep.size == 0:
        raise ValueError("no ranking orders two or more items; nothing to fit")
    rows = [np.concatenate((ranked[r], rest[r])) for r in keep]
    length = n_ranked[keep] + n_rest[keep]
    items = np.full((keep.size, int(length.max())), n_items, dtype=np.int64)
    items[np.arange(keep.size).repeat(length), _positions(length)] = np.concatenate(rows)
    _check_items(items, length, keep, n_items)
    return PaddedRankings(items=items, length=length, stages=stages[keep], weights=weight[keep],
                          n_items=n_items, n_ignored=len(ranked) - keep.size)


def _positions(length: np.ndarray) -> np.ndarray:
    starts = np.repeat(np.cumsum(length) - length, length)
    return np.arange(int(length.sum())) - starts


def _check_items(items: np.ndarray, length: np.ndarray, original: np.ndarray,
                 n_items: int) -> None:
    real = np.arange(items.shape[1])[None, :] < length[:, None]
    bad = real & ((items < 0) | (items >= n_items))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"ranking {original[row]} has item {items[row, col]}, outside "
                         f"0..{n_items - 1}")
    # padding gets distinct negative values so only real repeats compare equal
    unique_pad = np.where(real, items, -1 - np.arange(items.shape[1])[None, :])
    ordered = np.sort(unique_pad, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise ValueError(f"ranking {original[row]} lists an item more than once")


class _Objective:
    """Negative log-posterior of the Plackett-Luce model with its gradient and Hessian."""

    def __init__(self, padded: PaddedRankings, alpha: float, npseudo: float,
                 device: torch.device) -> None:
        import torch

        self.torch = torch
        self.n = padded.n_items
        self.alpha, self.npseudo = alpha, npseudo
        self.dtype = default_dtype(device)
        self.items = torch.as_tensor(padded.items, device=device)
        width = padded.items.shape[1]
        columns = torch.arange(width, device=device)
        self.member = columns[None, :] < torch.as_tensor(padded.length, device=device)[:, None]
        self.stage = columns[None, :] < torch.as_tensor(padded.stages, device=device)[:, None]
        self.weights = torch.as_tensor(padded.weights, dtype=self.dtype, device=device)
        chosen = (self.stage * self.weights[:, None]).to(self.dtype)
        self.wins = self._per_item(chosen)
        self.earlier = torch.minimum(columns[:, None], columns[None, :])

    def _per_item(self, values: torch.Tensor) -> torch.Tensor:
        out = self.torch.zeros(self.n + 1, dtype=self.dtype, device=self.items.device)
        out.index_add_(0, self.items.reshape(-1), values.reshape(-1))
        return out[: self.n]

    def _normalisers(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded log-worths and log sum_{l >= j} exp(theta) for every stage j."""
        torch = self.torch
        extended = torch.cat((theta, theta.new_zeros(1)))
        padded = extended[self.items].masked_fill(~self.member, -torch.inf)
        return padded, torch.logcumsumexp(padded.flip(1), dim=1).flip(1)

    def log_likelihood(self, theta: torch.Tensor) -> torch.Tensor:
        padded, lse = self._normalisers(theta)
        per_stage = self.torch.where(self.stage, padded - lse, 0.0)
        return (per_stage.sum(1) * self.weights).sum()

    def value(self, theta: torch.Tensor) -> float:
        torch = self.torch
        ghost = 2.0 * self.npseudo * torch.nn.functional.softplus(theta).sum()  # log(1+e^t) twice
        ghost = ghost - self.npseudo * theta.sum()
        prior = 0.5 * self.alpha * (theta * theta).sum()
        return float(-self.log_likelihood(theta) + prior + ghost)

    def exposure(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-item sum over stages of w / (stage normaliser), i.e. Hunter's MM denominator,
        plus the padded log-worths and the log of its cumulative sum per position."""
        torch = self.torch
        padded, lse = self._normalisers(theta)
        log_cumulative = torch.logcumsumexp(torch.where(self.stage, -lse, -torch.inf), dim=1)
        terms = torch.exp(log_cumulative).masked_fill(~self.member, 0.0) * self.weights[:, None]
        denominators = self._per_item(terms)
        return denominators + 2.0 * self.npseudo / (1.0 + torch.exp(theta)), padded, lse

    def gradient(self, theta: torch.Tensor, denominators: torch.Tensor) -> torch.Tensor:
        wins = self.wins + self.npseudo
        return denominators * self.torch.exp(theta) - wins + self.alpha * theta

    def prior_curvature(self, theta: torch.Tensor) -> torch.Tensor:
        """Diagonal Hessian of the priors: alpha plus the ghost pairs' 2 npseudo p (1 - p)."""
        torch = self.torch
        return self.alpha + 2.0 * self.npseudo * torch.sigmoid(theta) * torch.sigmoid(-theta)

    def hessian(self, theta: torch.Tensor, denominators: torch.Tensor,
                padded: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
        """diag(expected choices) minus sum over stages of p p^T, built block by block."""
        torch = self.torch
        expected = denominators * torch.exp(theta)
        # `expected` holds the ghost pairs' p; their p p^T part is p^2 on the diagonal
        ghost_square = 2.0 * self.npseudo * torch.sigmoid(theta) ** 2
        hessian = torch.diag(expected - ghost_square + self.alpha)
        log_square = torch.logcumsumexp(torch.where(self.stage, -2.0 * lse, -torch.inf), dim=1)
        flat = torch.zeros((self.n + 1) ** 2, dtype=self.dtype, device=theta.device)
        width = padded.shape[1]
        chunk = max(1, _HESSIAN_CHUNK // (width * width))
        for start in range(0, padded.shape[0], chunk):
            rows = slice(start, start + chunk)
            pair = (padded[rows, :, None] + padded[rows, None, :]
                    + log_square[rows][:, self.earlier])
            block = torch.exp(pair).masked_fill(~torch.isfinite(pair), 0.0)
            block = block * self.weights[rows, None, None]
            index = self.items[rows, :, None] * (self.n + 1) + self.items[rows, None, :]
            flat.index_add_(0, index.reshape(-1), block.reshape(-1))
        return hessian - flat.view(self.n + 1, self.n + 1)[: self.n, : self.n]


def fit_plackett_luce(rankings: Sequence[Sequence[int]], n_items: int, *,
                      unranked: Sequence[Sequence[int]] | None = None,
                      weights: Sequence[float] | np.ndarray | None = None,
                      alpha: float = 0.0, npseudo: float = 0.0, method: str = "newton",
                      covariance: str = "posterior", device: str | None = None,
                      max_iter: int = 100, tol: float = 1e-9,
                      item_names: Sequence[str] | None = None) -> PlackettLuceResult:
    """Fit Plackett-Luce log-worths to rankings by Newton's method (Hunter's MM as fallback).

    Parameters
    ----------
    rankings : sequence of int sequences, best first; lengths may differ (sub-rankings).
        A ranking with a single item and nothing in ``unranked`` carries no information and
        is ignored (counted in ``n_ignored``).
    n_items : number of items; ids are ``0 .. n_items - 1``.
    unranked : optional, per ranking, items that were in its choice set but left unranked
        below the ranked ones (top-k rankings). Their order does not matter.
    weights : optional non-negative weight (e.g. multiplicity) per ranking.
    alpha : Gaussian prior precision on the log-worths (0: maximum likelihood).
    npseudo : weight of PlackettLuce's ghost-item pseudo-rankings (0: none; R default 0.5).
    method : "newton" (default) or "mm" (Hunter 2004; slower, no Hessian per step).
    covariance : "posterior" (default): standard errors from the Hessian of the negative
        log-posterior (priors included); "likelihood": from the rankings' observed
        information alone, as PlackettLuce's ``vcov`` does with pseudo-rankings; "none":
        skip the n x n covariance (large item sets; ``se`` is NaN).
    device : torch device name; None picks CUDA when present. float64 throughout.
    max_iter : Newton iterations (the MM fallback gets 100 times as many).
    tol : converged when every gradient entry of the negative log-posterior is below
        ``tol * max(1, total ranking weight)`` in absolute value.
    item_names : optional names used in error messages instead of indices.

    Raises
    ------
    ModelError
        With no prior, when the maximum-likelihood estimate does not exist: an item appears
        in no ranking, is always ranked last (or first), or a group of items is never ranked
        above (below) the rest. The message names the items.
    ValueError
        Malformed input: an item id out of range, an item listed twice in one ranking, no
        informative ranking, a negative weight.
    """
    started = time.perf_counter()
    if alpha < 0 or npseudo < 0 or method not in ("newton", "mm"):
        raise ValueError("alpha and npseudo must be >= 0 and method 'newton' or 'mm'")
    if covariance not in ("posterior", "likelihood", "none"):
        raise ValueError("covariance must be 'posterior', 'likelihood' or 'none', "
                         f"got {covariance!r}")
    padded = pad_rankings(rankings, n_items, unranked=unranked, weights=weights)
    pinned = alpha == 0 and npseudo == 0  # only differences of log-worths are identified
    if pinned:
        check_identifiable(padded, item_names)
    torch_device = resolve_device(device)
    objective = _Objective(padded, float(alpha), float(npseudo), torch_device)
    threshold = tol * max(1.0, float(padded.weights.sum()))
    theta = objective.torch.zeros(n_items, dtype=objective.dtype, device=torch_device)
    n_iter, converged, hessian, used = 0, False, None, method
    if method == "newton":
        theta, n_iter, converged, hessian = _newton(objective, theta, max_iter, threshold, pinned)
    if hessian is None:
        used = "mm"
        theta, mm_iter, converged = _minorize_maximize(
            objective, theta, max_iter * _MM_ITERATIONS_PER_NEWTON, threshold, pinned)
        n_iter += mm_iter
    covariance_matrix = _covariance(objective, theta, hessian, covariance, pinned)
    se = (np.full(n_items, np.nan) if covariance_matrix is None
          else np.sqrt(np.clip(np.diag(covariance_matrix), 0.0, None)))
    log_worths = (theta - theta.mean()).cpu().numpy()
    return PlackettLuceResult(
        log_worths=log_worths, se=se, covariance=covariance_matrix,
        log_likelihood=float(objective.log_likelihood(theta)),
        n_iter=n_iter, converged=converged, method=used, n_rankings=len(padded.stages),
        n_ignored=padded.n_ignored, alpha=float(alpha), npseudo=float(npseudo),
        device=str(torch_device), seconds=time.perf_counter() - started)


def _newton(objective: _Objective, theta: torch.Tensor, max_iter: int, threshold: float,
            pinned: bool) -> tuple[torch.Tensor, int, bool, torch.Tensor | None]:
    """Damped Newton; returns (theta, steps, converged, Hessian or None when it failed)."""
    hessian = None
    for step_count in range(max_iter + 1):
        denominators, padded, lse = objective.exposure(theta)
        gradient = objective.gradient(theta, denominators)
        hessian = objective.hessian(theta, denominators, padded, lse)
        if float(gradient.abs().max()) <= threshold:
            return theta, step_count, True, hessian
        if step_count == max_iter:
            break
        direction = _solve(hessian, -gradient, pinned)
        moved = None if direction is None else _line_search(objective, theta, gradient, direction)
        if moved is None:
            return theta, step_count, False, None
        theta = moved - moved.mean() if pinned else moved
    return theta, max_iter, False, hessian


def _solve(hessian: torch.Tensor, rhs: torch.Tensor, pinned: bool) -> torch.Tensor | None:
    import torch

    if pinned:  # H has the null space 1; H + 11^T/n is positive definite on connected data
        hessian = hessian + 1.0 / hessian.shape[0]
    factor, info = torch.linalg.cholesky_ex(hessian)
    if int(info) != 0:
        return None
    solution = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    return solution if bool(torch.isfinite(solution).all()) else None


def _line_search(objective: _Objective, theta: torch.Tensor, gradient: torch.Tensor,
                 direction: torch.Tensor) -> torch.Tensor | None:
    """Backtracking (Armijo) with a round-off allowance for steps taken at the optimum."""
    start = objective.value(theta)
    slope = float(gradient @ direction)
    allowance = 1e-12 * max(1.0, abs(start))
    size = 1.0
    for _ in range(60):
        candidate = theta + size * direction
        value = objective.value(candidate)
        if value <= start + 1e-4 * size * slope + allowance:
            return candidate
        size *= 0.5
    return None


def _minorize_maximize(objective: _Objective, theta: torch.Tensor, max_iter: int,
                       threshold: float, pinned: bool) -> tuple[torch.Tensor, int, bool]:
    """Hunter's (2004) MM; with alpha > 0 the separable surrogate is minimised per item."""
    torch = objective.torch
    wins = objective.wins + objective.npseudo
    for iteration in range(max_iter + 1):
        denominators, _, _ = objective.exposure(theta)
        gradient = objective.gradient(theta, denominators)
        if float(gradient.abs().max()) <= threshold:
            return theta, iteration, True
        if iteration == max_iter:
            break
        if objective.alpha == 0:
            theta = torch.log(wins) - torch.log(denominators)
        else:
            theta = _surrogate_minimum(theta, denominators, wins, objective.alpha)
        if pinned:
            theta = theta - theta.mean()
    return theta, max_iter, False


def _surrogate_minimum(theta: torch.Tensor, denominators: torch.Tensor, wins: torch.Tensor,
                       alpha: float) -> torch.Tensor:
    """Solve D e^t + alpha t = w per item (convex, increasing) by scalar Newton steps."""
    for _ in range(50):
        exp_term = denominators * theta.exp()
        step = (exp_term + alpha * theta - wins) / (exp_term + alpha)
        theta = theta - step
        if float(step.abs().max()) < 1e-13:
            break
    return theta


def _covariance(objective: _Objective, theta: torch.Tensor, hessian: torch.Tensor | None,
                covariance: str, pinned: bool) -> np.ndarray | None:
    if covariance == "none":
        return None
    if hessian is None:  # the MM path builds the Hessian only once, here
        denominators, padded_theta, lse = objective.exposure(theta)
        hessian = objective.hessian(theta, denominators, padded_theta, lse)
    if covariance == "likelihood":
        hessian = hessian - objective.torch.diag(objective.prior_curvature(theta))
    return _centred_covariance(hessian, pinned or covariance == "likelihood")


def _centred_covariance(hessian: torch.Tensor, pinned: bool) -> np.ndarray:
    """Covariance of the mean-centred log-worths: P H^-1 P (H^+ when only contrasts exist)."""
    import torch

    n = hessian.shape[0]
    ones = torch.full_like(hessian, 1.0 / n)
    regular = hessian + ones if pinned else hessian
    factor, info = torch.linalg.cholesky_ex(regular)
    if int(info) == 0:
        inverse = torch.cholesky_inverse(factor)
    else:
        inverse = torch.linalg.pinv(regular, hermitian=True)
    if pinned:
        return (inverse - ones).cpu().numpy()
    centring = torch.eye(n, dtype=hessian.dtype, device=hessian.device) - ones
    return (centring @ inverse @ centring).cpu().numpy()


def check_identifiable(padded: PaddedRankings, item_names: Sequence[str] | None = None) -> None:
    """Raise :class:`ModelError` unless the maximum-likelihood log-worths are finite.

    Hunter's (2004) condition: for every split of the items in two groups, some item of each
    group is ranked above some item of the other, i.e. the directed network "ranked above"
    is strongly connected.
    """
    n = padded.n_items
    name = _namer(item_names)
    active = padded.weights > 0
    items, length, stages = padded.items[active], padded.length[active], padded.stages[active]
    position = np.arange(items.shape[1])[None, :]
    member = position < length[:, None]
    appearances = np.bincount(items[member], minlength=n + 1)[:n]
    wins = np.bincount(items[position < stages[:, None]], minlength=n + 1)[:n]
    losses = np.bincount(items[member], weights=np.minimum(position, stages[:, None])[member],
                         minlength=n + 1)[:n]
    for mask, problem in (
            (appearances == 0, "appear in no ranking"),
            (wins == 0, "are never ranked above another item (always last)"),
            (losses == 0, "are never ranked below another item (always first)")):
        if mask.any():
            raise ModelError(f"item(s) {name(np.flatnonzero(mask))} {problem}: their "
                             "maximum-likelihood log-worth is infinite or undefined; use a "
                             "prior (alpha > 0 or npseudo > 0) or remove them")
    _check_strongly_connected(items, length, stages, n, name)


def _check_strongly_connected(items: np.ndarray, length: np.ndarray, stages: np.ndarray,
                              n: int, name: object) -> None:
    # "ranked above" edges: consecutive positions suffice (the relation is transitive), and
    # the last choice of a top-k ranking is above each unranked item
    position = np.arange(1, items.shape[1])[None, :]
    real = position < length[:, None]
    above_column = np.minimum(position - 1, stages[:, None] - 1)
    winners = np.take_along_axis(items, above_column, axis=1)[real]
    losers = items[:, 1:][real]
    below_first = _reachable(n, winners, losers, 0)
    above_first = _reachable(n, losers, winners, 0)
    for reached, relation in ((below_first, "below"), (above_first, "above")):
        if not reached.all():
            group, rest = np.flatnonzero(~reached), np.flatnonzero(reached)
            raise ModelError(
                f"items {name(group)} are never ranked {relation} items {name(rest)}: the "
                "network of rankings is not strongly connected, so the maximum-likelihood "
                "estimate does not exist; use a prior (alpha > 0 or npseudo > 0)")


def _reachable(n: int, sources: np.ndarray, targets: np.ndarray, start: int) -> np.ndarray:
    reached = np.zeros(n, dtype=bool)
    reached[start] = True
    while True:
        new = targets[reached[sources] & ~reached[targets]]
        if new.size == 0:
            return reached
        reached[new] = True


def _namer(item_names: Sequence[str] | None):
    def name(indices: np.ndarray) -> str:
        shown = [str(item_names[i]) if item_names is not None else str(i) for i in indices[:10]]
        more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
        return ", ".join(shown) + more
    return name


def plackett_luce_log_likelihood(log_worths: np.ndarray, rankings: Sequence[Sequence[int]], *,
                                 unranked: Sequence[Sequence[int]] | None = None,
                                 weights: Sequence[float] | np.ndarray | None = None) -> float:
    """Log-likelihood of (e.g. held-out) rankings under given log-worths, on the CPU."""
    import torch

    padded = pad_rankings(rankings, len(log_worths), unranked=unranked, weights=weights)
    objective = _Objective(padded, 0.0, 0.0, torch.device("cpu"))
    theta = torch.as_tensor(np.asarray(log_worths, dtype=np.float64))
    return float(objective.log_likelihood(theta))


def simulate_rankings(log_worths: np.ndarray, n_rankings: int, *,
                      ranking_length: int | None = None, seed: int = 0) -> np.ndarray:
    """Draw Plackett-Luce rankings (rows, best first) of random subsets of the items.

    Uses the Gumbel-max construction: sorting ``theta + Gumbel noise`` in decreasing order
    gives a Plackett-Luce ranking (Yellott 1977). Each row ranks ``ranking_length`` items
    (default: all) drawn uniformly without replacement.
    """
    theta = np.asarray(log_worths, dtype=np.float64)
    length = len(theta) if ranking_length is None else ranking_length
    if not 1 <= length <= len(theta):
        raise ValueError(f"ranking_length must be in 1..{len(theta)}, got {ranking_length}")
    rng = np.random.default_rng(seed)
    subsets = np.argsort(rng.random((n_rankings, len(theta))), axis=1)[:, :length]
    noisy = theta[subsets] + rng.gumbel(size=subsets.shape)
    return np.take_along_axis(subsets, np.argsort(-noisy, axis=1), axis=1)
