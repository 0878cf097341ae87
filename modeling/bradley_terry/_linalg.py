"""Solving with the Bradley-Terry Hessian: a weighted graph Laplacian plus a prior.

Three ways, chosen per fit and remembered across Newton iterations (:class:`SolverPlan`):

* ``dense``: Cholesky of the n x n matrix: for up to ``DENSE_MAX`` items on the CPU (where
  O(n^3) beats CG's start-up only for tiny problems) and ``CUDA_DENSE_MAX`` on a GPU.
* ``cg``: conjugate gradients with the Jacobi preconditioner, the first choice otherwise.
  Fast when the comparison graph is well connected (uniformly random pairs: ~15
  iterations at any size); abandoned after ``CG_PATIENCE`` iterations.
* ``direct``: sparse LU (SuperLU with a minimum-degree ordering, through
  :func:`scipy.sparse.linalg.splu`) of the Laplacian. Needed when pairs join near
  neighbours in strength, as active selection produces: the Laplacian is then close to a
  band matrix, badly conditioned (Jacobi-CG needs thousands of iterations) but with very
  little fill. CPU-only: the torch backend moves this one factorization to the CPU
  (below ``CUDA_DENSE_MAX`` items it uses a dense Cholesky on the GPU instead).

With no prior (``alpha = 0``) the Laplacian is singular; the last item is grounded (its
update fixed at 0) and the scores are centred afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeling.bradley_terry._backend import Array, Ops

DENSE_MAX = 100
CUDA_DENSE_MAX = 20000
CG_PATIENCE = 150


class Graph:
    """The comparison rows' item pairs, with fast Laplacian products on the backend."""

    def __init__(self, ops: Ops, first: np.ndarray, second: np.ndarray, n: int) -> None:
        self.ops = ops
        self.n = n
        self.first_np, self.second_np = first, second
        self.first = ops.asarray(first, integer=True)
        self.second = ops.asarray(second, integer=True)
        self._upper: Any = None
        if not ops.is_torch:
            from scipy.sparse import csr_matrix

            order_ok = len(first) < 2 or bool(np.all(first[1:] >= first[:-1]))
            if not order_ok:
                raise ValueError("rows must be sorted by their first item")
            indptr = np.r_[0, np.cumsum(np.bincount(first, minlength=n))]
            self._upper = csr_matrix((np.ones(len(first)), second, indptr), shape=(n, n))

    def _incidence(self) -> tuple[Any, Any]:
        """Signed incidence B (m x n, CSR) and |B| (CPU backend), built once."""
        if getattr(self, "_incidence_cache", None) is None:
            from scipy.sparse import csr_matrix

            m = len(self.first_np)
            columns = np.stack([self.first_np, self.second_np], axis=1).ravel()
            signs = np.tile([1.0, -1.0], m)
            incidence = csr_matrix((signs, columns, np.arange(0, 2 * m + 1, 2)),
                                   shape=(m, self.n))
            absolute = csr_matrix((np.ones(2 * m), columns, incidence.indptr),
                                  shape=(m, self.n))
            self._incidence_cache = (incidence, absolute)
        return self._incidence_cache

    def degree(self, weights: Array) -> Array:
        """Weighted degree (..., n) for row weights (..., m)."""
        if self._upper is not None:
            absolute = self._incidence()[1]
            return absolute.T @ weights if weights.ndim == 1 else weights @ absolute
        ops = self.ops
        return ops.scatter(self.first, weights, self.n) + ops.scatter(self.second, weights,
                                                                       self.n)

    def incidence_t(self, values: Array) -> Array:
        """B^T v: row values (..., m) summed +1 on the first item and -1 on the second."""
        if self._upper is not None:
            incidence = self._incidence()[0]
            if values.ndim == 1:
                return incidence.T @ values
            flat = values.reshape(-1, values.shape[-1])
            return (flat @ incidence).reshape(*values.shape[:-1], self.n)
        ops = self.ops
        return ops.scatter(self.first, values, self.n) - ops.scatter(self.second, values,
                                                                      self.n)

    def difference(self, x: Array) -> Array:
        """B x: x[first] - x[second] for x (..., n)."""
        if self._upper is not None:
            incidence = self._incidence()[0]
            if x.ndim == 1:
                return incidence @ x
            if x.ndim == 2:
                return (incidence @ x.T).T
        return x[..., self.first] - x[..., self.second]

    def matvec(self, weights: Array, diagonal: Array, x: Array) -> Array:
        """L x for one weight vector (m,) and a batch of vectors x (k, n)."""
        if self._upper is not None:
            self._upper.data[:] = weights  # shared with the transpose
            adjacency = (self._upper @ x.T + self._upper.T @ x.T).T
            return diagonal * x - adjacency
        return self.batched_matvec(weights, diagonal, x)

    def batched_matvec(self, weights: Array, diagonal: Array, x: Array) -> Array:
        """L_b x_b with weights (B, m) or (m,), diagonal (B, n) or (n,), x (B, n)."""
        return diagonal * x - self._offdiagonal(weights, x)

    def _offdiagonal(self, weights: Array, x: Array) -> Array:
        ops = self.ops
        return ops.scatter(self.first, weights * x[..., self.second], self.n) \
            + ops.scatter(self.second, weights * x[..., self.first], self.n)

    def dense(self, weights: Array, diagonal: Array) -> Array:
        """The n x n matrix diag(diagonal) - A (A: weighted adjacency)."""
        ops, n = self.ops, self.n
        cells = ops.cat([self.first * n + self.second, self.second * n + self.first,
                         ops.asarray(np.arange(n) * (n + 1), integer=True)])
        values = ops.cat([-weights, -weights, diagonal])
        return ops.scatter(cells, values, n * n).reshape(n, n)

    def sparse_cpu(self, weights: np.ndarray, diagonal: np.ndarray) -> Any:
        from scipy.sparse import coo_matrix

        n = self.n
        rows = np.r_[self.first_np, self.second_np, np.arange(n)]
        cols = np.r_[self.second_np, self.first_np, np.arange(n)]
        return coo_matrix((np.r_[-weights, -weights, diagonal], (rows, cols)),
                          shape=(n, n)).tocsc()


