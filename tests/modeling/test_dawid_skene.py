"""Dawid-Skene EM and majority vote: published numbers, a peer (crowd-kit), recovery, edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from modeling.dawid_skene import (
    ABSTAIN,
    fit_dawid_skene,
    majority_vote,
    worker_agreement,
)

DATA = Path(__file__).resolve().parent.parent / "data"


def load_snow(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Snow et al. (2008) labels as codes: tasks, workers, labels (0-based), gold per task."""
    frame = pd.read_csv(DATA / "snow2008_rte_temp" / f"{name}.standardized.tsv", sep="\t",
                        dtype={"orig_id": str})
    tasks, task_ids = pd.factorize(frame["orig_id"])
    workers, _ = pd.factorize(frame["!amt_worker_ids"])
    lowest = frame["response"].min()  # RTE codes 0/1, TEMP 1/2
    gold = frame.groupby("orig_id")["gold"].first().reindex(task_ids).to_numpy() - lowest
    return tasks, workers, frame["response"].to_numpy() - lowest, gold


def load_anesthesia() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = pd.read_csv(DATA / "dawid_skene_1979_anesthesia" / "anesthesia_long.csv")
    return (frame["patient"].to_numpy() - 1, frame["observer"].to_numpy() - 1,
            frame["rating"].to_numpy() - 1)


def simulate(n_tasks: int, n_workers: int, priors: list[float], per_task: int,
             seed: int) -> tuple[np.ndarray, ...]:
    """Labels drawn from a Dawid-Skene model: returns tasks, workers, labels, truth, confusion."""
    rng = np.random.default_rng(seed)
    n_classes = len(priors)
    truth = rng.choice(n_classes, size=n_tasks, p=priors)
    accuracy = rng.uniform(0.55, 0.9, size=n_workers)
    confusion = rng.dirichlet(np.ones(n_classes - 1), size=(n_workers, n_classes))
    confusion = np.concatenate([confusion, np.zeros((n_workers, n_classes, 1))], axis=2)
    confusion *= (1 - accuracy)[:, None, None]
    for k in range(n_classes):  # move the zero column onto the diagonal
        confusion[:, k, :] = np.roll(confusion[:, k, :], k + 1, axis=1)
        confusion[:, k, k] = accuracy
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.argsort(rng.random((n_tasks, n_workers)), axis=1)[:, :per_task].ravel()
    draws = rng.random(len(tasks))[:, None]
    labels = (confusion[workers, truth[tasks]].cumsum(axis=1) > draws).argmax(axis=1)
    return tasks, workers, labels, truth, confusion


def assert_monotone(trace: np.ndarray) -> None:
    """EM never lowers the objective; allow rounding noise relative to its size."""
    assert len(trace) >= 2
    noise = 1e-12 * np.abs(trace[:-1]) + 1e-12
    assert (np.diff(trace) >= -noise).all(), np.diff(trace).min()


# --- Snow et al. (2008) RTE and TEMP with expert gold ---------------------------------------

@pytest.mark.parametrize(("name", "published_error"), [("rte", 0.0725), ("temp", 0.0584)])
def test_snow_dawid_skene_error_matches_published(name: str, published_error: float) -> None:
    # Zhou, Basu, Mao & Platt (NIPS 2012), Table 2: DS error 7.25 % (RTE), 5.84 % (TEMP)
    tasks, workers, labels, gold = load_snow(name)
    fit = fit_dawid_skene(tasks, workers, labels, device="cpu")
    assert fit.converged
    assert np.mean(fit.labels != gold) == pytest.approx(published_error, abs=5e-5)
    assert_monotone(fit.objective_trace)
    np.testing.assert_allclose(fit.posteriors.sum(axis=1), 1.0)
    np.testing.assert_allclose(fit.confusion.sum(axis=2), 1.0)


@pytest.mark.parametrize(("name", "published_error"), [("rte", 0.1031), ("temp", 0.0639)])
def test_snow_majority_vote_expected_error_with_random_ties(name: str,
                                                            published_error: float) -> None:
    # Published MV baselines (Zhou et al. 2012; Zhang et al. 2016) are the expected error
    # under uniformly random tie breaking
    tasks, workers, labels, gold = load_snow(name)
    vote = majority_vote(tasks, workers, labels)
    expected_error = 1 - vote.choice_probabilities[np.arange(len(gold)), gold].mean()
    assert expected_error == pytest.approx(published_error, abs=5e-5)


@pytest.mark.parametrize(("name", "n_ties", "lowest_error"),
                         [("rte", 65, 0.0812), ("temp", 17, 0.0606)])
