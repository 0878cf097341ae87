"""Bradley-Terry side by side: ours vs Evalica, choix and crowd-kit on the same seeded data.

    .venv/bin/python bench/bt.py                              # 1k and 10k items, all peers
    .venv/bin/python bench/bt.py --sizes 1k --peers ours,evalica
    .venv/bin/python bench/bt.py --sizes 100k                 # 100k items / 10M comparisons
    .venv/bin/python bench/bt.py --bootstrap                  # 1,000 replicates of 1k / 50k
    .venv/bin/python bench/bt.py --cli                        # command line vs a choix script

Designs: ``uniform`` (pairs drawn uniformly at random) and ``near`` (each pair joins items
at most 10 places apart in the true ranking, as active selection produces: a badly
conditioned Laplacian). True log-strengths are N(0, 1); outcomes follow Bradley-Terry.
Sizes: 1k items / 50k comparisons, 10k / 1M, 100k / 10M.

Every fit runs in its own forked child with an address-space cap and a timeout; peers
that need dense n x n tables beyond the cap are reported as such without being run.
Libraries are imported and warmed up before timing; the time is that of the fit call on
data already in the peer's input format. Quality: the Bradley-Terry log-likelihood each
estimate reaches (scored by one function for all, after the best shift), its gap to the
best, and Kendall's tau to the true strengths. All fits are maximum likelihood
(ours: ``alpha=0``; choix: ``alpha=0``; crowd-kit's ``BradleyTerry`` with ``tol=0``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, Outcome, run_in_child

# isort: split
import numpy as np

SIZES = {"1k": (1_000, 50_000), "10k": (10_000, 1_000_000), "100k": (100_000, 10_000_000)}
PEERS = ["ours", "ours-no-se", "evalica", "choix-ilsr", "choix-mm", "choix-opt",
         "crowdkit-bt", "crowdkit-noisy"]
DENSE_PEERS = {"evalica": 3, "choix-ilsr": 3, "choix-opt": 3, "crowdkit-bt": 4,
               "crowdkit-noisy": 4}  # peak n x n float64 tables each peer holds


def simulate(n: int, m: int, design: str, seed: int) -> dict:
    """Seeded comparisons: winner, loser, true log-strengths."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    if design == "uniform":
        first = rng.integers(0, n, m)
        second = rng.integers(0, n - 1, m)
        second += second >= first
    else:
        order = np.argsort(truth)
        rank = rng.integers(0, n, m)
        offset = rng.integers(1, 11, m) * rng.choice([-1, 1], m)
        partner = np.where((rank + offset < 0) | (rank + offset >= n), rank - offset,
                           rank + offset)
        first, second = order[rank], order[partner]
    first_wins = rng.random(m) < 1 / (1 + np.exp(-(truth[first] - truth[second])))
    return {"winner": np.where(first_wins, first, second),
            "loser": np.where(first_wins, second, first), "left": first, "right": second,
            "left_wins": first_wins, "truth": truth, "n": n}


def prepare(peer: str, data: dict) -> object:
    """The peer's input format (built before timing)."""
    n = data["n"]
    if peer.startswith("ours"):
        outcome = np.where(data["left_wins"], 1, -1)
        return (data["left"], data["right"], outcome, n)
    if peer == "evalica":
        import evalica

        winners = [evalica.Winner.X if w else evalica.Winner.Y for w in data["left_wins"]]
        return (data["left"].tolist(), data["right"].tolist(), winners)
    if peer.startswith("choix"):
        return list(zip(data["winner"].tolist(), data["loser"].tolist(), strict=True))
    import pandas as pd

    left, right = data["left"].astype(str), data["right"].astype(str)
    label = np.where(data["left_wins"], left, right)
    worker = (np.arange(len(left)) % 100).astype(str)
    return pd.DataFrame({"worker": worker, "left": left, "right": right, "label": label})


