"""Builds the fit_bradley_terry keyword arguments that the parametrized model variants need."""

from __future__ import annotations

import numpy as np


def variant_kwargs(options: dict, rng: np.random.Generator, m: int, *, n_strength_levels: int,
                   n_raters: int) -> dict:
    """``options`` with ``strength: True`` replaced by random strengths, and random
    ``left_shown`` / ``rater`` columns added when position bias / rater reliability is on."""
    kwargs = dict(options)
    if kwargs.pop("strength", False):
        kwargs.update(strength=rng.integers(1, n_strength_levels + 1, m),
                      n_strength_levels=n_strength_levels)
    if kwargs.get("position_bias"):
        kwargs["left_shown"] = rng.random(m) < 0.5
    if kwargs.get("rater_reliability"):
        kwargs.update(rater=rng.integers(0, n_raters, m), n_raters=n_raters)
    return kwargs
