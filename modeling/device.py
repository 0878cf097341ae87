"""Choosing where and in what precision a fit runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(name: str | None = None) -> torch.device:
    """``None``/"auto": CUDA when present, else CPU. "cuda" without a GPU is an error."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere by default: fits are small enough and the Hessians ill-conditioned."""
    import torch

    return torch.float64