def run_peer(peer: str, prepared: object, n: int, design: str) -> np.ndarray:
    """Log-strengths (n,) from one peer."""
    if peer.startswith("ours"):
        from modeling.bradley_terry import fit_bradley_terry

        left, right, outcome, n_items = prepared
        return fit_bradley_terry(left, right, outcome, n_items, alpha=0.0, device="cpu",
                                 standard_errors=peer == "ours").scores
    if peer == "evalica":
        import evalica

        xs, ys, winners = prepared
        limit = 100_000 if design == "near" else 10_000
        result = evalica.bradley_terry(xs, ys, winners, tolerance=1e-8, limit=limit)
        return _reindex(result.scores, n, log=True)
    if peer.startswith("choix"):
        import choix

        if peer == "choix-ilsr":
            return choix.ilsr_pairwise(n, prepared, alpha=0.0, max_iter=100_000, tol=1e-8)
        if peer == "choix-mm":
            return choix.mm_pairwise(n, prepared, alpha=0.0, max_iter=100_000, tol=1e-8)
        return choix.opt_pairwise(n, prepared, alpha=0.0, tol=1e-8)
    from crowdkit.aggregation import BradleyTerry, NoisyBradleyTerry

    if peer == "crowdkit-bt":
        scores = BradleyTerry(n_iter=500, tol=0.0).fit(prepared).scores_
    else:
        scores = NoisyBradleyTerry(n_iter=100).fit(prepared).scores_
    return _reindex(scores, n, log=True)


def _reindex(series: object, n: int, *, log: bool) -> np.ndarray:
    values = np.full(n, np.nan)
    index = np.asarray([int(key) for key in series.index])
    raw = np.asarray(series.to_numpy(), dtype=np.float64)
    values[index] = np.log(np.maximum(raw, 1e-300)) if log else raw
    return values


def measure(peer: str, data: dict, design: str, cap: int, timeout: float) -> Outcome:
    """One peer's log-strengths; its input format is built in the child, before timing."""
    n = data["n"]
    if peer in DENSE_PEERS and DENSE_PEERS[peer] * 8 * n * n > cap:
        need = DENSE_PEERS[peer] * 8 * n * n / 2**30
        return Outcome(f"failed: out of memory (needs ~{need:.0f} GB of dense n x n tables)")
    prepared: dict[str, object] = {}

    def warm_up() -> None:
        small = simulate(20, 400, "uniform", 1)
        run_peer(peer, prepare(peer, small), 20, "uniform")  # imports, first-call set-up
        prepared["input"] = prepare(peer, data)

    return run_in_child(lambda: run_peer(peer, prepared["input"], n, design), warm_up=warm_up,
                        memory_cap=cap, timeout_s=timeout)


def log_likelihood(scores: np.ndarray, data: dict) -> float:
    """Bradley-Terry log-likelihood of (winner, loser) pairs; NaN scores count as 0."""
    s = np.nan_to_num(scores - np.nanmean(scores))
    delta = s[data["winner"]] - s[data["loser"]]
    return float(-np.logaddexp(0.0, -delta).sum())


def kendall_tau(scores: np.ndarray, reference: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(np.nan_to_num(scores), np.nan_to_num(reference))[0])