def test_snow_majority_vote_tie_conventions(name: str, n_ties: int, lowest_error: float) -> None:
    # PROVENANCE: ties -> label 0 gives 8.12 % on RTE; ties -> first label 6.06 % on TEMP
    tasks, workers, labels, gold = load_snow(name)
    lowest = majority_vote(tasks, workers, labels, tie_rule="lowest")
    assert lowest.tie_rule == "lowest"
    assert lowest.n_ties == n_ties
    assert np.mean(lowest.labels != gold) == pytest.approx(lowest_error, abs=1e-4)
    abstain = majority_vote(tasks, workers, labels, tie_rule="abstain")
    assert (abstain.labels[abstain.tied] == ABSTAIN).all()
    assert (abstain.labels[~abstain.tied] == lowest.labels[~lowest.tied]).all()


def test_majority_vote_random_ties_are_seeded_and_only_touch_ties() -> None:
    tasks, workers, labels, _ = load_snow("rte")
    first = majority_vote(tasks, workers, labels, tie_rule="random", seed=1)
    again = majority_vote(tasks, workers, labels, tie_rule="random", seed=1)
    other = majority_vote(tasks, workers, labels, tie_rule="random", seed=2)
    lowest = majority_vote(tasks, workers, labels, tie_rule="lowest")
    assert first.seed == 1
    assert lowest.seed is None
    np.testing.assert_array_equal(first.labels, again.labels)
    assert (first.labels != other.labels).any()
    np.testing.assert_array_equal(first.labels[~first.tied], lowest.labels[~first.tied])
    tied_votes = first.vote_counts[first.tied]
    chosen = tied_votes[np.arange(len(tied_votes)), first.labels[first.tied]]
    assert (chosen == tied_votes.max(axis=1)).all()


def test_majority_vote_rejects_unknown_tie_rule() -> None:
    with pytest.raises(ValueError, match="tie_rule"):
        majority_vote(np.array([0]), np.array([0]), np.array([0]), tie_rule="first")


# --- Dawid & Skene (1979) anaesthesia data, repeated ratings by observer 1 -------------------

def test_anesthesia_reproduces_dawid_skene_1979() -> None:
    fit = fit_dawid_skene(*load_anesthesia(), device="cpu")
    assert fit.converged
    # published class marginals
    np.testing.assert_allclose(fit.priors, [0.40, 0.42, 0.11, 0.07], atol=0.005)
    # independent check recorded in PROVENANCE.md (vote-fraction init, tol 1e-12)
    assert fit.log_likelihood == pytest.approx(-192.8909, abs=5e-5)
    observer_1 = [[0.889, 0.111, 0, 0], [0.071, 0.876, 0.053, 0],
                  [0, 0.339, 0.661, 0], [0, 0, 0.556, 0.444]]
    np.testing.assert_allclose(fit.confusion_matrix(0), observer_1, atol=5e-4)
    map_classes = ("1 4 2 2 2 2 1 3 2 2 4 3 1 2 1 1 1 1 2 2 2 2 2 2 1 1 2 1 1 1 1 3 1 2 2 "
                   "4 2 3 3 1 1 1 2 1 2")
    np.testing.assert_array_equal(fit.labels + 1, [int(c) for c in map_classes.split()])
    unsure = np.flatnonzero(fit.confidence < 0.99) + 1
    np.testing.assert_array_equal(unsure, [7, 35, 38])
    assert_monotone(fit.objective_trace)
    assert fit.worker_n_labels.tolist() == [135, 45, 45, 45, 45]


# --- agreement with crowd-kit ----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # crowd-kit 1.4.2 on pandas 3
def test_agrees_with_crowdkit_converged_dawid_skene() -> None:
    from crowdkit.aggregation import DawidSkene

    tasks, workers, labels, _, _ = simulate(400, 25, [0.5, 0.3, 0.2], per_task=5, seed=3)
    ours = fit_dawid_skene(tasks, workers, labels, tol=1e-14, max_iter=5000, device="cpu")
    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
    peer = DawidSkene(n_iter=5000, tol=1e-12).fit(frame)
    peer_labels = peer.labels_.reindex(np.arange(400)).to_numpy()
    peer_posteriors = peer.probas_.reindex(np.arange(400))[[0, 1, 2]].to_numpy()
    assert np.mean(peer_labels == ours.labels) >= 0.995
    # crowd-kit clips probabilities at 1e-10, so the fixed points differ slightly
    np.testing.assert_allclose(ours.posteriors, peer_posteriors, atol=1e-4)
    np.testing.assert_allclose(ours.priors, peer.priors_.sort_index().to_numpy(), atol=1e-4)
    assert_monotone(ours.objective_trace)


# --- parameter recovery ----------------------------------------------------------------------