@dataclass
class SolverPlan:
    """The solve method for a fit; starts from size and device, may switch once to direct."""

    method: str
    cg_iterations: int = 0
    switched: bool = False
    history: list[str] = field(default_factory=list)

    @staticmethod
    def initial(ops: Ops, n: int) -> SolverPlan:
        dense_max = CUDA_DENSE_MAX if ops.is_torch and ops.device.type == "cuda" else DENSE_MAX
        return SolverPlan("dense" if n <= dense_max else "cg")


class LaplacianSolver:
    """Solves (L + diag extra) x = b for a batch of right-hand sides b (k, n)."""

    def __init__(self, graph: Graph, weights: Array, diagonal: Array, *, ground: bool,
                 plan: SolverPlan) -> None:
        self.graph, self.weights, self.diagonal = graph, weights, diagonal
        self.ground, self.plan = ground, plan
        self.ops = graph.ops
        self._factor: Any = None
        self._prepare()

    def _prepare(self) -> None:
        ops, plan = self.ops, self.plan
        if plan.method == "dense":
            matrix = self.graph.dense(self.weights, self.diagonal)
            if self.ground:
                matrix = matrix[:-1, :-1]
            self._factor = ops.cholesky(matrix)
        elif plan.method == "direct":
            from scipy.sparse.linalg import splu

            matrix = self.graph.sparse_cpu(ops.to_numpy(self.weights),
                                           ops.to_numpy(self.diagonal))
            if self.ground:
                matrix = matrix[:-1, :-1]
            self._factor = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A",
                                diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def solve(self, rhs: Array, rtol: float = 1e-10) -> Array:
        """x (k, n) with x[:, -1] = 0 when grounded."""
        ops, plan = self.ops, self.plan
        if plan.method == "cg":
            solution = self._solve_cg(rhs, rtol)
            if solution is not None:
                return solution
            plan.method = "dense" if self._dense_ok() else "direct"
            plan.switched = True
            self._prepare()
        body = rhs[:, :-1] if self.ground else rhs
        if plan.method == "dense":
            x = ops.cholesky_solve(self._factor, body.T).T
        else:
            x = ops.asarray(self._factor.solve(np.ascontiguousarray(ops.to_numpy(body).T)).T)
            x = x.reshape(body.shape)
        if self.ground:
            x = ops.cat([x, ops.zeros(x.shape[0], 1)], axis=1)
        return x

    def _dense_ok(self) -> bool:
        ops = self.ops
        return ops.is_torch and ops.device.type == "cuda" and self.graph.n <= CUDA_DENSE_MAX

    def _solve_cg(self, rhs: Array, rtol: float) -> Array | None:
        graph = self.graph
        if self.ground:
            rhs = rhs - rhs.mean(-1)[..., None]
        inverse_diagonal = 1.0 / self.diagonal

        def matvec(x: Array) -> Array:
            return graph.matvec(self.weights, self.diagonal, x)

        x, iterations, ok = conjugate_gradient(self.ops, matvec, lambda r: r * inverse_diagonal,
                                               rhs, rtol=rtol, max_iter=CG_PATIENCE)
        self.plan.cg_iterations += iterations
        if not ok:
            return None
        if self.ground:
            x = x - x[:, -1:]
        return x


