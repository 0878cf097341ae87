"""Outcome models for one comparison row, as functions of the score difference.

Each family gives, for rows with score difference ``delta = s_i - s_j (+ gamma * side)``
and nuisance parameters ``theta``, the log-likelihood of the row's category counts and its
first and (negative) second derivatives. Categories run from "j wins strongly" (0) to
"i wins strongly" (K - 1), so mirroring a comparison maps category k to K - 1 - k.

* :class:`Logistic`: Bradley & Terry (1952) with the half-win convention for ties (a tie
  counts as half a win for each side, as Chatbot Arena and Evalica do). With per-row rater
  reliabilities ``eta`` it is Crowd-BT (Chen et al. 2013): the rater follows the model with
  probability eta and flips otherwise; its curvature is then the Fisher information.
* :class:`Davidson`: Davidson (1970) ties, ``theta = (log d,)``.
* :class:`Ordinal`: graded strength as a cumulative-logit model on the score difference
  (Agresti 1992, "Analysis of ordinal paired comparison data"), with symmetric cut points
  ``0 <= t_0 < t_1 < ... < t_{S-1}``; ``t_0`` is the half-width of the tie band (fixed at 0
  without ties), ``theta`` holds the free cut points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.bradley_terry._backend import Array, Ops, sigmoid_and_log


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Sum of a * b over the last axis without a temporary array."""
    if a.ndim == 1:  # einsum's own loop: no BLAS thread pool spinning on shared cores
        return float(np.einsum("m,m->", a, b))
    return np.einsum("...m,...m->...", a, b)


@dataclass
class Derivatives:
    """Row derivatives; ``curv_*`` are *negative* second derivatives (>= 0 on the diagonal)."""

    loglik: Array      # (...,) summed over rows
    grad_delta: Array  # (..., m)
    grad_theta: Array  # (..., p) summed over rows
    curv_delta: Array  # (..., m)
    curv_cross: Array  # (..., m, p)
    curv_theta: Array  # (..., p, p) summed over rows


