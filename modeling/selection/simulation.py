"""Simulated items and raters for testing selection strategies (no app code).

* :func:`hidden_strengths`: true Bradley-Terry scores, N(0, sd^2).
* :class:`SimulatedRater`: answers a pair by the model with probability ``reliability``
  and flips a fair coin otherwise (Crowd-BT's random clicker has reliability 0); with
  ``consistency`` < 1 it also forgets: a repeat of a pair is answered afresh.
* :func:`rater_panel`: ``n`` raters, a ``random_share`` of them random clickers.
* :func:`kendall_tau`: rank agreement of an estimate with the truth.
* Fine-grained: :func:`true_labels`, :func:`confusion_rater` and :func:`simulate_label`.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> truth = hidden_strengths(5, rng=rng)
>>> panel = rater_panel(4, random_share=0.25, rng=rng)
>>> [rater.reliability for rater in panel]
[1.0, 1.0, 1.0, 0.0]
>>> panel[0].answer(truth[0], truth[1], rng) in (1, -1)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def hidden_strengths(n: int, *, sd: float = 1.5, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, sd, size=n)


@dataclass(frozen=True)
class SimulatedRater:
    """``reliability``: P(answering by the model); otherwise a fair coin."""

    reliability: float = 1.0

    @property
    def is_random_clicker(self) -> bool:
        return self.reliability == 0.0

    def answer(self, strength_left: float, strength_right: float,
               rng: np.random.Generator) -> int:
        """+1 when the left item wins, -1 when the right one does."""
        if rng.random() >= self.reliability:
            return 1 if rng.random() < 0.5 else -1
        p_left = 1.0 / (1.0 + np.exp(-(strength_left - strength_right)))
        return 1 if rng.random() < p_left else -1


def rater_panel(n: int, *, random_share: float, rng: np.random.Generator,
                reliability: float = 1.0) -> list[SimulatedRater]:
    """``n`` raters; the last round(random_share * n) click at random."""
    clickers = round(random_share * n)
    del rng  # the panel is fixed by its sizes; randomness lives in the answers
    return [SimulatedRater(reliability) for _ in range(n - clickers)] + [
        SimulatedRater(0.0) for _ in range(clickers)]


def kendall_tau(estimate: np.ndarray, truth: np.ndarray) -> float:
    from scipy.stats import kendalltau

    value = kendalltau(np.asarray(estimate), np.asarray(truth)).statistic
    return 0.0 if value is None or np.isnan(value) else float(value)


def true_labels(n: int, *, n_classes: int, rng: np.random.Generator,
                prior: np.ndarray | None = None) -> np.ndarray:
    return rng.choice(n_classes, size=n, p=prior)


def confusion_rater(n_classes: int, accuracy: float) -> np.ndarray:
    """A confusion matrix: right with ``accuracy``, else uniformly one of the other classes
    (accuracy 1 / n_classes is a random clicker)."""
    off = (1.0 - accuracy) / (n_classes - 1)
    matrix = np.full((n_classes, n_classes), off)
    np.fill_diagonal(matrix, accuracy)
    return matrix


def simulate_label(confusion: np.ndarray, true_class: int, rng: np.random.Generator) -> int:
    return int(rng.choice(len(confusion), p=confusion[true_class]))
