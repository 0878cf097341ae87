"""Aggregating categorical labels: Dawid-Skene EM and majority vote with a named tie rule.

Labels come in crowd-kit's long layout as three integer arrays of equal length, one entry per
label given: ``tasks[i]`` (task code), ``workers[i]`` (worker code) and ``labels[i]`` (class
code). A worker may label the same task several times (Dawid & Skene's own data has repeated
ratings); every label counts as an independent draw from that worker's confusion-matrix row.

Dawid-Skene runs in torch on the device asked for (CUDA when present, else CPU, float64):
both EM steps are one sparse (CSR) matrix product with the label counts, as fast as scipy's
on CPU and cuSPARSE's on a GPU. Majority vote is numpy only, so it never imports torch.

References
----------
A. P. Dawid and A. M. Skene (1979). Maximum likelihood estimation of observer error-rates
using the EM algorithm. Journal of the Royal Statistical Society C 28(1), 20-28.

Examples
--------
>>> import numpy as np
>>> tasks = np.array([0, 0, 0, 1, 1, 1])
>>> workers = np.array([0, 1, 2, 0, 1, 2])
>>> labels = np.array([1, 1, 0, 0, 0, 0])
>>> fit = fit_dawid_skene(tasks, workers, labels, device="cpu")
>>> fit.labels.tolist()
[1, 0]
>>> majority_vote(tasks, workers, labels, tie_rule="lowest").labels.tolist()
[1, 0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from modeling.device import default_dtype, resolve_device

if TYPE_CHECKING:
    import torch

TieRule = Literal["random", "lowest", "abstain"]
TIE_RULES: tuple[str, ...] = ("random", "lowest", "abstain")
ABSTAIN = -1
"""Label code of a task left without a label (a tie under ``"abstain"``, or no labels at all)."""


@dataclass(frozen=True, eq=False)
class LabelCodes:
    """Validated long-format labels: integer codes and the sizes of their ranges."""

    tasks: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    n_tasks: int
    n_workers: int
    n_classes: int


def label_codes(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray,
                n_tasks: int | None = None, n_workers: int | None = None,
                n_classes: int | None = None) -> LabelCodes:
    """Check three code arrays and infer the number of tasks, workers and classes.

    Raises ``ValueError`` for empty input, unequal lengths, non-integer or negative codes, or
    a code outside a given range. Sizes default to the largest code plus one.
    """
    arrays = [np.asarray(values) for values in (tasks, workers, labels)]
    names = ("tasks", "workers", "labels")
    if len({array.shape for array in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError("tasks, workers and labels must be 1-d arrays of the same length")
    if arrays[0].size == 0:
        raise ValueError("no labels: tasks, workers and labels are empty")
    sizes = []
    for name, array, size in zip(names, arrays, (n_tasks, n_workers, n_classes), strict=True):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be integer codes, got dtype {array.dtype}")
        low, high = int(array.min()), int(array.max())
        if low < 0:
            raise ValueError(f"{name} codes must be >= 0, got {low}")
        if size is not None and high >= size:
            raise ValueError(f"{name} code {high} is out of range for n_{name} = {size}")
        sizes.append(high + 1 if size is None else int(size))
    tasks_, workers_, labels_ = (array.astype(np.int64, copy=False) for array in arrays)
    return LabelCodes(tasks_, workers_, labels_, *sizes)


def worker_agreement(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray,
                     consensus: np.ndarray, n_workers: int | None = None) -> np.ndarray:
    """Fraction of each worker's labels equal to the consensus label of the task.

    Labels on tasks whose consensus is ``ABSTAIN`` are left out; a worker with no counted
    label gets NaN. Returns an array of shape ``(n_workers,)``.
    """
    data = label_codes(tasks, workers, labels, n_tasks=len(consensus), n_workers=n_workers)
    consensus_of_label = np.asarray(consensus)[data.tasks]
    counted = consensus_of_label != ABSTAIN
    equal = (consensus_of_label == data.labels) & counted
    n_counted = np.bincount(data.workers, weights=counted, minlength=data.n_workers)
    n_equal = np.bincount(data.workers, weights=equal, minlength=data.n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _read_only(n_equal / n_counted)


@dataclass(frozen=True, eq=False)
class MajorityVoteResult:
    """Majority vote per task with the tie rule that produced it.

    Attributes
    ----------
    labels : (n_tasks,) int array
        Winning class per task; ``ABSTAIN`` (-1) for ties under ``"abstain"`` and for tasks
        without labels.
    vote_counts : (n_tasks, n_classes) int array
        Number of labels of each class per task.
    tied : (n_tasks,) bool array
        More than one class has the top count.
    tie_rule : str
        ``"random"`` (uniform among the tied classes, seeded), ``"lowest"`` (the lowest class
        code), or ``"abstain"``.
    seed : int or None
        Seed of the random tie breaks (``None`` unless ``tie_rule == "random"``).
    worker_n_labels : (n_workers,) int array
        Number of labels given by each worker.
    worker_agreement : (n_workers,) float array
        Fraction of each worker's labels equal to the majority label (see `worker_agreement`);
        crowd-kit's ``MajorityVote.skills_`` reports the same quantity as worker skill.
    """

    labels: np.ndarray
    vote_counts: np.ndarray
    tied: np.ndarray
    tie_rule: str
    seed: int | None
    worker_n_labels: np.ndarray
    worker_agreement: np.ndarray

    @property
    def n_ties(self) -> int:
        return int(self.tied.sum())

    @property
    def vote_fractions(self) -> np.ndarray:
        """Share of each class among a task's labels (zeros for a task without labels)."""
        totals = self.vote_counts.sum(axis=1, keepdims=True)
        return self.vote_counts / np.maximum(totals, 1)

    @property
    def confidence(self) -> np.ndarray:
        """Vote share of the top class per task (0 for a task without labels)."""
        return self.vote_fractions.max(axis=1)

    @property
    def choice_probabilities(self) -> np.ndarray:
        """Probability of each class being chosen under uniformly random tie breaking.

        ``1 - choice_probabilities[range(n), gold].mean()`` is the expected error rate of
        majority vote with random ties, the convention of most published MV baselines.
        """
        top = _top_classes(self.vote_counts)
        return top / np.maximum(top.sum(axis=1, keepdims=True), 1)


