"""How much one more judgment of a pair teaches the Bradley-Terry model.

The current fit is summarised by a Gaussian (Laplace) posterior on the item scores: a mean
and a variance per item (optionally a covariance between the two items of a pair). For a pair
(i, j) the score difference is d ~ N(mu, v) with mu = m_i - m_j and v = v_i + v_j - 2 c_ij,
and a rater answers "i wins" with probability sigma(d) (Bradley-Terry), or, with Crowd-BT's
rater reliability eta (Chen et al. 2013), q = eta * sigma(d) + (1 - eta) * (1 - sigma(d)).

Three measures of the gain, all in nats:

* ``"gauss_hermite"`` (default): the mutual information between the outcome and the scores,
  I = H(E[q]) - E[H(q)], with both expectations over d by Gauss-Hermite quadrature. This is
  the expected information gain Hybrid-MST computes (Li et al. 2018, their
  ``Gaussian_Hermite_BT``), here with Crowd-BT's reliability inside.
* ``"closed_form"``: the same mutual information in closed form, by the probit
  approximation sigma(d) ~ Phi(lambda d), lambda^2 = pi / 8, and Houlsby et al. (2011)'s
  approximation of E[H(Phi(.))]; a reliable rater only (eta = 1). Cheap enough to screen
  every pair of a large group.
* ``"expected_kl"``: ASAP's measure (Mikhailiuk et al. 2020): the expected Kullback-Leibler
  divergence from the current posterior of the two items to the one after the judgment,
  the update being assumed-density filtering on the probit-approximated likelihood.

A random clicker (eta = 0.5) teaches nothing: every measure is 0 for them.

Examples
--------
>>> import numpy as np
>>> gain = pair_gain(np.array([0.0, 2.0]), np.zeros(2), np.array([1.0, 1.0]), np.ones(2))
>>> bool(gain[0] > gain[1])  # a close pair teaches more than a lopsided one
True
>>> float(pair_gain(0.0, 0.0, 1.0, 1.0, reliability=0.5)[()])
0.0
"""

from __future__ import annotations

import math
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

GainMethod = Literal["gauss_hermite", "closed_form", "expected_kl"]
GAIN_METHODS: tuple[str, ...] = ("gauss_hermite", "closed_form", "expected_kl")
NODES = 24
PROBIT_SCALE = math.sqrt(math.pi / 8.0)  # sigma(d) ~ Phi(PROBIT_SCALE * d)
_HOULSBY_C2 = math.pi * math.log(2.0) / 2.0  # C^2 in Houlsby et al. (2011), eq. 3 ff.
_EPS = 1e-12


