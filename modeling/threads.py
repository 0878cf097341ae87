"""How many threads one fit may use, set once per process before the math loads."""

from __future__ import annotations

import os
import sys

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def fit_threads() -> int:
    """``FIT_THREADS`` or every core (oversubscribing busy cores slows fits 10-40x, so set
    it to cores / concurrency on shared hosts)."""
    raw = os.environ.get("FIT_THREADS", "").strip()
    return max(1, int(raw)) if raw else max(1, os.cpu_count() or 1)


def limit_threads() -> int:
    """Cap BLAS/OpenMP threads (numpy and torch read these variables when they load) and,
    when torch is loaded already, torch's own pool. Never imports torch. Returns the cap."""
    threads = fit_threads()
    for name in BLAS_VARIABLES:
        os.environ.setdefault(name, str(threads))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