class Logistic:
    """Bradley-Terry with half-win ties; Crowd-BT when ``eta`` (per row) is given."""

    n_categories = 3
    n_theta = 0

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    def category(self, outcome: np.ndarray, strength: np.ndarray | None) -> np.ndarray:
        return outcome + 1

    def initial_theta(self) -> np.ndarray:
        return np.zeros(0)

    def valid(self, theta: Array) -> Array:
        return theta.sum(-1) == theta.sum(-1)

    def wins(self, counts: Array) -> tuple[Array, Array]:
        """Wins of i and of j per row, ties counting half (cached per counts array)."""
        cached = getattr(self, "_wins", None)
        if cached is not None and cached[0] is counts:
            return cached[1], cached[2]
        half_ties = 0.5 * counts[..., 1]
        wins_i, wins_j = counts[..., 2] + half_ties, counts[..., 0] + half_ties
        self._wins = (counts, wins_i, wins_j)
        return wins_i, wins_j

    def evaluate(self, delta: Array, theta: Array, counts: Array, eta: Array | None = None,
                 derivatives: bool = True) -> Derivatives:
        ops = self.ops
        wins_i, wins_j = self.wins(counts)
        if eta is not None:
            return self._crowd(delta, theta, wins_i, wins_j, eta, derivatives)
        total = self._total(counts, wins_i, wins_j)
        if not ops.is_torch:
            return self._evaluate_numpy(delta, wins_i, wins_j, total, derivatives)
        p, log_p = ops.sigmoid_and_log(delta)
        # a log sigma(d) + b log sigma(-d) = (a + b) log sigma(d) - b d
        loglik = (total * log_p - wins_j * delta).sum(-1)
        if not derivatives:
            return Derivatives(loglik, None, None, None, None, None)
        empty = ops.zeros(*delta.shape, 0)
        return Derivatives(loglik, wins_i - total * p, empty[..., 0, :],
                           total * p * (1 - p), empty, ops.zeros(*delta.shape[:-1], 0, 0))

    def _total(self, counts: Array, wins_i: Array, wins_j: Array) -> Array:
        cached = getattr(self, "_totals", None)
        if cached is not None and cached[0] is counts:
            return cached[1]
        total = wins_i + wins_j
        self._totals = (counts, total)
        return total

    @staticmethod
    def _evaluate_numpy(delta: np.ndarray, wins_i: np.ndarray, wins_j: np.ndarray,
                        total: np.ndarray, derivatives: bool) -> Derivatives:
        """The same numbers with in-place operations: 10M-row fits are memory-bound."""
        p, log_p = sigmoid_and_log(delta)
        loglik = _rowdot(total, log_p) - _rowdot(wins_j, delta)
        if not derivatives:
            return Derivatives(loglik, None, None, None, None, None)
        gradient = np.multiply(total, p, out=log_p)
        np.subtract(wins_i, gradient, out=gradient)
        curvature = np.subtract(1.0, p)
        curvature *= p
        curvature *= total
        empty = np.zeros((*delta.shape, 0))
        return Derivatives(loglik, gradient, empty[..., 0, :], curvature, empty,
                           np.zeros((*delta.shape[:-1], 0, 0)))

    def _crowd(self, delta: Array, theta: Array, wins_i: Array, wins_j: Array, eta: Array,
               derivatives: bool) -> Derivatives:
        ops, xp = self.ops, self.ops.xp
        log_eta, log_flip = xp.log(eta), xp.log1p(-eta)
        up, down = ops.log_sigmoid(delta), ops.log_sigmoid(-delta)
        log_p = xp.logaddexp(log_eta + up, log_flip + down)   # P(i beats j) for this rater
        log_q = xp.logaddexp(log_eta + down, log_flip + up)
        loglik = (wins_i * log_p + wins_j * log_q).sum(-1)
        if not derivatives:
            return Derivatives(loglik, None, None, None, None, None)
        sigma = ops.sigmoid(delta)
        p, q = xp.exp(log_p), xp.exp(log_q)
        slope = (2 * eta - 1) * sigma * (1 - sigma)
        total = wins_i + wins_j
        empty = ops.zeros(*delta.shape, 0)
        return Derivatives(loglik, slope * (wins_i / p - wins_j / q), empty[..., 0, :],
                           total * slope**2 / (p * q), empty,
                           ops.zeros(*delta.shape[:-1], 0, 0))

    def eta_derivatives(self, delta: Array, counts: Array, eta: Array) -> tuple[Array, Array]:
        """First and negative second derivative of each row's log-likelihood in eta."""
        xp = self.ops.xp
        wins_i, wins_j = self.wins(counts)
        sigma = self.ops.sigmoid(delta)
        p = eta * sigma + (1 - eta) * (1 - sigma)
        q = 1 - p
        slope = 2 * sigma - 1
        p, q = xp.clip(p, 1e-300, None), xp.clip(q, 1e-300, None)
        return slope * (wins_i / p - wins_j / q), slope**2 * (wins_i / p**2 + wins_j / q**2)

    def probabilities(self, delta: Array, theta: Array) -> Array:
        p = self.ops.sigmoid(delta)
        return self.ops.stack([1 - p, 0 * p, p], axis=-1)