def test_recovers_simulated_confusion_matrices_and_priors() -> None:
    priors = [0.5, 0.3, 0.2]
    tasks, workers, labels, truth, confusion = simulate(6000, 12, priors, per_task=4, seed=7)
    fit = fit_dawid_skene(tasks, workers, labels, device="cpu")
    assert fit.converged
    assert_monotone(fit.objective_trace)
    np.testing.assert_allclose(fit.priors, priors, atol=0.02)
    assert np.abs(fit.confusion - confusion).max() < 0.06
    vote = majority_vote(tasks, workers, labels, tie_rule="lowest")
    assert np.mean(fit.labels == truth) > np.mean(vote.labels == truth)
    # posterior accuracy tracks each worker's true accuracy, the prior-weighted one as well
    true_accuracy = np.einsum("k,wkk->w", np.bincount(truth) / len(truth), confusion)
    np.testing.assert_allclose(fit.worker_accuracy_at_prior, true_accuracy, atol=0.03)
    np.testing.assert_allclose(fit.worker_accuracy, true_accuracy, atol=0.03)


def test_worker_accuracy_is_posterior_weighted_diagonal() -> None:
    tasks, workers, labels, _, _ = simulate(300, 10, [0.6, 0.4], per_task=3, seed=11)
    fit = fit_dawid_skene(tasks, workers, labels, tol=1e-14, device="cpu")
    # class mix of each worker's tasks under the posterior (an identity at the fixed point)
    mix = np.zeros((10, 2))
    np.add.at(mix, workers, fit.posteriors[tasks])
    mix /= mix.sum(axis=1, keepdims=True)
    diagonal = np.einsum("wk,wkk->w", mix, fit.confusion)
    np.testing.assert_allclose(fit.worker_accuracy, diagonal, rtol=1e-7)


@pytest.mark.parametrize("name", ["rte", "temp"])
def test_acceleration_reaches_the_plain_em_answer(name: str) -> None:
    tasks, workers, labels, _ = load_snow(name)
    plain = fit_dawid_skene(tasks, workers, labels, tol=1e-13, accelerate=False, device="cpu")
    fast = fit_dawid_skene(tasks, workers, labels, tol=1e-13, device="cpu")
    assert fast.n_iter < plain.n_iter
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6)
    np.testing.assert_allclose(fast.posteriors, plain.posteriors, atol=1e-5)
    np.testing.assert_allclose(fast.confusion, plain.confusion, atol=1e-5)
    assert_monotone(plain.objective_trace)
    assert_monotone(fast.objective_trace)


def test_stopping_early_is_reported() -> None:
    tasks, workers, labels, _, _ = simulate(300, 10, [0.5, 0.3, 0.2], per_task=3, seed=6)
    fit = fit_dawid_skene(tasks, workers, labels, max_iter=3, device="cpu")
    assert not fit.converged
    assert fit.n_iter == 3
    assert len(fit.objective_trace) <= 3


# --- edge cases ------------------------------------------------------------------------------

def test_single_worker_gets_their_own_labels() -> None:
    labels = np.array([0, 2, 1, 1, 0, 2, 2])
    tasks = np.arange(len(labels))
    fit = fit_dawid_skene(tasks, np.zeros_like(tasks), labels, device="cpu")
    np.testing.assert_array_equal(fit.labels, labels)
    np.testing.assert_allclose(fit.confidence, 1.0)
    np.testing.assert_allclose(fit.confusion[0], np.eye(3))
    assert fit.converged
    assert np.isfinite(fit.log_likelihood)


def test_task_with_one_label_and_label_value_seen_once() -> None:
    tasks, workers, labels, _, _ = simulate(200, 8, [0.6, 0.4], per_task=3, seed=5)
    # task 200 has a single label; class 2 is used exactly once, on that task
    tasks, workers, labels = (np.r_[tasks, 200], np.r_[workers, 3], np.r_[labels, 2])
    fit = fit_dawid_skene(tasks, workers, labels, device="cpu")
    assert fit.posteriors.shape == (201, 3)
    assert np.isfinite(fit.posteriors).all()
    assert np.isfinite(fit.log_likelihood)
    np.testing.assert_allclose(fit.posteriors.sum(axis=1), 1.0)
    np.testing.assert_allclose(fit.confusion.sum(axis=2), 1.0)
    assert fit.labels[200] == 2  # the only evidence about that task
    assert fit.priors.sum() == pytest.approx(1.0)
    assert_monotone(fit.objective_trace)
    vote = majority_vote(tasks, workers, labels)
    assert vote.labels[200] == 2
    assert not vote.tied[200]