@cache
def hermite_rule(nodes: int = NODES) -> tuple[np.ndarray, np.ndarray]:
    """Points z and weights w with E[f(Z)] ~ sum w f(z) for Z ~ N(0, 1)."""
    points, weights = np.polynomial.hermite.hermgauss(nodes)
    return points * math.sqrt(2.0), weights / math.sqrt(math.pi)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """H(p) in nats, 0 at p = 0 and p = 1."""
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return -(p * np.log(p) + (1.0 - p) * np.log1p(-p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def difference_moments(mean_left: ArrayLike, mean_right: ArrayLike, var_left: ArrayLike,
                       var_right: ArrayLike, covariance: ArrayLike = 0.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of d = s_left - s_right under the Gaussian posterior."""
    mu = np.asarray(mean_left, dtype=float) - np.asarray(mean_right, dtype=float)
    v = (np.asarray(var_left, dtype=float) + np.asarray(var_right, dtype=float)
         - 2.0 * np.asarray(covariance, dtype=float))
    return mu, np.maximum(v, 0.0)


def pair_gain(mean_left: ArrayLike, mean_right: ArrayLike, var_left: ArrayLike,
              var_right: ArrayLike, *, covariance: ArrayLike = 0.0,
              reliability: ArrayLike = 1.0, method: GainMethod = "gauss_hermite",
              nodes: int = NODES) -> np.ndarray:
    """Expected information (nats) from one judgment of each pair; see the module docstring.

    Arguments broadcast against each other. ``reliability`` is Crowd-BT's eta of the rater
    expected to answer (1: always by the model, 0.5: at random).
    """
    eta = np.asarray(reliability, dtype=float)
    if np.any((eta < 0.0) | (eta > 1.0)):
        raise ValueError("reliability must be between 0 and 1")
    mu, v = difference_moments(mean_left, mean_right, var_left, var_right, covariance)
    if method == "gauss_hermite":
        return mutual_information(mu, v, reliability=eta, nodes=nodes)
    if method == "closed_form":
        if np.any(eta != 1.0):
            raise ValueError("the closed form is for reliable raters (reliability 1); use "
                             "method='gauss_hermite' with a reliability")
        return mutual_information_closed_form(mu, v)
    if method == "expected_kl":
        return expected_kl(np.asarray(var_left, dtype=float), np.asarray(var_right, dtype=float),
                           mu, v, reliability=eta, nodes=nodes)
    raise ValueError(f"unknown gain method {method!r}; known: {', '.join(GAIN_METHODS)}")


def answer_probability(mu: np.ndarray, v: np.ndarray, reliability: ArrayLike = 1.0,
                       nodes: int = NODES) -> np.ndarray:
    """P(the rater says "left wins"), averaged over the posterior of d."""
    q = _answer_at_nodes(mu, v, np.asarray(reliability, dtype=float), nodes)
    _, weights = hermite_rule(nodes)
    return q @ weights


def mutual_information(mu: np.ndarray, v: np.ndarray, *, reliability: ArrayLike = 1.0,
                       nodes: int = NODES) -> np.ndarray:
    """I(outcome; scores) = H(E[q]) - E[H(q)] by Gauss-Hermite quadrature (Hybrid-MST)."""
    q = _answer_at_nodes(mu, v, np.asarray(reliability, dtype=float), nodes)
    _, weights = hermite_rule(nodes)
    gain = binary_entropy(q @ weights) - binary_entropy(q) @ weights
    return np.maximum(gain, 0.0)


def mutual_information_closed_form(mu: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Houlsby et al. (2011)'s closed form of the mutual information for a probit
    likelihood, applied to sigma(d) ~ Phi(lambda d); in nats."""
    scaled_mu, scaled_v = PROBIT_SCALE * np.asarray(mu), PROBIT_SCALE ** 2 * np.asarray(v)
    predictive = _normal_cdf(scaled_mu / np.sqrt(1.0 + scaled_v))
    spread = scaled_v + _HOULSBY_C2
    expected_entropy_bits = (np.sqrt(_HOULSBY_C2 / spread)
                             * np.exp(-scaled_mu ** 2 / (2.0 * spread)))
    gain = binary_entropy(predictive) - math.log(2.0) * expected_entropy_bits
    return np.maximum(gain, 0.0)


def expected_kl(var_left: np.ndarray, var_right: np.ndarray, mu: np.ndarray, v: np.ndarray,
                *, reliability: ArrayLike = 1.0, nodes: int = NODES) -> np.ndarray:
    """ASAP's gain: the expected KL divergence from the two items' current Gaussian
    marginals to the ones after an assumed-density-filtering update on the outcome."""
    eta = np.asarray(reliability, dtype=float)
    p_left = answer_probability(mu, v, eta, nodes)
    total = np.zeros(np.broadcast(mu, v, var_left, var_right, eta).shape)
    for sign, chance in ((1.0, p_left), (-1.0, 1.0 - p_left)):
        shift, shrink = _adf_update(sign * mu, v, eta)
        kl = (_kl_after(var_left, v, shift, shrink) + _kl_after(var_right, v, shift, shrink))
        total = total + chance * kl
    return np.maximum(total, 0.0)


def expected_information(mu: np.ndarray, v: np.ndarray, *, reliability: ArrayLike = 1.0,
                         nodes: int = NODES) -> np.ndarray:
    """Expected Fisher information about d from one judgment: E[((2 eta - 1) p (1 - p))^2 /
    (q (1 - q))]; p (1 - p) for a reliable rater. Drives the rank-one posterior updates."""
    eta = np.asarray(reliability, dtype=float)
    points, weights = hermite_rule(nodes)
    d = np.asarray(mu)[..., None] + np.sqrt(np.asarray(v))[..., None] * points
    p = sigmoid(d)
    slope = (2.0 * eta[..., None] - 1.0) * p * (1.0 - p)
    q = np.clip(eta[..., None] * p + (1.0 - eta[..., None]) * (1.0 - p), _EPS, 1.0 - _EPS)
    return (slope ** 2 / (q * (1.0 - q))) @ weights


def variances_after(var_left: ArrayLike, var_right: ArrayLike, information: ArrayLike,
                    covariance: ArrayLike = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The two items' variances after a rank-one precision update h (e_i - e_j)(e_i - e_j)^T
    of the posterior (the diagonal of Sherman-Morrison)."""
    vl, vr = np.asarray(var_left, dtype=float), np.asarray(var_right, dtype=float)
    c, h = np.asarray(covariance, dtype=float), np.asarray(information, dtype=float)
    v = vl + vr - 2.0 * c
    denominator = 1.0 + h * v
    return vl - h * (vl - c) ** 2 / denominator, vr - h * (vr - c) ** 2 / denominator


def _answer_at_nodes(mu: np.ndarray, v: np.ndarray, eta: np.ndarray, nodes: int) -> np.ndarray:
    points, _ = hermite_rule(nodes)
    d = np.asarray(mu)[..., None] + np.sqrt(np.asarray(v))[..., None] * points
    p = sigmoid(d)
    eta = eta[..., None]
    return eta * p + (1.0 - eta) * (1.0 - p)


def _adf_update(mu: np.ndarray, v: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moments of d after observing "left wins" under Phi(lambda d) (flipped with 1 - eta):
    returns (shift of the mean, factor by which v shrinks, in [0, 1])."""
    scale = np.sqrt(1.0 + PROBIT_SCALE ** 2 * v)
    t = PROBIT_SCALE * mu / scale
    cdf, pdf = _normal_cdf(t), _normal_pdf(t)
    likelihood = np.maximum(eta * cdf + (1.0 - eta) * (1.0 - cdf), _EPS)
    ratio = (2.0 * eta - 1.0) * pdf / likelihood  # d log Z / dt
    shift = v * PROBIT_SCALE * ratio / scale
    curvature = ratio * (ratio + t)  # -(d^2 log Z / dt^2)
    shrink = np.clip(1.0 - PROBIT_SCALE ** 2 * v * curvature / scale ** 2, 0.0, 1.0)
    return shift, shrink


def _kl_after(var_item: np.ndarray, v: np.ndarray, shift: np.ndarray, shrink: np.ndarray
              ) -> np.ndarray:
    """KL(new || old) of one item's marginal when d moved by ``shift`` and its variance v
    shrank by ``shrink``: the item carries the share var_item / v of both."""
    share = np.divide(var_item, v, out=np.zeros(np.broadcast(var_item, v).shape),
                      where=v > 0)
    old = np.maximum(var_item, _EPS)
    new = np.maximum(var_item - share * var_item * (1.0 - shrink), _EPS)
    moved = share * shift
    return 0.5 * (new / old + moved ** 2 / old - 1.0 + np.log(old / new))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.asarray(x) ** 2) / math.sqrt(2.0 * math.pi)
