"""Aggregating categorical labels: Dawid-Skene EM and majority vote with a named tie rule.

Labels come in crowd-kit's long layout as three integer arrays of equal length, one entry per
label given: ``tasks[i]`` (task code), ``workers[i]`` (worker code) and ``labels[i]`` (class
code). A worker may label the same task several times (Dawid & Skene's own data has repeated
ratings); every label counts as an independent draw from that worker's confusion-matrix row.

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
    objective_trace : (n_iter,) float array
        The objective after each EM iteration: the marginal log-likelihood, plus the Dirichlet
        log-prior ``smoothing * sum(log confusion)`` when ``smoothing > 0``. EM never
        decreases it (up to rounding).
    n_iter : int
        Number of EM iterations (E-steps) run.
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
                    smoothing: float = 0.0, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None) -> DawidSkeneResult:
    """Fit Dawid & Skene's (1979) model by EM: one full confusion matrix per worker.

    EM starts from the vote fractions of each task (an M-step on them gives the first
    parameters), then alternates E- and M-steps. It stops when the marginal log-likelihood
    (plus the log-prior when smoothing) gains less than ``tol`` per label in one iteration.

    Parameters
    ----------
    tasks, workers, labels : int arrays of equal length
        One entry per label given (codes from 0); repeated labels by a worker on a task
        are allowed and counted independently.
    n_tasks, n_workers, n_classes : int, optional
        Sizes of the code ranges; default to the largest code plus one.
    max_iter : int
        Most EM iterations.
    tol : float
        Stop when one iteration raises the objective by less than ``tol * len(labels)``.
    smoothing : float
        Dirichlet pseudo-count added to every confusion cell (MAP instead of ML). The
        default 0 matches the published estimates.
    device, dtype
        Torch device (``None``/"auto": CUDA when present) and float type (float64 default).

    Returns
    -------
    DawidSkeneResult
    """
    if max_iter < 1 or tol < 0 or smoothing < 0:
        raise ValueError("need max_iter >= 1, tol >= 0 and smoothing >= 0")
    data = label_codes(tasks, workers, labels, n_tasks, n_workers, n_classes)
    where = resolve_device(device)
    dtype = dtype or default_dtype(where)
    state = _em(data, max_iter=max_iter, tol=tol, smoothing=smoothing, device=where,
                dtype=dtype)
    return _result(data, state, smoothing=smoothing, device=str(where))


@dataclass(frozen=True, eq=False)
class _EMState:
    posteriors: np.ndarray  # labelled tasks only, in task-code order
    labelled: np.ndarray  # (n_tasks,) bool: the task has at least one label
    priors: np.ndarray
    confusion: np.ndarray
    log_likelihood: float
    trace: list[float]
    converged: bool


def _em(data: LabelCodes, *, max_iter: int, tol: float, smoothing: float,
        device: torch.device, dtype: torch.dtype) -> _EMState:
    """The EM loop on the tasks that have labels; all tensors live on ``device``."""
    import torch

    present = np.bincount(data.tasks, minlength=data.n_tasks) > 0
    compact = np.cumsum(present) - 1
    n_classes = data.n_classes
    task = torch.as_tensor(compact[data.tasks], device=device)
    # one row per (worker, answer): the M-step sums posteriors into it, the E-step reads it
    answer = torch.as_tensor(data.workers * n_classes + data.labels, device=device)
    posteriors = torch.zeros(int(present.sum()), n_classes, dtype=dtype, device=device)
    posteriors.index_put_((task, torch.as_tensor(data.labels, device=device)),
                          torch.ones((), dtype=dtype, device=device), accumulate=True)
    posteriors /= posteriors.sum(dim=1, keepdim=True)
    budget = tol * len(data.labels)
    trace: list[float] = []
    converged = False
    for _ in range(max_iter):
        priors, confusion = _m_step(posteriors, task, answer, data.n_workers, smoothing)
        posteriors, log_likelihood = _e_step(priors, confusion, task, answer,
                                             n_labelled=posteriors.shape[0])
        objective = log_likelihood
        if smoothing > 0:
            objective += smoothing * float(torch.log(confusion).sum())
        trace.append(objective)
        if len(trace) > 1 and trace[-1] - trace[-2] < budget:
            converged = True
            break
    return _EMState(posteriors=posteriors.cpu().numpy(), labelled=present,
                    priors=priors.cpu().numpy(), confusion=confusion.cpu().numpy(),
                    log_likelihood=log_likelihood, trace=trace, converged=converged)


def _m_step(posteriors: torch.Tensor, task: torch.Tensor, answer: torch.Tensor,
            n_workers: int, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Class priors and confusion matrices ``[worker, true, answer]`` maximising the EM bound."""
    import torch

    n_classes = posteriors.shape[1]
    counts = torch.zeros(n_workers * n_classes, n_classes, dtype=posteriors.dtype,
                         device=posteriors.device)
    counts.index_add_(0, answer, posteriors[task])
    counts = counts.view(n_workers, n_classes, n_classes).transpose(1, 2) + smoothing
    totals = counts.sum(dim=2, keepdim=True)
    confusion = torch.where(totals > 0, counts / totals.clamp_min(1e-300), 1.0 / n_classes)
    return posteriors.mean(dim=0), confusion


def _e_step(priors: torch.Tensor, confusion: torch.Tensor, task: torch.Tensor,
            answer: torch.Tensor, *, n_labelled: int) -> tuple[torch.Tensor, float]:
    """Posteriors of the labelled tasks and the marginal log-likelihood of all labels."""
    import torch

    n_classes = priors.shape[0]
    # log P(answer | true) as rows (worker, answer) x columns true class; log 0 = -inf is fine:
    # some class always keeps a finite score (the ones the previous posterior supported)
    log_answer = torch.log(confusion).transpose(1, 2).reshape(-1, n_classes)
    scores = torch.log(priors).expand(n_labelled, n_classes).clone()
    scores.index_add_(0, task, log_answer[answer])
    evidence = torch.logsumexp(scores, dim=1, keepdim=True)
    return torch.exp(scores - evidence), float(evidence.sum())


def _result(data: LabelCodes, state: _EMState, *, smoothing: float,
            device: str) -> DawidSkeneResult:
    posteriors = np.broadcast_to(state.priors, (data.n_tasks, data.n_classes)).copy()
    posteriors[state.labelled] = state.posteriors
    n_labels = np.bincount(data.workers, minlength=data.n_workers)
    right = np.bincount(data.workers, weights=posteriors[data.tasks, data.labels],
                        minlength=data.n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = right / n_labels
    agreement = worker_agreement(data.tasks, data.workers, data.labels,
                                 np.where(state.labelled, posteriors.argmax(axis=1), ABSTAIN),
                                 data.n_workers)
    return DawidSkeneResult(
        posteriors=_read_only(posteriors), priors=_read_only(state.priors),
        confusion=_read_only(state.confusion), log_likelihood=state.log_likelihood,
        objective_trace=_read_only(np.asarray(state.trace)), n_iter=len(state.trace),
        converged=state.converged, smoothing=smoothing, worker_n_labels=_read_only(n_labels),
        worker_accuracy=_read_only(accuracy), worker_agreement=agreement, device=device)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