def majority_vote(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray,
                  n_tasks: int | None = None, n_workers: int | None = None,
                  n_classes: int | None = None, *, tie_rule: TieRule = "random",
                  seed: int = 0) -> MajorityVoteResult:
    """Most frequent label per task, breaking ties by a named rule.

    Parameters
    ----------
    tasks, workers, labels : int arrays of equal length
        One entry per label given (codes from 0).
    n_tasks, n_workers, n_classes : int, optional
        Sizes of the code ranges; default to the largest code plus one.
    tie_rule : {"random", "lowest", "abstain"}
        How to label a task whose top count is shared: uniformly at random among the tied
        classes (seeded by ``seed``), the lowest class code, or ``ABSTAIN``.
    seed : int
        Seed for ``"random"``.
    """
    if tie_rule not in TIE_RULES:
        raise ValueError(f"tie_rule must be one of {TIE_RULES}, got {tie_rule!r}")
    data = label_codes(tasks, workers, labels, n_tasks, n_workers, n_classes)
    counts = np.bincount(data.tasks * data.n_classes + data.labels,
                         minlength=data.n_tasks * data.n_classes)
    counts = counts.reshape(data.n_tasks, data.n_classes)
    top = _top_classes(counts)
    tied = top.sum(axis=1) > 1
    if tie_rule == "random":
        keys = np.random.default_rng(seed).random(counts.shape)
        winners = np.where(top, keys, -1.0).argmax(axis=1)
    else:
        winners = top.argmax(axis=1)  # first True: the lowest tied class code
        if tie_rule == "abstain":
            winners[tied] = ABSTAIN
    winners[counts.sum(axis=1) == 0] = ABSTAIN
    agreement = worker_agreement(data.tasks, data.workers, data.labels, winners, data.n_workers)
    return MajorityVoteResult(labels=_read_only(winners), vote_counts=_read_only(counts),
                              tied=_read_only(tied), tie_rule=tie_rule,
                              seed=seed if tie_rule == "random" else None,
                              worker_n_labels=_read_only(np.bincount(data.workers,
                                                                     minlength=data.n_workers)),
                              worker_agreement=agreement)