def test_worker_who_always_agrees_with_the_majority() -> None:
    tasks, workers, labels, _, _ = simulate(300, 10, [0.5, 0.5], per_task=5, seed=2)
    vote = majority_vote(tasks, workers, labels, tie_rule="lowest")
    decided = np.flatnonzero(~vote.tied)
    tasks = np.r_[tasks, decided]
    workers = np.r_[workers, np.full(len(decided), 10)]
    labels = np.r_[labels, vote.labels[decided]]
    fit = fit_dawid_skene(tasks, workers, labels, device="cpu")
    assert fit.worker_agreement[10] > 0.97
    assert fit.worker_accuracy[10] == fit.worker_accuracy.max()
    again = majority_vote(tasks, workers, labels, tie_rule="lowest")
    assert again.worker_agreement[10] == 1.0


def test_all_workers_agree() -> None:
    truth = np.array([0, 1, 1, 2, 0, 1])
    tasks = np.repeat(np.arange(6), 3)
    workers = np.tile(np.arange(3), 6)
    fit = fit_dawid_skene(tasks, workers, truth[tasks], device="cpu")
    np.testing.assert_array_equal(fit.labels, truth)
    np.testing.assert_allclose(fit.posteriors, np.eye(3)[truth])
    np.testing.assert_allclose(fit.confusion, np.broadcast_to(np.eye(3), (3, 3, 3)))
    shares = np.bincount(truth) / len(truth)
    # every worker is certain, so log P(labels) = sum over tasks of log p(class)
    assert fit.log_likelihood == pytest.approx(np.sum(np.log(shares[truth])))
    np.testing.assert_allclose(fit.worker_agreement, 1.0)


def test_task_without_labels_gets_the_priors() -> None:
    tasks, workers, labels, _, _ = simulate(100, 6, [0.7, 0.3], per_task=3, seed=9)
    fit = fit_dawid_skene(tasks, workers, labels, n_tasks=101, n_workers=7, device="cpu")
    np.testing.assert_allclose(fit.posteriors[100], fit.priors)
    assert fit.worker_n_labels[6] == 0
    assert np.isnan(fit.worker_accuracy[6])
    np.testing.assert_allclose(fit.confusion[6], 0.5)
    vote = majority_vote(tasks, workers, labels, n_tasks=101)
    assert vote.labels[100] == ABSTAIN


def test_empty_input_is_a_clear_error() -> None:
    empty = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match="no labels"):
        fit_dawid_skene(empty, empty, empty, device="cpu")
    with pytest.raises(ValueError, match="no labels"):
        majority_vote(empty, empty, empty)


@pytest.mark.parametrize(("tasks", "workers", "labels", "message"), [
    ([0, 1], [0], [0, 1], "same length"),
    ([0, -1], [0, 1], [0, 1], ">= 0"),
    ([0, 1], [0, 1], [0.0, 1.0], "integer codes"),
])
def test_malformed_codes_are_rejected(tasks: list, workers: list, labels: list,
                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_dawid_skene(np.array(tasks), np.array(workers), np.array(labels), device="cpu")


def test_code_out_of_declared_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="out of range"):
        fit_dawid_skene(np.array([0, 1]), np.array([0, 1]), np.array([0, 3]), n_classes=3,
                        device="cpu")


def test_smoothing_keeps_the_penalised_objective_monotone() -> None:
    tasks, workers, labels, _, _ = simulate(300, 10, [0.5, 0.3, 0.2], per_task=3, seed=4)
    plain = fit_dawid_skene(tasks, workers, labels, device="cpu")
    smooth = fit_dawid_skene(tasks, workers, labels, smoothing=1.0, device="cpu")
    assert_monotone(smooth.objective_trace)
    assert (smooth.confusion > 0).all()
    assert smooth.log_likelihood <= plain.log_likelihood + 1e-9
    assert smooth.smoothing == 1.0
    assert plain.smoothing == 0.0


def test_worker_agreement_ignores_abstained_tasks() -> None:
    agreement = worker_agreement(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]),
                                 np.array([1, 1, 0, 1]), np.array([1, ABSTAIN]))
    np.testing.assert_array_equal(agreement, [1.0, 1.0])


def test_results_are_read_only() -> None:
    fit = fit_dawid_skene(*load_anesthesia(), device="cpu")
    with pytest.raises(ValueError, match="read-only"):
        fit.posteriors[0, 0] = 1.0


def test_asking_for_cuda_without_a_gpu_is_an_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="cuda"):
        fit_dawid_skene(*load_anesthesia(), device="cuda")


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    tasks, workers, labels, _ = load_snow("rte")
    cpu = fit_dawid_skene(tasks, workers, labels, device="cpu")
    gpu = fit_dawid_skene(tasks, workers, labels, device="cuda")
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.posteriors, cpu.posteriors, atol=1e-9)
    assert gpu.log_likelihood == pytest.approx(cpu.log_likelihood, rel=1e-12)
