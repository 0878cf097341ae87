"""Array operations for the two backends: numpy/scipy on the CPU, torch on CUDA.

The CPU path uses numpy and scipy because their scatter (``np.bincount``) and sparse
matrix-vector products are several times faster than torch's CPU kernels on the row
counts we meet (1M-10M comparisons), and because it lets the command line skip the
one-second ``import torch``. The torch backend runs the same code on any torch device;
the tests run it on the CPU against the numpy backend, so the CUDA path is exercised by
construction (same operations, same order). Only scipy's sparse direct solve
(:mod:`modeling.bradley_terry._linalg`) is CPU-only; the torch backend moves that one
solve to the CPU when it is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor


def cuda_possible() -> bool:
    """Cheap test for an NVIDIA driver, so that CPU-only machines never import torch."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def backend_for(device: str | None, backend: str | None = None) -> Ops:
    """Pick the backend: ``device=None`` means CUDA when present, else the numpy CPU path.

    ``backend="torch"`` forces the torch code path (on the CPU when ``device`` is ``"cpu"``);
    the tests use it to check the CUDA code path on machines without a GPU.
    """
    if backend not in (None, "numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', not {backend!r}")
    if device in (None, "auto"):
        if backend != "torch" and not cuda_possible():
            return NumpyOps()
        from modeling.device import resolve_device

        resolved = resolve_device(None)
    elif str(device).startswith("cpu") and backend != "torch":
        return NumpyOps()
    else:
        from modeling.device import resolve_device

        resolved = resolve_device(str(device))
    if resolved.type == "cpu" and backend != "torch":
        return NumpyOps()
    return TorchOps(resolved)