class Davidson:
    """Davidson (1970): P(i>j) = a_i / (a_i + a_j + d sqrt(a_i a_j)), P(tie) = d sqrt(.)/(.)."""

    n_categories = 3
    n_theta = 1

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    def category(self, outcome: np.ndarray, strength: np.ndarray | None) -> np.ndarray:
        return outcome + 1

    def initial_theta(self) -> np.ndarray:
        return np.zeros(1)

    def valid(self, theta: Array) -> Array:
        return theta[..., 0] == theta[..., 0]

    def _probabilities(self, delta: Array, theta: Array) -> tuple[Array, ...]:
        xp = self.ops.xp
        log_d = theta[..., 0:1]
        half = 0.5 * delta
        top = xp.maximum(xp.abs(half), log_d)
        log_norm = top + xp.log(xp.exp(half - top) + xp.exp(-half - top) + xp.exp(log_d - top))
        return half - log_norm, log_d - log_norm, -half - log_norm

    def evaluate(self, delta: Array, theta: Array, counts: Array, eta: Array | None = None,
                 derivatives: bool = True) -> Derivatives:
        xp = self.ops.xp
        log_win, log_tie, log_loss = self._probabilities(delta, theta)
        loglik = (counts[..., 2] * log_win + counts[..., 1] * log_tie
                  + counts[..., 0] * log_loss).sum(-1)
        if not derivatives:
            return Derivatives(loglik, None, None, None, None, None)
        p_win, p_tie, p_loss = xp.exp(log_win), xp.exp(log_tie), xp.exp(log_loss)
        total = counts.sum(-1)
        tilt = p_win - p_loss
        grad_delta = 0.5 * (counts[..., 2] - counts[..., 0]) - 0.5 * total * tilt
        grad_theta = (counts[..., 1] - total * p_tie).sum(-1)[..., None]
        curv_delta = total * ((p_win + p_loss) - tilt**2) / 4
        curv_cross = (-0.5 * total * p_tie * tilt)[..., None]
        curv_theta = (total * p_tie * (1 - p_tie)).sum(-1)[..., None, None]
        return Derivatives(loglik, grad_delta, grad_theta, curv_delta, curv_cross, curv_theta)

    def probabilities(self, delta: Array, theta: Array) -> Array:
        xp = self.ops.xp
        log_win, log_tie, log_loss = self._probabilities(delta, theta)
        return self.ops.stack([xp.exp(log_loss), xp.exp(log_tie), xp.exp(log_win)], axis=-1)


