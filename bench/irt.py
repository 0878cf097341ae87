"""Rasch and 2PL by marginal maximum likelihood side by side: ours vs girth 0.8.0
(``rasch_mml``, ``twopl_mml``) on the same seeded, complete simulated data.

    .venv/bin/python bench/irt.py            # 50,000 persons x 100 items
    .venv/bin/python bench/irt.py --small    # 5,000 persons x 50 items
    .venv/bin/python bench/irt.py --threads 1

Every fit runs in its own forked child with an address-space cap and a timeout. Quality is
the marginal log-likelihood of each estimate, scored by one function for all
(``modeling.irt.marginal_log_likelihood``, 41-node Gauss-Hermite, theta ~ N(0, 1)), and the
RMSE of difficulties and discriminations against the true values. girth integrates with
Gauss-Legendre points on (-4.5, 4.5) and returns no standard errors; ours also computes the
observed-information standard errors and EAP abilities.
"""

from __future__ import annotations

import argparse
import os

from harness import Outcome, run_in_child  # first: applies --threads before numpy loads

# isort: split
import numpy as np

PEERS = {"2pl": ["ours fit_2pl", "girth twopl_mml"],
         "rasch": ["ours fit_rasch", "girth rasch_mml"]}


def simulate(n_persons: int, n_items: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Complete 0/1 responses under a 2PL with a ~ lognormal(0, 0.3), b ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_persons)
    a, b = rng.lognormal(0.0, 0.3, n_items), rng.normal(0.0, 1.0, n_items)
    matrix = (rng.random((n_persons, n_items))
              < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(np.int8)
    persons, items = np.divmod(np.arange(matrix.size), n_items)
    return {"matrix": matrix, "persons": persons, "items": items, "correct": matrix.ravel(),
            "a": a, "b": b}


def fit(peer: str, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """(difficulty, discrimination) of one peer."""
    if peer.startswith("ours"):
        from modeling.irt import fit_2pl, fit_rasch

        method = fit_2pl if peer == "ours fit_2pl" else fit_rasch
        result = method(data["persons"], data["items"], data["correct"], device="cpu")
        return result.difficulty, result.discrimination
    import girth

    matrix = data["matrix"].T.astype(np.int64)  # girth: items x persons, int (not int8)
    if peer == "girth rasch_mml":
        difficulty = girth.rasch_mml(matrix)["Difficulty"]
        return difficulty, np.ones_like(difficulty)
    result = girth.twopl_mml(matrix)
    return result["Difficulty"], result["Discrimination"]


def run(peer: str, data: dict) -> Outcome:
    def warm_up() -> None:
        import girth  # noqa: F401  (libraries load before timing, for every peer alike)

        fit(peer, simulate(2000, 5, seed=1))

    return run_in_child(lambda: fit(peer, data), warm_up=warm_up)


def table(model: str, data: dict, results: dict) -> None:
    """Score and print; runs in the parent only after every child has finished (forking
    after torch has started its thread pool would hang the children)."""
    from modeling.irt import marginal_log_likelihood

    n_persons, n_items = data["matrix"].shape
    print(f"\n### {model}: {n_persons:,} persons x {n_items} items (complete, seeded)\n")
    print("| peer | seconds | CPU seconds | peak extra RSS (MB) | marginal log-likelihood "
          "| RMSE b | RMSE a |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for peer in PEERS[model]:
        outcome = results[peer]
        if not outcome.ok:
            print(f"| {peer} | {outcome.status} | | | | | |")
            continue
        difficulty, discrimination = outcome.value
        log_lik = marginal_log_likelihood(data["persons"], data["items"], data["correct"],
                                          difficulty, discrimination, device="cpu")
        rmse_b = np.sqrt(np.mean((difficulty - data["b"]) ** 2))
        rmse_a = np.sqrt(np.mean((discrimination - data["a"]) ** 2)) if model == "2pl" else None
        cells = [peer, f"{outcome.seconds:.2f}", f"{outcome.cpu_seconds:.2f}",
                 f"{outcome.memory_mb:.0f}", f"{log_lik:.3f}",
                 f"{rmse_b:.4f}", "" if rmse_a is None else f"{rmse_a:.4f}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="5,000 persons x 50 items")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numpy/torch in every peer (default: library default)")
    args = parser.parse_args()
    data = simulate(5_000, 50) if args.small else simulate(50_000, 100)
    print(f"load average at start: {os.getloadavg()}")
    results = {}
    for peer in (*PEERS["2pl"], *PEERS["rasch"]):
        results[peer] = run(peer, data)
        print(f"{peer}: {results[peer].status}, {results[peer].seconds} s", flush=True)
    print(f"load average after the fits: {os.getloadavg()}")
    for model in PEERS:
        table(model, data, results)


if __name__ == "__main__":
    main()
