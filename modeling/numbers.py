"""Numbers on their way out of the math: JSON and CSV have no NaN or infinity."""

from __future__ import annotations

import math
from typing import SupportsFloat


def finite(value: SupportsFloat | None) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
