"""Dawid-Skene side by side: ours (torch EM + SQUAREM) vs crowd-kit 1.4.2 ``DawidSkene``.

    .venv/bin/python bench/dawid_skene.py --threads 1    # 100k tasks x 5 labels, 1,000 raters
    .venv/bin/python bench/dawid_skene.py --small        # 10k tasks x 5 labels, 100 raters

Simulated, seeded data: 4 classes with priors (0.4, 0.3, 0.2, 0.1); each task labelled by 5
distinct raters drawn uniformly; each rater has a full confusion matrix with accuracy
Uniform(0.5, 0.95) on the diagonal and the rest spread by a Dirichlet(1) draw. Every fit runs
in its own forked child with an address-space cap and a timeout; libraries are imported and
warmed up on a tiny problem before timing. Quality: accuracy against the simulated truth,
the marginal log-likelihood of each fit's parameters (one scoring function for all), and the
distance of its posteriors and labels from the best-likelihood fit.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness import Outcome, run_in_child  # first: applies --threads before numpy loads

# isort: split
import numpy as np

PRIORS = (0.4, 0.3, 0.2, 0.1)
PER_TASK = 5
PEERS = {
    "ours DS (default: tol 1e-10, SQUAREM)": {"tol": 1e-10},
    "ours DS (plain EM, tol 1e-10)": {"tol": 1e-10, "accelerate": False},
    "ours DS (tol 1e-14)": {"tol": 1e-14, "max_iter": 10_000},
    "crowd-kit DawidSkene (default: n_iter 100, tol 1e-5)": {},
    "crowd-kit DawidSkene (n_iter 100000, tol 1e-12)": {"n_iter": 100_000, "tol": 1e-12},
    "ours majority vote (random ties, seed 0)": {"tie_rule": "random"},
    "ours majority vote (lowest-class ties)": {"tie_rule": "lowest"},
    "crowd-kit MajorityVote": {},
}


def simulate(n_tasks: int, n_raters: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = len(PRIORS)
    truth = rng.choice(k, size=n_tasks, p=PRIORS)
    accuracy = rng.uniform(0.5, 0.95, size=n_raters)
    off = rng.dirichlet(np.ones(k - 1), size=(n_raters, k)) * (1 - accuracy)[:, None, None]
    confusion = np.zeros((n_raters, k, k))
    for true_class in range(k):
        others = [c for c in range(k) if c != true_class]
        confusion[:, true_class, others] = off[:, true_class]
        confusion[:, true_class, true_class] = accuracy
    raters = rng.integers(0, n_raters, size=(n_tasks, PER_TASK))
    while (repeated := (np.diff(np.sort(raters, axis=1), axis=1) == 0).any(axis=1)).any():
        raters[repeated] = rng.integers(0, n_raters, size=(repeated.sum(), PER_TASK))
    tasks = np.repeat(np.arange(n_tasks), PER_TASK)
    workers = raters.ravel()
    draws = rng.random(len(tasks))[:, None]
    labels = (confusion[workers, truth[tasks]].cumsum(axis=1) > draws).argmax(axis=1)
    return {"tasks": tasks, "workers": workers, "labels": labels, "truth": truth,
            "n_raters": np.array(n_raters)}


def fit(peer: str, data: dict[str, np.ndarray]) -> dict[str, Any]:
    tasks, workers, labels = data["tasks"], data["workers"], data["labels"]
    options = PEERS[peer]
    if peer.startswith("ours DS"):
        from modeling.dawid_skene import fit_dawid_skene

        result = fit_dawid_skene(tasks, workers, labels, device="cpu", **options)
        return {"posteriors": result.posteriors, "priors": result.priors,
                "confusion": result.confusion, "iterations": result.n_iter,
                "converged": result.converged}
    if peer.startswith("ours majority"):
        from modeling.dawid_skene import majority_vote

        return {"labels": majority_vote(tasks, workers, labels, **options).labels}
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote

    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
    if peer == "crowd-kit MajorityVote":
        return {"labels": MajorityVote().fit_predict(frame).sort_index().to_numpy()}
    model = DawidSkene(**options).fit(frame)
    return {"posteriors": model.probas_.sort_index()[sorted(model.probas_.columns)].to_numpy(),
            "priors": model.priors_.sort_index().to_numpy(),
            "confusion": _crowdkit_confusion(model.errors_, int(data["n_raters"])),
            "iterations": len(model.loss_history_),
            "converged": len(model.loss_history_) < model.n_iter}


def _crowdkit_confusion(errors: Any, n_raters: int) -> np.ndarray:
    """errors_.loc[(worker, answer), true] -> confusion[worker, true, answer] (absent: 0)."""
    k = len(PRIORS)
    confusion = np.zeros((n_raters, k, k))
    worker = errors.index.get_level_values("worker").to_numpy().astype(int)
    answer = errors.index.get_level_values("label").to_numpy().astype(int)
    for true_class in range(k):
        confusion[worker, true_class, answer] = errors[true_class].to_numpy()
    return confusion


def run(peer: str, data: dict[str, np.ndarray]) -> Outcome:
    def warm_up() -> None:
        import crowdkit.aggregation  # noqa: F401  (every peer pays the same imports, untimed)

        fit(peer, simulate(50, 6, seed=1))

    return run_in_child(lambda: fit(peer, data), warm_up=warm_up)


def log_likelihood(priors: np.ndarray, confusion: np.ndarray, data: dict[str, np.ndarray]) -> float:
    """Marginal log-likelihood sum_t log sum_k p_k prod_labels e_w[k, label], for every peer."""
    with np.errstate(divide="ignore"):
        log_answer = np.log(confusion)[data["workers"], :, data["labels"]]
        scores = np.tile(np.log(priors), (len(data["truth"]), 1))
    for k in range(len(priors)):
        scores[:, k] += np.bincount(data["tasks"], weights=log_answer[:, k],
                                    minlength=len(data["truth"]))
    top = scores.max(axis=1, keepdims=True)
    return float((np.log(np.exp(scores - top).sum(axis=1)) + top[:, 0]).sum())


def table(data: dict[str, np.ndarray]) -> None:
    results = {}
    for peer in PEERS:
        results[peer] = run(peer, data)
        print(f"  ran {peer}: {results[peer].status}", file=sys.stderr, flush=True)
    scored = {peer: log_likelihood(outcome.value["priors"], outcome.value["confusion"], data)
              for peer, outcome in results.items() if outcome.ok and "posteriors" in outcome.value}
    best = results[max(scored, key=scored.get)].value["posteriors"] if scored else None
    n_tasks, n_labels = len(data["truth"]), len(data["labels"])
    print(f"\n### {n_tasks:,} tasks x {PER_TASK} labels ({n_labels:,} labels), "
          f"{int(data['n_raters']):,} raters, {len(PRIORS)} classes\n")
    print("| peer | seconds | peak extra RSS (MB) | iterations | converged | accuracy vs truth "
          "| log-likelihood | max abs posterior diff vs best | labels differing from best |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for peer, outcome in results.items():
        if not outcome.ok:
            print(f"| {peer} | {outcome.status} | | | | | | | |")
            continue
        fitted = outcome.value
        posteriors = fitted.get("posteriors")
        labels = posteriors.argmax(axis=1) if posteriors is not None else fitted["labels"]
        cells = [peer, f"{outcome.seconds:.3f}", f"{outcome.memory_mb:.0f}",
                 str(fitted.get("iterations", "")), str(fitted.get("converged", "")),
                 f"{np.mean(labels == data['truth']):.5f}"]
        if posteriors is not None and best is not None:
            cells += [f"{scored[peer]:.4f}", f"{np.abs(posteriors - best).max():.1e}",
                      str(int((labels != best.argmax(axis=1)).sum()))]
        else:
            cells += ["", "", str(int((labels != best.argmax(axis=1)).sum()))
                      if best is not None else ""]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="10k tasks and 100 raters")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numpy/torch in every peer (default: library default)")
    args = parser.parse_args()
    n_tasks, n_raters = (10_000, 100) if args.small else (100_000, 1_000)
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    table(simulate(n_tasks, n_raters))
    print(f"load after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
