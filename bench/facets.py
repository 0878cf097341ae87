"""Many-facet Rasch at the scale of the faceted-Rasch hate-speech study (Kennedy et al. 2020:
50,000 items, 11,000 raters, ~5 ratings per item on 10 criteria, 5 categories, ~2.5M ratings).

    .venv/bin/python bench/facets.py            # the full scale
    .venv/bin/python bench/facets.py --small    # 5,000 items, 1,100 raters
    .venv/bin/python bench/facets.py --threads 1

No Python library fits the many-facet Rasch model (Facets and TAM's ``tam.mml.mfr`` are
Windows/R programs), so this reports our time, memory and recovery on seeded simulated data:
correlations with the true item measures and rater severities, the largest error of the
criterion difficulties and thresholds, and how often the fit statistics flag 1% erratic
raters (uniformly random ratings), 1% muted raters (always the middle category) and the
well-behaved rest. Each form runs in a forked child with an address-space cap and a timeout.
"""

from __future__ import annotations

import argparse
import os

from harness import Outcome, run_in_child  # first: applies --threads before numpy loads

# isort: split
import numpy as np

THRESHOLDS = np.array([-1.5, -0.5, 0.5, 1.5])


def distinct_raters(rng: np.random.Generator, n_items: int, n_raters: int,
                    per_item: int) -> np.ndarray:
    chosen = rng.integers(0, n_raters, (n_items, per_item))
    while True:
        ordered = np.sort(chosen, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeated.any():
            return chosen
        chosen[repeated] = rng.integers(0, n_raters, (repeated.sum(), per_item))


def simulate(n_items: int, n_raters: int, per_item: int = 5, n_criteria: int = 10,
             partial_credit: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    measure = rng.normal(0.0, 1.0, n_items)
    severity = rng.normal(0.0, 0.7, n_raters)
    severity -= severity.mean()
    difficulty = np.linspace(-0.5, 0.5, n_criteria)
    thresholds = np.tile(THRESHOLDS, (n_criteria, 1))
    if partial_credit:
        thresholds = thresholds + rng.normal(0.0, 0.3, thresholds.shape)
        thresholds -= thresholds.mean(axis=1, keepdims=True)
    raters = distinct_raters(rng, n_items, n_raters, per_item).ravel().repeat(n_criteria)
    items = np.arange(n_items).repeat(per_item * n_criteria)
    criteria = np.tile(np.arange(n_criteria), n_items * per_item)
    ratings = np.empty(items.size, dtype=np.int64)
    for start in range(0, items.size, 1_000_000):  # in blocks, to bound memory
        block = slice(start, start + 1_000_000)
        eta = measure[items[block]] - severity[raters[block]] - difficulty[criteria[block]]
        tau = np.concatenate([np.zeros((n_criteria, 1)), np.cumsum(thresholds, 1)], 1)
        logits = eta[:, None] * np.arange(5) - tau[criteria[block]]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        cumulative = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        ratings[block] = (rng.random(eta.size)[:, None] > cumulative).sum(axis=1) + 1
    kind = np.zeros(n_raters, dtype=np.int64)  # 0 well-behaved, 1 erratic, 2 muted
    kind[rng.choice(n_raters, n_raters // 50, replace=False)] = [1, 2] * (n_raters // 100)
    erratic, muted = kind[raters] == 1, kind[raters] == 2
    ratings[erratic] = rng.integers(1, 6, erratic.sum())
    ratings[muted] = 3
    return {"items": items, "raters": raters, "criteria": criteria, "ratings": ratings,
            "measure": measure, "severity": severity, "difficulty": difficulty,
            "thresholds": thresholds, "kind": kind}


def run(form: str, data: dict) -> Outcome:
    def fit(sample: dict) -> object:
        from modeling.facets import fit_facets

        return fit_facets(sample["items"], sample["raters"], sample["criteria"],
                          sample["ratings"], categories=(1, 5), form=form, device="cpu")

    warm = simulate(200, 20, n_criteria=2, seed=1)
    return run_in_child(lambda: fit(data), warm_up=lambda: fit(warm))


def row(form: str, data: dict, outcome: Outcome) -> str:
    if not outcome.ok:
        return f"| {form} | {outcome.status} |" + " |" * 11
    result = outcome.value
    good = data["kind"] == 0
    truth = data["thresholds"] if form == "partial-credit" else data["thresholds"][:1]
    flagged = result.rater_misfit
    cells = [form, f"{outcome.seconds:.1f}", f"{outcome.cpu_seconds:.1f}",
             f"{outcome.memory_mb:.0f}", str(result.n_iter),
             str(result.converged), f"{result.log_likelihood:.1f}",
             f"{np.corrcoef(result.item_measure, data['measure'])[0, 1]:.4f}",
             f"{np.corrcoef(result.rater_severity[good], data['severity'][good])[0, 1]:.4f}",
             f"{np.abs(result.criterion_difficulty - data['difficulty']).max():.3f}",
             f"{np.abs(result.thresholds - truth).max():.3f}",
             f"{result.item_reliability:.3f} / {result.rater_reliability:.3f}",
             f"{flagged[data['kind'] == 1].mean():.2f} / {flagged[data['kind'] == 2].mean():.2f}"
             f" / {flagged[good].mean():.3f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="5,000 items, 1,100 raters")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numpy/torch (default: library default)")
    args = parser.parse_args()
    n_items, n_raters = (5_000, 1_100) if args.small else (50_000, 11_000)
    print(f"load average at start: {os.getloadavg()}")
    outcomes = {}
    for form in ("rating-scale", "partial-credit"):
        data = simulate(n_items, n_raters, partial_credit=form == "partial-credit")
        outcomes[form] = (data, run(form, data))
        print(f"{form}: {outcomes[form][1].status}, {outcomes[form][1].seconds} s", flush=True)
    print(f"load average at end: {os.getloadavg()}")
    n_ratings = outcomes["rating-scale"][0]["ratings"].size
    print(f"\n### {n_items:,} items, {n_raters:,} raters, 5 raters per item x 10 criteria, "
          f"5 categories: {n_ratings:,} ratings\n")
    print("| form | seconds | CPU seconds | peak extra RSS (MB) | iterations | converged "
          "| log-likelihood | corr. items | corr. raters | max err. criteria "
          "| max err. thresholds | reliability items / raters "
          "| flagged erratic / muted / well-behaved |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for form, (data, outcome) in outcomes.items():
        print(row(form, data, outcome))


if __name__ == "__main__":
    main()