def _top_classes(counts: np.ndarray) -> np.ndarray:
    """Boolean mask of the classes with the top count per task (none for empty tasks)."""
    return (counts == counts.max(axis=1, keepdims=True)) & (counts > 0)


@dataclass(frozen=True, eq=False)
class DawidSkeneResult:
    """A Dawid-Skene fit; every array is indexed by integer codes.

    Attributes
    ----------
    posteriors : (n_tasks, n_classes) float array
        P(true class | all labels) per task. A task without labels gets the class priors.
    priors : (n_classes,) float array
        Class marginals (Dawid & Skene's p_j).
    confusion : (n_workers, n_classes, n_classes) float array
        ``confusion[w, k, l]`` = P(worker w answers l | true class k); each row sums to 1.
        A row the data say nothing about (no posterior mass on class k among the worker's
        tasks) is uniform.
    log_likelihood : float
        Marginal log-likelihood log P(labels | priors, confusion) at the returned parameters.
    objective_trace : float array
        The objective at each parameter value EM accepted, in order: the marginal
        log-likelihood, plus the Dirichlet log-prior ``smoothing * sum(log confusion)`` when
        ``smoothing > 0``. It never decreases (up to rounding); its last entry belongs to the
        returned parameters.
    n_iter : int
        Number of E-steps run, rejected extrapolations included (>= len(objective_trace)).
    converged : bool
        Whether the objective gained less than ``tol`` per label before ``max_iter``.
    smoothing : float
        Pseudo-count added to every confusion-matrix cell in the M-step (0: maximum
        likelihood, the published convention).
    worker_n_labels : (n_workers,) int array
        Number of labels given by each worker.
    worker_accuracy : (n_workers,) float array
        Posterior probability that a label from the worker is the true class, averaged over
        the worker's labels. Without smoothing this equals the diagonal of the worker's
        confusion matrix weighted by the posterior class mix of the tasks the worker did.
    worker_agreement : (n_workers,) float array
        Fraction of the worker's labels equal to the Dawid-Skene label of the task.
    device : str
        Where the fit ran.
    """

    posteriors: np.ndarray
    priors: np.ndarray
    confusion: np.ndarray
    log_likelihood: float
    objective_trace: np.ndarray
    n_iter: int
    converged: bool
    smoothing: float
    worker_n_labels: np.ndarray
    worker_accuracy: np.ndarray
    worker_agreement: np.ndarray
    device: str

    @property
    def labels(self) -> np.ndarray:
        """Most probable class per task (ties in the posterior go to the lowest class code)."""
        return self.posteriors.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Posterior probability of the returned label."""
        return self.posteriors.max(axis=1)

    @property
    def worker_accuracy_at_prior(self) -> np.ndarray:
        """P(worker's label is right) on a task drawn from the class priors: sum_k p_k e_kk."""
        return np.einsum("k,wkk->w", self.priors, self.confusion)

    def confusion_matrix(self, worker: int) -> np.ndarray:
        """Rows: true class; columns: the worker's answer (a rater page's table)."""
        return self.confusion[worker]


def fit_dawid_skene(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray,
                    n_tasks: int | None = None, n_workers: int | None = None,
                    n_classes: int | None = None, *, max_iter: int = 1000, tol: float = 1e-10,
                    smoothing: float = 0.0, accelerate: bool = True,
                    device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None) -> DawidSkeneResult:
    """Fit Dawid & Skene's (1979) model by EM: one full confusion matrix per worker.

    EM starts from the vote fractions of each task (an M-step on them gives the first
    parameters), then alternates E- and M-steps. After each pair of plain steps a SQUAREM
    extrapolation (Varadhan & Roland 2008) is tried and kept only if it does not lower the
    objective, so the objective never decreases. It stops when a plain EM step raises the
    marginal log-likelihood (plus the log-prior when smoothing) by less than ``tol`` per label.

    Parameters
    ----------
    tasks, workers, labels : int arrays of equal length
        One entry per label given (codes from 0); repeated labels by a worker on a task
        are allowed and counted independently.
    n_tasks, n_workers, n_classes : int, optional
        Sizes of the code ranges; default to the largest code plus one.
    max_iter : int
        Most EM iterations (E-steps, extrapolated ones included).
    tol : float
        Stop when a plain EM step raises the objective by less than ``tol * len(labels)``.
    smoothing : float
        Dirichlet pseudo-count added to every confusion cell (MAP instead of ML). The
        default 0 matches the published estimates.
    accelerate : bool
        Try SQUAREM jumps (default). ``False`` runs plain EM, to the same fixed point.
    device, dtype
        Torch device (``None``/"auto": CUDA when present) and float type (float64 default).

    Returns
    -------
    DawidSkeneResult

    Notes
    -----
    Maximum likelihood leaves a class that is rarely (or never) used by a worker free in
    that worker's confusion matrix (a uniform row here, as in crowd-kit); a rare class can
    then absorb ambiguous tasks. ``smoothing`` tempers it; the published conventions use none.

    On CPU the steps are small, memory-bound operations: on cores shared with other work,
    torch's intra-op threads slow them down many times over (docs/benchmarks.md); call
    ``torch.set_num_threads(1)`` in such processes.

    References
    ----------
    Dawid & Skene (1979), JRSS C 28(1):20-28. R. Varadhan and C. Roland (2008), Simple and
    globally convergent methods for accelerating the convergence of any EM algorithm,
    Scandinavian Journal of Statistics 35(2):335-353.
    """
    if max_iter < 1 or tol < 0 or smoothing < 0:
        raise ValueError("need max_iter >= 1, tol >= 0 and smoothing >= 0")
    data = label_codes(tasks, workers, labels, n_tasks, n_workers, n_classes)
    where = resolve_device(device)
    dtype = dtype or default_dtype(where)
    last, trace, n_iter, converged = _em(data, max_iter=max_iter, tol=tol, smoothing=smoothing,
                                         accelerate=accelerate, device=where, dtype=dtype)
    return _result(data, last, trace=trace, n_iter=n_iter, converged=converged,
                   smoothing=smoothing, device=str(where))


Params = tuple["torch.Tensor", "torch.Tensor"]
"""Class priors (K,) and the answer table (n_workers * K, K): row ``w * K + l``, column ``k``
holds P(worker w answers l | true class k), the layout both EM steps index directly."""


@dataclass(frozen=True, eq=False)
class _Labels:
    """The labels on the device as two sparse count matrices (CSR), one per EM step.

    ``by_task[t, w * K + l]`` counts the labels ``l`` worker ``w`` gave task ``t`` (tasks
    renumbered to those with labels); ``by_answer`` is its transpose, stored as CSR too. The
    E-step is ``by_task @ log(table)`` and the M-step ``by_answer @ posteriors``: sparse
    products are several times faster than gathering one row per label and scatter-adding.
    """

    by_task: torch.Tensor
    by_answer: torch.Tensor
    n_labelled: int
    n_workers: int
    n_classes: int
    smoothing: float


@dataclass(frozen=True, eq=False)
class _Evaluation:
    """One application of the EM map: the E-step at ``point`` and the M-step after it."""

    point: Params
    posteriors: torch.Tensor
    log_likelihood: float
    objective: float
    image: Params


def _em(data: LabelCodes, *, max_iter: int, tol: float, smoothing: float, accelerate: bool,
        device: torch.device, dtype: torch.dtype) -> tuple[_Evaluation, list[float], int, bool]:
    """EM from the vote fractions on the tasks that have labels; returns the last accepted
    evaluation, the objective trace, the number of E-steps and whether it converged."""
    import torch

    present = np.bincount(data.tasks, minlength=data.n_tasks) > 0
    task = (np.cumsum(present) - 1)[data.tasks]
    labels = _labels_on_device(data, task, n_labelled=int(present.sum()), smoothing=smoothing,
                               device=device, dtype=dtype)
    k = data.n_classes
    votes = np.bincount(task * k + data.labels, minlength=labels.n_labelled * k)
    votes = torch.as_tensor(votes.reshape(-1, k), dtype=dtype, device=device)
    start = _m_step(votes / votes.sum(dim=1, keepdim=True), labels)
    return _iterate(start, labels, max_iter=max_iter, budget=tol * len(data.labels),
                    accelerate=accelerate)


def _labels_on_device(data: LabelCodes, task: np.ndarray, *, n_labelled: int, smoothing: float,
                      device: torch.device, dtype: torch.dtype) -> _Labels:
    """Count the (task, worker answer) pairs into the two CSR matrices of `_Labels` (scipy's
    linear-time conversions: duplicates summed, indices sorted, so sums are deterministic)."""
    from scipy.sparse import coo_matrix

    n_answers = data.n_workers * data.n_classes
    answer = data.workers * data.n_classes + data.labels
    by_task = coo_matrix((np.ones(len(task)), (task, answer)),
                         shape=(n_labelled, n_answers)).tocsr()
    by_task.sum_duplicates()
    return _Labels(by_task=_torch_csr(by_task, device, dtype),
                   by_answer=_torch_csr(by_task.T.tocsr(), device, dtype),
                   n_labelled=n_labelled, n_workers=data.n_workers, n_classes=data.n_classes,
                   smoothing=smoothing)


def _torch_csr(matrix: object, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A torch CSR tensor with the structure and values of a scipy CSR matrix."""
    import warnings

    import torch

    with warnings.catch_warnings():  # "sparse CSR support is in beta": we use only mm
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(matrix.indptr.astype(np.int64), device=device),
            torch.as_tensor(matrix.indices.astype(np.int64), device=device),
            torch.as_tensor(matrix.data, dtype=dtype, device=device), matrix.shape,
            check_invariants=True)


def _iterate(start: Params, labels: _Labels, *, max_iter: int, budget: float,
             accelerate: bool) -> tuple[_Evaluation, list[float], int, bool]:
    """Plain EM steps, each followed (when accelerating) by a SQUAREM jump.

    Convergence is judged on a plain EM step: it gains less than ``budget``. Every
    evaluation kept in the trace has an objective at least that of the one before.
    """
    here = _evaluate(start, labels)
    trace, used, step_max = [here.objective], 1, 1.0
    while used < max_iter:
        there = _evaluate(here.image, labels)
        trace.append(there.objective)
        used += 1
        if there.objective - here.objective < budget:
            return there, trace, used, True
        if accelerate and used + 2 <= max_iter:
            jump, spent, step_max = _squarem_jump(here.point, there, labels, step_max)
            used += spent
            trace.append(jump.objective)
            here = jump
        else:
            here = there
    return here, trace, used, False


def _squarem_jump(origin: Params, there: _Evaluation, labels: _Labels,
                  step_max: float) -> tuple[_Evaluation, int, float]:
    """Extrapolate two EM steps origin -> there.point -> there.image (SQUAREM, scheme S3 of
    Varadhan & Roland 2008) with their adaptive cap on the step length.

    A jump that would lower the objective is replaced by the plain second EM step
    ``there.image``, which cannot; returns the evaluation kept, the evaluations spent and
    the new cap (times 4 after a full-length success, divided by 4 after a failure).
    """
    first = [after - before for after, before in zip(there.point, origin, strict=True)]
    second = [image - 2 * after + before
              for image, after, before in zip(there.image, there.point, origin, strict=True)]
    first_norm = sum(float((part * part).sum()) for part in first)
    second_norm = sum(float((part * part).sum()) for part in second)
    ratio = math.sqrt(first_norm / second_norm) if second_norm > 0 else 1.0
    step = min(max(ratio, 1.0), step_max)
    if step > 1.0:
        jump = _evaluate(_project(tuple(
            before + 2 * step * delta + step**2 * curve
            for before, delta, curve in zip(origin, first, second, strict=True))), labels)
        if jump.objective >= there.objective:
            return jump, 1, step_max * 4 if step == step_max else step_max
        return _evaluate(there.image, labels), 2, max(1.0, step_max / 4)
    return _evaluate(there.image, labels), 1, step_max * 4 if step == step_max else step_max


def _project(point: Params) -> Params:
    """Clip an extrapolated point back onto the probability simplices."""
    priors, table = (part.clamp_min(0) for part in point)
    n_classes = priors.shape[0]
    by_worker = table.view(-1, n_classes, n_classes)
    by_worker = by_worker / by_worker.sum(dim=1, keepdim=True)
    return priors / priors.sum(), by_worker.view(-1, n_classes)


def _evaluate(point: Params, labels: _Labels) -> _Evaluation:
    """One EM map: E-step at ``point`` (posteriors, objective), then the M-step image."""
    import torch

    posteriors, log_likelihood = _e_step(point, labels)
    objective = log_likelihood
    if labels.smoothing > 0:  # EM then maximises the posterior: add the Dirichlet log-prior
        objective += labels.smoothing * float(torch.log(point[1]).sum())
    return _Evaluation(point=point, posteriors=posteriors, log_likelihood=log_likelihood,
                       objective=objective, image=_m_step(posteriors, labels))


def _m_step(posteriors: torch.Tensor, labels: _Labels) -> Params:
    """Class priors and answer table maximising the EM bound (Dawid & Skene, eq. 2.3-2.4)."""
    import torch

    k = labels.n_classes
    counts = torch.sparse.mm(labels.by_answer, posteriors)
    counts = counts.view(labels.n_workers, k, k) + labels.smoothing
    totals = counts.sum(dim=1, keepdim=True)  # per worker and true class
    table = torch.where(totals > 0, counts / totals.clamp_min(1e-300), 1.0 / k)
    return posteriors.mean(dim=0), table.view(-1, k)


def _e_step(point: Params, labels: _Labels) -> tuple[torch.Tensor, float]:
    """Posteriors of the labelled tasks and the marginal log-likelihood of all labels."""
    import torch

    priors, table = point
    # log 0 = -inf is fine: the classes the previous posteriors supported stay finite
    scores = torch.sparse.mm(labels.by_task, torch.log(table)).add_(torch.log(priors))
    top = scores.amax(dim=1, keepdim=True)
    joint = scores.sub_(top).exp_()  # P(labels, class) / exp(top), in place
    total = joint.sum(dim=1, keepdim=True)
    log_likelihood = float((total.log() + top).sum())
    return joint.div_(total), log_likelihood


def _result(data: LabelCodes, last: _Evaluation, *, trace: list[float], n_iter: int,
            converged: bool, smoothing: float, device: str) -> DawidSkeneResult:
    """Move the last accepted evaluation to numpy, indexed by the caller's codes."""
    priors, table = (part.cpu().numpy() for part in last.point)
    labelled = np.bincount(data.tasks, minlength=data.n_tasks) > 0
    posteriors = np.broadcast_to(priors, (data.n_tasks, data.n_classes)).copy()
    posteriors[labelled] = last.posteriors.cpu().numpy()
    n_labels = np.bincount(data.workers, minlength=data.n_workers)
    right = np.bincount(data.workers, weights=posteriors[data.tasks, data.labels],
                        minlength=data.n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = right / n_labels
    consensus = np.where(labelled, posteriors.argmax(axis=1), ABSTAIN)
    confusion = table.reshape(data.n_workers, data.n_classes, data.n_classes).transpose(0, 2, 1)
    return DawidSkeneResult(
        posteriors=_read_only(posteriors), priors=_read_only(priors),
        confusion=_read_only(np.ascontiguousarray(confusion)),
        log_likelihood=last.log_likelihood, objective_trace=_read_only(np.asarray(trace)),
        n_iter=n_iter, converged=converged, smoothing=smoothing,
        worker_n_labels=_read_only(n_labels), worker_accuracy=_read_only(accuracy),
        worker_agreement=worker_agreement(data.tasks, data.workers, data.labels, consensus,
                                          data.n_workers),
        device=device)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
