"""Plackett-Luce side by side: ours (Newton, MM) vs choix ``ilsr_rankings`` / ``mm_rankings``.

    .venv/bin/python bench/plackett_luce.py            # NASCAR 2002 + 1,000 simulated items
    .venv/bin/python bench/plackett_luce.py --small    # NASCAR + 200 simulated items

Every fit runs in its own forked child with an address-space cap and a timeout. Quality is
the log-likelihood each estimate reaches, scored by one function for all, its largest
distance from the best estimate (after centring), and on simulated data the correlation with
the true log-worths. All fits are maximum likelihood (alpha = 0; choix gets tol 1e-10).
"""

from __future__ import annotations

import argparse

from harness import ROOT, Outcome, run_in_child  # first: applies --threads before numpy loads

# isort: split
import numpy as np

NASCAR = ROOT / "tests" / "data" / "nascar2002_pl" / "nascar2002_hunter_83drivers.txt"


def nascar() -> tuple[list[np.ndarray], int, np.ndarray | None]:
    table = np.loadtxt(NASCAR, skiprows=1, dtype=np.int64)
    races = [table[table[:, 1] == race] for race in np.unique(table[:, 1])]
    return [rows[np.argsort(rows[:, 2]), 0] - 1 for rows in races], 83, None


def simulated(n_items: int, n_rankings: int, length: int) -> tuple[list, int, np.ndarray]:
    from modeling.plackett_luce import simulate_rankings

    truth = np.random.default_rng(0).normal(0.0, 1.0, n_items)
    return list(simulate_rankings(truth, n_rankings, ranking_length=length, seed=1)), n_items, truth


def fit(peer: str, rankings: list, n_items: int) -> np.ndarray:
    if peer.startswith("ours"):
        from modeling.plackett_luce import fit_plackett_luce

        method = "mm" if peer == "ours (MM)" else "newton"
        return fit_plackett_luce(rankings, n_items, method=method, device="cpu",
                                 covariance="none").log_worths  # choix gives no SEs
    import choix

    data = [tuple(int(item) for item in ranking) for ranking in rankings]
    if peer == "choix ilsr_rankings":
        return choix.ilsr_rankings(n_items, data, alpha=0.0, tol=1e-10, max_iter=1000)
    return choix.mm_rankings(n_items, data, alpha=0.0, tol=1e-10, max_iter=100000)


def run(peer: str, rankings: list, n_items: int) -> Outcome:
    def warm_up() -> None:
        import choix  # noqa: F401  (libraries load before timing, for every peer alike)

        fit(peer, [[0, 1], [1, 0]], 2)

    return run_in_child(lambda: fit(peer, rankings, n_items), warm_up=warm_up)


def table(name: str, rankings: list, n_items: int, truth: np.ndarray | None) -> None:
    from modeling.plackett_luce import plackett_luce_log_likelihood

    peers = ["ours (Newton)", "ours (MM)", "choix ilsr_rankings", "choix mm_rankings"]
    results = {peer: run(peer, rankings, n_items) for peer in peers}
    finished = {p: r.value - r.value.mean() for p, r in results.items() if r.ok}
    scored = {p: plackett_luce_log_likelihood(e, rankings) for p, e in finished.items()}
    best = finished[max(scored, key=scored.get)] if scored else None
    print(f"\n### {name}: {n_items} items, {len(rankings)} rankings\n")
    print("| peer | seconds | peak extra RSS (MB) | log-likelihood | max abs diff vs best"
          + (" | corr. with truth |" if truth is not None else " |"))
    print("|---|---:|---:|---:|---:|" + ("---:|" if truth is not None else ""))
    for peer, outcome in results.items():
        if not outcome.ok:
            print(f"| {peer} | {outcome.status} | | | |" + (" |" if truth is not None else ""))
            continue
        centred = finished[peer]
        cells = [peer, f"{outcome.seconds:.3f}", f"{outcome.memory_mb:.0f}", f"{scored[peer]:.6f}",
                 f"{np.abs(centred - best).max():.1e}"]
        if truth is not None:
            cells.append(f"{np.corrcoef(centred, truth)[0, 1]:.4f}")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="200 simulated items, not 1,000")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for numpy/torch in every peer (default: library default)")
    args = parser.parse_args()
    table("NASCAR 2002 (Hunter 2004)", *nascar())
    n_items, n_rankings = (200, 4_000) if args.small else (1_000, 20_000)
    table(f"simulated, rankings of 10 of {n_items} items", *simulated(n_items, n_rankings, 10))


if __name__ == "__main__":
    main()