class Ordinal:
    """Cumulative-logit model for graded preference strength 1..S (and ties if present).

    The latent preference is ``U = delta + logistic noise``; the answer is "i better with
    strength k" when ``t_{k-1} < U <= t_k`` (``t_S = inf``), "tie" when ``|U| <= t_0``, and
    the mirror image for j.
    """

    def __init__(self, ops: Ops, n_levels: int, with_ties: bool) -> None:
        self.ops = ops
        self.n_levels = n_levels
        self.with_ties = with_ties
        self.n_categories = 2 * n_levels + int(with_ties)
        self.n_theta = n_levels - 1 + int(with_ties)
        lower, upper = self._cuts()
        self.lower_coef, self.lower_const = lower
        self.upper_coef, self.upper_const = upper

    def _cut_list(self) -> list[tuple[np.ndarray, float]]:
        """Positive cut points t_0..t_{S-1} as (coefficients on theta, constant)."""
        eye = np.eye(self.n_theta)
        cuts = [(eye[0], 0.0)] if self.with_ties else [(np.zeros(self.n_theta), 0.0)]
        offset = int(self.with_ties)
        cuts += [(eye[offset + k - 1], 0.0) for k in range(1, self.n_levels)]
        cuts.append((np.zeros(self.n_theta), np.inf))
        return cuts

    def _cuts(self) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        cuts = self._cut_list()  # t_0, ..., t_{S-1}, inf
        lower: list[tuple[np.ndarray, float]] = []
        upper: list[tuple[np.ndarray, float]] = []
        for level in range(self.n_levels, 0, -1):  # j wins with strength S..1
            lower.append((-cuts[level][0], -cuts[level][1]))
            upper.append((-cuts[level - 1][0], -cuts[level - 1][1]))
        if self.with_ties:
            lower.append((-cuts[0][0], 0.0))
            upper.append((cuts[0][0], 0.0))
        for level in range(1, self.n_levels + 1):  # i wins with strength 1..S
            lower.append(cuts[level - 1])
            upper.append(cuts[level])
        ops = self.ops

        def pack(items: list[tuple[np.ndarray, float]]) -> tuple[Array, Array]:
            return (ops.asarray(np.array([c for c, _ in items]).reshape(len(items), -1)),
                    ops.asarray(np.array([k for _, k in items])))

        return pack(lower), pack(upper)

    def category(self, outcome: np.ndarray, strength: np.ndarray) -> np.ndarray:
        level = np.where(outcome == 0, 0, strength)
        signed = outcome * level
        code = signed + self.n_levels
        if not self.with_ties:
            code = np.where(signed > 0, code - 1, code)
        return code

    def initial_theta(self) -> np.ndarray:
        start = 0.5 if self.with_ties else 1.0
        return start + np.arange(self.n_theta, dtype=np.float64)

    def cut_points(self, theta: Array) -> Array:
        """t_0, ..., t_{S-1} (t_0 = 0 without ties)."""
        if self.with_ties:
            return theta
        return self.ops.cat([theta[..., :1] * 0, theta], axis=-1)

    def valid(self, theta: Array) -> Array:
        cuts = self.cut_points(theta)
        gaps = cuts[..., 1:] - cuts[..., :-1]
        ok = (gaps > 0).all(-1) if gaps.shape[-1] else cuts[..., 0] == cuts[..., 0]
        if self.with_ties:
            ok = ok & (cuts[..., 0] > 0)
        return ok

    def _bounds(self, delta: Array, theta: Array) -> tuple[Array, Array]:
        lower = (theta[..., None, None, :] * self.lower_coef).sum(-1) + self.lower_const
        upper = (theta[..., None, None, :] * self.upper_coef).sum(-1) + self.upper_const
        return delta[..., None] - lower, delta[..., None] - upper  # (..., m, K)

    def _mass(self, a: Array, b: Array) -> Array:
        ops, xp = self.ops, self.ops.xp
        high = ops.sigmoid(-b) - ops.sigmoid(-a)
        low = ops.sigmoid(a) - ops.sigmoid(b)
        return xp.where(b > 0, high, low)

    def evaluate(self, delta: Array, theta: Array, counts: Array, eta: Array | None = None,
                 derivatives: bool = True) -> Derivatives:
        ops, xp = self.ops, self.ops.xp
        a, b = self._bounds(delta, theta)
        used = counts > 0
        mass = xp.where(used, self._mass(a, b), 1.0)
        loglik = (counts * xp.log(mass)).sum((-2, -1))
        if not derivatives:
            return Derivatives(loglik, None, None, None, None, None)
        sa, sb = ops.sigmoid(a), ops.sigmoid(b)
        fa, fb = sa * (1 - sa), sb * (1 - sb)
        la, lb = fa / mass, -fb / mass
        laa = fa * (1 - 2 * sa) / mass - la**2
        lbb = -fb * (1 - 2 * sb) / mass - lb**2
        lab = -la * lb
        w = xp.where(used, counts, 0.0)
        lo, hi = self.lower_coef, self.upper_coef  # (K, p)
        grad_delta = (w * (la + lb)).sum(-1)
        grad_theta = -((w * la).sum(-2) @ lo + (w * lb).sum(-2) @ hi)
        curv_delta = -(w * (laa + 2 * lab + lbb)).sum(-1)
        curv_cross = (w * (laa + lab)) @ lo + (w * (lab + lbb)) @ hi
        saa, sab, sbb = (w * laa).sum(-2), (w * lab).sum(-2), (w * lbb).sum(-2)  # (..., K)
        outer_ll = lo[:, :, None] * lo[:, None, :]
        outer_lh = lo[:, :, None] * hi[:, None, :] + hi[:, :, None] * lo[:, None, :]
        outer_hh = hi[:, :, None] * hi[:, None, :]
        curv_theta = -((saa[..., None, None] * outer_ll).sum(-3)
                       + (sab[..., None, None] * outer_lh).sum(-3)
                       + (sbb[..., None, None] * outer_hh).sum(-3))
        return Derivatives(loglik, grad_delta, grad_theta, curv_delta, curv_cross, curv_theta)

    def probabilities(self, delta: Array, theta: Array) -> Array:
        a, b = self._bounds(delta, theta)
        return self._mass(a, b)
