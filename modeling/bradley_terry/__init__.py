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

Example
-------
>>> from modeling.bradley_terry import fit_bradley_terry
>>> result = fit_bradley_terry([0, 1, 2, 0], [1, 2, 0, 2], [1, 1, -1, 0], 3)
>>> result.scores.round(3)
array([ 0.359, -0.134, -0.225])
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