def conjugate_gradient(ops: Ops, matvec: Any, precondition: Any, rhs: Array, *,
                       rtol: float, max_iter: int, x0: Array | None = None
                       ) -> tuple[Array, int, bool]:
    """Preconditioned CG on each row of ``rhs`` (k, n) independently (Hestenes-Stiefel)."""
    xp = ops.xp
    x = rhs * 0 if x0 is None else x0
    residual = rhs - matvec(x) if x0 is not None else rhs
    target = rtol * xp.sqrt((rhs * rhs).sum(-1))
    z = precondition(residual)
    direction = z
    rz = (residual * z).sum(-1)
    for iteration in range(1, max_iter + 1):
        product = matvec(direction)
        curvature = (direction * product).sum(-1)
        step = xp.where(curvature > 0, rz / xp.where(curvature > 0, curvature, 1.0), 0.0)
        x = x + step[:, None] * direction
        residual = residual - step[:, None] * product
        if bool((xp.sqrt((residual * residual).sum(-1)) <= target).all()):
            return x, iteration, True
        z = precondition(residual)
        rz_new = (residual * z).sum(-1)
        beta = xp.where(rz > 0, rz_new / xp.where(rz > 0, rz, 1.0), 0.0)
        direction = z + beta[:, None] * direction
        rz = rz_new
    return x, max_iter, False


def bordered_solve(ops: Ops, solver: LaplacianSolver, rhs_s: Array, rhs_phi: Array,
                   border: Array, corner: Array, rtol: float = 1e-10) -> tuple[Array, Array]:
    """Solve [[L, B], [B^T, C]] [x_s; x_phi] = [rhs_s; rhs_phi] by the Schur complement.

    ``rhs_s`` is (n,) or (k, n) and ``rhs_phi`` (q,) or (k, q) for k right-hand sides.
    """
    single = rhs_s.ndim == 1
    rhs_s = rhs_s[None, :] if single else rhs_s
    rhs_phi = rhs_phi[None, :] if single else rhs_phi
    k, q = rhs_s.shape[0], border.shape[1]
    solved = solver.solve(ops.cat([rhs_s, border.T], axis=0), rtol)
    y, columns = solved[:k], solved[k:]
    if q == 0:
        x_s, x_phi = y, rhs_phi
    else:
        schur = corner - columns @ border
        x_phi = ops.solve(schur, (rhs_phi - y @ border).T).T
        x_s = y - x_phi @ columns
    return (x_s[0], x_phi[0]) if single else (x_s, x_phi)
