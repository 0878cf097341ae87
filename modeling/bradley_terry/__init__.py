"""Bradley-Terry models for pairwise judgments (pure numpy/scipy on the CPU, torch on CUDA).

One likelihood on a collapsed edge list, fitted by damped Newton's method:

* plain Bradley & Terry (1952) with a Gaussian prior N(0, 1/alpha) on every score (MAP;
  ``alpha=0`` is maximum likelihood and raises :class:`NotIdentifiedError`, naming the
  items, when the estimate is infinite or not unique);
* ties by the half-win convention (``ties="half"``, as Chatbot Arena and Evalica) or the
  Davidson (1970) model (``ties="davidson"``, tie parameter d);
* graded preference strength 1..S as a cumulative-logit model on the score difference
  (Agresti 1992) with symmetric cut points (``strength``);
* a position bias gamma: P(the item shown on the left wins) = sigma(s_l - s_r + gamma);
* rater reliability (Crowd-BT, Chen et al. 2013; half-win ties only);
* standard errors from the Hessian and a batched bootstrap.

Public API (stable)::

    fit_bradley_terry(left, right, outcome, n_items, *, weights=None, rater=None,
                      n_raters=None, left_shown=None, strength=None, n_strength_levels=None,
                      ties="half", alpha=1.0, position_bias=False, rater_reliability=False,
                      bootstrap=0, seed=0, device=None, max_iter=100, tol=1e-9,
                      replicate_weights=None, rater_prior=(2.0, 2.0), se_probes=256,
                      backend=None) -> BradleyTerryResult
    predict_proba(result, left, right, left_shown=None) -> (m, 3) array
        columns: P(left wins), P(tie), P(right wins)
    outcome_counts(left, right, outcome, n_items, *, weights=None) -> (wins, losses, ties)

Conventions: ``outcome`` is +1 when ``left`` wins, -1 when ``right`` wins, 0 for a tie;
``left_shown`` is True when ``left`` was displayed on the left; ``strength`` is 1..S for
decisive comparisons (ignored for ties). Scores are natural-log strengths centred to mean
0; ``se`` are the standard errors of these centred scores. ``log_likelihood`` excludes the
prior. Identical comparisons are merged into weighted rows before fitting.

Example (0 beats 1, 1 beats 2, 0 beats 2, and 0 ties with 2)
---------------------------------------------------------------
>>> from modeling.bradley_terry import fit_bradley_terry
>>> result = fit_bradley_terry([0, 1, 2, 0], [1, 2, 0, 2], [1, 1, -1, 0], 3)
>>> result.scores.round(3), result.se.round(3)
(array([ 0.458, -0.   , -0.458]), array([0.584, 0.624, 0.584]))

Solvers and devices: the Hessian is a weighted graph Laplacian bordered by the few nuisance
parameters. It is solved by Jacobi-preconditioned conjugate gradients when the comparison
graph is well connected, and by a sparse direct factorization (SuperLU, CPU) when CG
stalls (pairs between near neighbours in strength), so Newton converges in under ~15
steps either way; MM (Boehning's quadratic bound) is the fallback if a Newton step fails.
On the CPU (the default when no NVIDIA driver is present) everything is numpy/scipy and
torch is never imported; on CUDA (``device="cuda"``, or ``None`` with a GPU) the same code
runs on torch tensors, with dense Cholesky solves up to 20,000 items and the sparse direct
solve moved to the CPU beyond. ``backend="torch"`` forces the torch path on any device.

Options beyond the issue's signature: ``replicate_weights`` ((B, N) weights per input
comparison, replacing the multinomial bootstrap, e.g. for a rater-cluster bootstrap),
``rater_prior`` (Beta(a, b) on every eta_k, default (2, 2)), ``se_probes`` (solves for the
randomized standard errors above 3,000 items), ``standard_errors=False`` (skip them), and
``backend``. Result fields beyond the issue's: ``solver`` and ``se_method``.

Priors and identification: ``alpha`` is the precision of the N(0, 1/alpha) prior on every
score (choix's ``opt_pairwise(alpha=a)`` penalises a * ||theta||^2, i.e. our alpha = 2a).
When alpha > 0 the nuisance parameters (gamma, log d, cut points) get a weak N(0, 10^2)
prior so that the MAP always exists; alpha = 0 is plain maximum likelihood throughout and
raises :class:`NotIdentifiedError` for a disconnected or not strongly connected graph, an
item that never loses or never wins, all-tie data under Davidson, or an unused strength
level. A disconnected graph with alpha > 0 gives a :class:`DisconnectedGraphWarning` that
names the components. Davidson without any tie in the data returns d = 0 (its ML).

Bootstrap: multinomial reweighting of the unique comparisons (seeded), all replicates fitted
as batched Newton problems; Crowd-BT replicates keep the full-data eta. With alpha = 0,
replicates without a finite ML estimate are NaN (with a RuntimeWarning).
"""

from modeling.bradley_terry._data import DisconnectedGraphWarning, NotIdentifiedError
from modeling.bradley_terry._fit import (
    BradleyTerryResult,
    fit_bradley_terry,
    outcome_counts,
    predict_proba,
)

__all__ = [
    "BradleyTerryResult",
    "DisconnectedGraphWarning",
    "NotIdentifiedError",
    "fit_bradley_terry",
    "outcome_counts",
    "predict_proba",
]
