"""Query selection: which judgment teaches the models most, next (pure numpy/torch).

From the current posterior (scores and their variances, rater reliability, the pairs
judged so far) to a ranked plan of tasks with the probability each has of being served:

* :mod:`~modeling.selection.gain`: expected information gain of a pair under a Gaussian
  (Laplace) posterior on Bradley-Terry scores: Hybrid-MST's mutual information by
  Gauss-Hermite quadrature (default), a closed form, and ASAP's expected KL divergence;
  Crowd-BT's rater-aware form (a random clicker teaches nothing).
* :mod:`~modeling.selection.candidates`: every pair of a group scored up to ~5,000 items
  (torch blocks, on a GPU when asked for), pruned beyond (never O(n^2)).
* :mod:`~modeling.selection.batch`: diverse batches: greedy with rank-one posterior updates,
  or Hybrid-MST's maximum spanning trees.
* :mod:`~modeling.selection.bandits`: Double Thompson Sampling and RUCB for "find the best",
  with weak / strong / average regret and Copeland winners.
* :mod:`~modeling.selection.fine_grained`: uncertainty sampling of fine-grained items
  (Dawid-Skene posterior entropy, facets standard errors) with adaptive overlap.
* :mod:`~modeling.selection.plan`: the plan for a goal (``rank_items``, ``rank_sources``,
  ``find_best``) and a strategy (``random``, ``fewest``, ``info_gain``, ``best_arm``).
* :mod:`~modeling.selection.stopping`: how settled the goal is and roughly how many more
  judgments it needs.
* :mod:`~modeling.selection.simulation`: hidden strengths and simulated raters (including
  random clickers) for simulations and tests.

Nothing here knows about the web app: the worker hands arrays in and writes the plan.
"""

from modeling.selection.candidates import Posterior
from modeling.selection.fine_grained import ItemPlan, plan_items
from modeling.selection.gain import pair_gain
from modeling.selection.plan import GOALS, STRATEGIES, PairPlan, PairwiseState, plan_pairwise
from modeling.selection.stopping import StoppingEstimate, stopping_estimate

__all__ = [
    "GOALS",
    "STRATEGIES",
    "ItemPlan",
    "PairPlan",
    "PairwiseState",
    "Posterior",
    "StoppingEstimate",
    "pair_gain",
    "plan_items",
    "plan_pairwise",
    "stopping_estimate",
]