def main_table(args: argparse.Namespace) -> None:
    cap = int(args.memory_gb * 2**30)
    print("| size | design | peer | seconds | peak extra RSS (MB) | log-likelihood "
          "| gap to best | tau to best fit | tau to truth |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        n, m = SIZES[size]
        for design in args.designs.split(","):
            data = simulate(n, m, design, args.seed)
            outcomes = {peer: measure(peer, data, design, cap, args.timeout)
                        for peer in args.peers.split(",")}
            reached = {peer: log_likelihood(outcome.value, data)
                       for peer, outcome in outcomes.items() if outcome.ok}
            best = outcomes[max(reached, key=reached.get)].value if reached else None
            for peer, outcome in outcomes.items():
                if not outcome.ok:
                    print(f"| {size} | {design} | {peer} | {outcome.status} | | | | | |")
                    continue
                scores, ll = outcome.value, reached[peer]
                print(f"| {size} | {design} | {peer} | {outcome.seconds:.3f} "
                      f"| {outcome.memory_mb:.0f} | {ll:.4f} | {max(reached.values()) - ll:.2e} "
                      f"| {kendall_tau(scores, best):.4f} "
                      f"| {kendall_tau(scores, data['truth']):.4f} |", flush=True)


def bootstrap_table(args: argparse.Namespace) -> None:
    """1,000 bootstrap replicates of 1k items / 50k comparisons: ours (maximum likelihood,
    and with the default prior) vs Evalica, each in-process, one after the other."""
    n, m = SIZES["1k"]
    data = simulate(n, m, "uniform", args.seed)
    print(f"| bootstrap x{args.replicates}, 1k / 50k | seconds | replicates without a finite "
          "estimate | mean replicate sd |")
    print("|---|---:|---:|---:|")
    for peer, alpha in (("ours, alpha 0 (ML)", 0.0), ("ours, alpha 1 (default prior)", 1.0),
                        ("evalica", None)):
        started = time.perf_counter()
        if alpha is not None:
            import warnings

            from modeling.bradley_terry import fit_bradley_terry

            outcome = np.where(data["left_wins"], 1, -1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # counted in the table
                result = fit_bradley_terry(data["left"], data["right"], outcome, n,
                                           alpha=alpha, bootstrap=args.replicates,
                                           device="cpu")
            replicates = result.bootstrap_scores
            failed = str(int(np.isnan(replicates[:, 0]).sum()))
            spread = f"{np.nanstd(replicates, axis=0).mean():.4f}"
        else:
            import evalica

            winners = [evalica.Winner.X if w else evalica.Winner.Y for w in data["left_wins"]]
            evalica.bootstrap(evalica.bradley_terry, data["left"].tolist(),
                              data["right"].tolist(), winners, n_resamples=args.replicates,
                              bootstrap_method="percentile", random_state=args.seed)
            failed = spread = ""
        print(f"| {peer} | {time.perf_counter() - started:.2f} | {failed} | {spread} |",
              flush=True)


CHOIX_SCRIPT = """
import sys, numpy as np, pandas as pd, choix
frame = pd.read_csv(sys.argv[1], dtype=str)
codes, names = pd.factorize(pd.concat([frame.left, frame.right]))
left, right = codes[:len(frame)], codes[len(frame):]
winner = np.where(frame.label.to_numpy() == frame.left.to_numpy(), left, right)
loser = np.where(winner == left, right, left)
params = choix.{function}(len(names), list(zip(winner.tolist(), loser.tolist())), alpha=0.0,
                          max_iter=100000, tol=1e-8)
pd.DataFrame({{"item": names, "score": params - params.mean()}}).to_csv(sys.argv[2])
"""


def cli_table(args: argparse.Namespace) -> None:
    """The whole command-line run on a 1M-row CSV vs a pandas + choix script."""
    n, m = SIZES["10k"]
    data = simulate(n, m, "uniform", args.seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.csv"
        left = np.char.add("item", data["left"].astype(str))
        right = np.char.add("item", data["right"].astype(str))
        label = np.where(data["left_wins"], left, right)
        worker = np.char.add("w", (np.arange(m) % 500).astype(str))
        with path.open("w") as stream:
            stream.write("worker,left,right,label\n")
            np.savetxt(stream, np.stack([worker, left, right, label], axis=1), fmt="%s",
                       delimiter=",")
        python = sys.executable
        runs = {"ours (python -m modeling bt --alpha 0)":
                [python, "-m", "modeling", "bt", str(path), "--alpha", "0", "--out",
                 str(Path(folder) / "ours.csv")]}
        for function in args.cli_choix.split(","):
            script = Path(folder) / f"{function}.py"
            script.write_text(CHOIX_SCRIPT.format(function=function))
            runs[f"pandas + choix.{function}"] = [python, str(script), str(path),
                                                  str(Path(folder) / f"{function}.csv")]
        for name, command in runs.items():
            started = time.perf_counter()
            try:
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                      timeout=args.timeout, check=False)
                status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
            except subprocess.TimeoutExpired:
                status = f"did not finish in {args.timeout / 60:.0f} min"
            print(f"| CLI, 1M-row CSV (10k items) | {name} | "
                  f"{time.perf_counter() - started:.2f} s | {status} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1k,10k")
    parser.add_argument("--designs", default="uniform,near")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--memory-gb", type=float, default=12.0)
    parser.add_argument("--bootstrap", action="store_true", help="bootstrap timing only")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--cli", action="store_true", help="command-line timing only")
    parser.add_argument("--cli-choix", default="ilsr_pairwise",
                        help="choix functions for the script in --cli (comma-separated)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    if args.bootstrap:
        bootstrap_table(args)
    elif args.cli:
        cli_table(args)
    else:
        main_table(args)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