def sigmoid_and_log(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sigma(x) and log sigma(x) (numpy): one exp and one log, stable for any x."""
    if x.size and max(float(x.max()), -float(x.min())) < 700:  # exp(-x) cannot overflow
        one_plus = np.negative(x)
        np.exp(one_plus, out=one_plus)
        one_plus += 1.0
        log_sigma = np.log(one_plus)
        np.negative(log_sigma, out=log_sigma)
        return np.reciprocal(one_plus, out=one_plus), log_sigma
    z = np.exp(-np.abs(x))
    sigma = np.where(x >= 0, 1.0, z) / (1.0 + z)
    return sigma, np.minimum(x, 0.0) - np.log1p(z)


@dataclass
class NumpyOps:
    """numpy/scipy backend (CPU, float64)."""

    name: str = "cpu"
    xp: Any = field(default=np, repr=False)
    is_torch: bool = False

    def asarray(self, values: Any, *, integer: bool = False) -> np.ndarray:
        return np.asarray(values, dtype=np.int64 if integer else np.float64)

    def to_numpy(self, values: Array) -> np.ndarray:
        return np.asarray(values)

    def zeros(self, *shape: int) -> np.ndarray:
        return np.zeros(shape)

    def sigmoid(self, x: Array) -> Array:
        z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0, z) / (1.0 + z)

    def log_sigmoid(self, x: Array) -> Array:
        return self.sigmoid_and_log(x)[1]

    def sigmoid_and_log(self, x: Array) -> tuple[Array, Array]:
        return sigmoid_and_log(x)

    def scatter(self, index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
        """Sum ``values`` (..., m) into ``size`` bins by ``index`` (m,) on the last axis."""
        if values.ndim == 1:
            return np.bincount(index, values, size)
        lead = values.shape[:-1]
        flat = values.reshape(-1, values.shape[-1])
        offsets = (np.arange(flat.shape[0]) * size)[:, None]
        summed = np.bincount((index[None, :] + offsets).ravel(), flat.ravel(),
                             flat.shape[0] * size)
        return summed.reshape(*lead, size)

    def cholesky(self, matrix: Array) -> Array:
        return np.linalg.cholesky(matrix)

    def cholesky_solve(self, factor: Array, rhs: Array) -> Array:
        """Solve ``(L L^T) x = rhs`` for rhs (..., n, k)."""
        from scipy.linalg import cho_solve

        return cho_solve((factor, True), rhs, check_finite=False)

    def solve(self, matrix: Array, rhs: Array) -> Array:
        return np.linalg.solve(matrix, rhs)

    def cholesky_inverse(self, matrix: Array) -> Array:
        """Inverse of a symmetric positive definite matrix (LAPACK potrf + potri)."""
        from scipy.linalg import lapack

        factor, info = lapack.dpotrf(matrix, lower=True)
        if info != 0:
            return np.linalg.pinv(matrix, hermitian=True)
        inverse, info = lapack.dpotri(factor, lower=True)
        return np.tril(inverse) + np.tril(inverse, -1).T

    def inverse_cholesky_factor(self, matrix: Array) -> Array:
        """L^-1 for matrix = L L^T (potrf + trtri): diag(matrix^-1) = column sums of L^-2."""
        from scipy.linalg import lapack

        factor, info = lapack.dpotrf(matrix, lower=True, clean=True)
        if info != 0:
            raise np.linalg.LinAlgError("the Hessian is not positive definite")
        inverse, info = lapack.dtrtri(factor, lower=True)
        return inverse

    def inv(self, matrix: Array) -> Array:
        return np.linalg.inv(matrix)

    def cat(self, parts: list[Array], axis: int = -1) -> Array:
        return np.concatenate(parts, axis=axis)

    def stack(self, parts: list[Array], axis: int = 0) -> Array:
        return np.stack(parts, axis=axis)

    def eye(self, n: int) -> Array:
        return np.eye(n)

    def item(self, value: Array) -> float:
        return float(value)

    def max_abs(self, values: Array) -> Array:
        """Largest absolute value along the last axis."""
        return np.abs(values).max(-1)


class TorchOps:
    """torch backend on any device (float64)."""

    is_torch = True

    def __init__(self, device: Any) -> None:
        import torch

        self.torch = torch
        self.xp = torch
        self.device = torch.device(device)
        self.name = str(self.device) if self.device.type == "cpu" else f"{self.device}"

    def asarray(self, values: Any, *, integer: bool = False) -> Any:
        torch = self.torch
        dtype = torch.int64 if integer else torch.float64
        if isinstance(values, torch.Tensor):
            return values.to(device=self.device, dtype=dtype)
        return torch.as_tensor(np.asarray(values), dtype=dtype, device=self.device)

    def to_numpy(self, values: Array) -> np.ndarray:
        if isinstance(values, self.torch.Tensor):
            return values.detach().cpu().numpy()
        return np.asarray(values)

    def zeros(self, *shape: int) -> Any:
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def sigmoid(self, x: Array) -> Array:
        return self.torch.sigmoid(x)

    def log_sigmoid(self, x: Array) -> Array:
        return self.torch.nn.functional.logsigmoid(x)

    def sigmoid_and_log(self, x: Array) -> tuple[Array, Array]:
        return self.torch.sigmoid(x), self.torch.nn.functional.logsigmoid(x)

    def scatter(self, index: Any, values: Any, size: int) -> Any:
        out = self.torch.zeros((*values.shape[:-1], size), dtype=values.dtype,
                               device=values.device)
        return out.index_add_(-1, index, values)

    def cholesky(self, matrix: Array) -> Array:
        return self.torch.linalg.cholesky(matrix)

    def cholesky_solve(self, factor: Array, rhs: Array) -> Array:
        return self.torch.cholesky_solve(rhs, factor)

    def solve(self, matrix: Array, rhs: Array) -> Array:
        return self.torch.linalg.solve(matrix, rhs)

    def inverse_cholesky_factor(self, matrix: Array) -> Array:
        torch = self.torch
        factor = torch.linalg.cholesky(matrix)
        identity = torch.eye(len(matrix), dtype=matrix.dtype, device=matrix.device)
        return torch.linalg.solve_triangular(factor, identity, upper=False)

    def cholesky_inverse(self, matrix: Array) -> Array:
        factor, info = self.torch.linalg.cholesky_ex(matrix)
        if int(info) != 0:
            return self.torch.linalg.pinv(matrix, hermitian=True)
        return self.torch.cholesky_inverse(factor)

    def inv(self, matrix: Array) -> Array:
        return self.torch.linalg.inv(matrix)

    def cat(self, parts: list[Array], axis: int = -1) -> Array:
        return self.torch.cat(parts, dim=axis)

    def stack(self, parts: list[Array], axis: int = 0) -> Array:
        return self.torch.stack(parts, dim=axis)

    def eye(self, n: int) -> Array:
        return self.torch.eye(n, dtype=self.torch.float64, device=self.device)

    def item(self, value: Array) -> float:
        return float(value)

    def max_abs(self, values: Array) -> Array:
        return values.abs().amax(-1)


Ops = NumpyOps | TorchOps
