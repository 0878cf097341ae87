"""Policy numbers: thresholds and cadences the product chooses (not the math's).

Their values live in one place, ``feedback/settings.py`` ("Policy" section, each one an
environment variable); this module hands them out typed. Templates receive them as
context (``policy``), so what a page says matches what the code does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class FitPolicy:
    rater_flag_below: float  # Crowd-BT eta below this: the rater is flagged on the dashboard
    rater_min_judgments: int  # Crowd-BT waits for two raters with this many judgments
    evaluation_min_data: int  # fewer judgments: no cross-validated evaluation
    evaluation_max_data: int  # more judgments: no evaluation (about 30 extra fits)
    evaluation_growth: float  # re-evaluate when the data grew by this fraction


def fit_policy() -> FitPolicy:
    return FitPolicy(
        rater_flag_below=settings.FIT_RATER_FLAG_BELOW,
        rater_min_judgments=settings.FIT_RATER_MIN_JUDGMENTS,
        evaluation_min_data=settings.FIT_EVALUATION_MIN_DATA,
        evaluation_max_data=settings.FIT_EVALUATION_MAX_DATA,
        evaluation_growth=settings.FIT_EVALUATION_GROWTH)


def quality_gate_proposals() -> dict[str, tuple[str, float]]:
    """What the quality-gate form proposes per signal: (comparison, threshold)."""
    return {signal: (comparison, float(threshold))
            for signal, (comparison, threshold) in settings.QUALITY_GATE_PROPOSALS.items()}
