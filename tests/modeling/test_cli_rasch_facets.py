"""``python -m modeling rasch`` and ``python -m modeling facets`` end to end: published LSAT
numbers through the command line, the output files, and malformed input (exit 2, the line
named, no output written)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modeling.cli import main

DATA = Path(__file__).resolve().parent.parent / "data" / "lsat_rasch_irt"
REPO = Path(__file__).resolve().parents[2]
LTM_RASCH_B = [-2.8720, -1.0630, -0.2576, -1.3881, -2.2188]  # reference_estimates.csv


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    summary = json.loads(captured.out) if captured.out.strip() else None
    return code, summary, captured.err


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def write_rows(path: Path, header: list[str], rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def lsat_csv(tmp_path: Path) -> Path:
    """LSAT section 6 (ltm's 1,000 persons) as task,worker,label."""
    matrix = np.loadtxt(DATA / "lsat6_persons_ltm.csv", delimiter=",", skiprows=1, dtype=int)
    rows = ((f"Item {item + 1}", f"person{person}", matrix[person, item])
            for person in range(matrix.shape[0]) for item in range(matrix.shape[1]))
    return write_rows(tmp_path / "lsat.csv", ["task", "worker", "label"], rows)


def ratings_rows(seed: int = 0, n_items: int = 150, n_raters: int = 15,
                 criteria: tuple[str, ...] = ("clarity", "accuracy")):
    """Simulated many-facet ratings on a 1-5 scale: (task, worker, criterion, label)."""
    rng = np.random.default_rng(seed)
    measure, severity = rng.normal(0, 1, n_items), rng.normal(0, 0.7, n_raters)
    tau = np.concatenate([[0.0], np.cumsum([-1.5, -0.5, 0.5, 1.5])])
    rows = []
    for item in range(n_items):
        for rater in rng.choice(n_raters, 4, replace=False):
            for position, criterion in enumerate(criteria):
                eta = measure[item] - severity[rater] + 0.3 * position
                p = np.exp(eta * np.arange(5) - tau)
                label = rng.choice(5, p=p / p.sum()) + 1
                rows.append((f"t{item}", f"w{rater}", criterion, int(label)))
    return rows


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    return write_rows(tmp_path / "ratings.csv", ["task", "worker", "criterion", "label"],
                      ratings_rows())


# ----------------------------------------------------------------------------------- rasch


def test_rasch_reproduces_ltm_on_lsat(capsys, lsat_csv: Path, tmp_path: Path) -> None:
    items, persons = tmp_path / "items.csv", tmp_path / "persons.csv"
    code, summary, _ = run_cli(capsys, "rasch", str(lsat_csv), "--out", str(items),
                               "--persons-out", str(persons))
    assert code == 0
    assert summary["log_likelihood"] == pytest.approx(-2473.054, abs=1e-3)
    assert summary["converged"] is True
    assert summary["n_iter"] > 0
    assert summary["seconds"] >= 0
    assert (summary["n_items"], summary["n_persons"], summary["n_responses"]) == (5, 1000, 5000)
    rows = read_rows(items)
    assert list(rows[0]) == ["item", "difficulty", "se"]
    assert [row["item"] for row in rows] == [f"Item {j}" for j in range(1, 6)]
    np.testing.assert_allclose([float(row["difficulty"]) for row in rows], LTM_RASCH_B,
                               atol=1e-3)
    people = read_rows(persons)
    assert list(people[0]) == ["person", "ability", "se"]
    assert len(people) == 1000
    assert all(np.isfinite(float(row["ability"])) and float(row["se"]) > 0 for row in people)


def test_rasch_2pl_and_mirt_convention(capsys, lsat_csv: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    code, summary, _ = run_cli(capsys, "rasch", str(lsat_csv), "--model", "2pl",
                               "--out", str(items))
    assert code == 0
    assert summary["log_likelihood"] == pytest.approx(-2466.653, abs=1e-3)
    assert list(read_rows(items)[0]) == ["item", "difficulty", "se", "discrimination",
                                         "discrimination_se"]
    code, summary, _ = run_cli(capsys, "rasch", str(lsat_csv), "--latent-variance",
                               "estimated", "--out", str(items))
    assert code == 0
    assert summary["latent_variance"] == pytest.approx(0.57, abs=1e-2)
    assert summary["log_likelihood"] == pytest.approx(-2466.938, abs=1e-3)
    code, _, error = run_cli(capsys, "rasch", str(lsat_csv), "--model", "2pl",
                             "--latent-variance", "estimated", "--out", str(tmp_path / "x.csv"))
    assert code == 2
    assert "rasch only" in error
    assert not (tmp_path / "x.csv").exists()


def test_rasch_accepts_missing_responses(capsys, lsat_csv: Path, tmp_path: Path) -> None:
    rows = read_rows(lsat_csv)
    kept = [row for index, row in enumerate(rows) if index % 7 != 3]
    sparse = write_rows(tmp_path / "sparse.csv", ["worker", "task", "label"],
                        ((row["worker"], row["task"], row["label"]) for row in kept))
    code, summary, _ = run_cli(capsys, "rasch", str(sparse), "--out", str(tmp_path / "i.csv"))
    assert code == 0
    assert summary["n_responses"] == len(kept)
    by_item = {row["item"]: float(row["difficulty"]) for row in read_rows(tmp_path / "i.csv")}
    assert list(by_item)[:4] == ["Item 1", "Item 2", "Item 3", "Item 5"]  # first appearance
    np.testing.assert_allclose([by_item[f"Item {j}"] for j in range(1, 6)], LTM_RASCH_B,
                               atol=0.25)


@pytest.mark.parametrize(("edit", "line", "message"), [
    (lambda rows: rows.__setitem__(41, ["Item 2", "person8", "2"]), 43, "one of \\[0, 1\\]"),
    (lambda rows: rows.__setitem__(9, ["Item 5", "person1", "yes"]), 11, "must be an integer"),
    (lambda rows: rows.append(["Item 3", "person0", "1"]), 5002, "already answered"),
    (lambda rows: rows.__setitem__(3, ["Item 4", "person0"]), 5, "expected 3 fields"),
])
def test_rasch_malformed_input_names_the_line(capsys, lsat_csv: Path, tmp_path: Path, edit,
                                              line: int, message: str) -> None:
    with lsat_csv.open(newline="") as stream:
        rows = list(csv.reader(stream))[1:]
    edit(rows)
    bad = write_rows(tmp_path / "bad.csv", ["task", "worker", "label"], rows)
    out = tmp_path / "items.csv"
    code, summary, error = run_cli(capsys, "rasch", str(bad), "--out", str(out),
                                   "--persons-out", str(tmp_path / "persons.csv"))
    assert code == 2
    assert summary is None
    assert f"{bad}:{line}:" in error
    assert re.search(message, error)
    assert not out.exists()
    assert not (tmp_path / "persons.csv").exists()


def test_rasch_missing_column_and_extreme_item(capsys, tmp_path: Path) -> None:
    bad = write_rows(tmp_path / "bad.csv", ["task", "person", "label"], [["a", "p", "1"]])
    code, _, error = run_cli(capsys, "rasch", str(bad), "--out", str(tmp_path / "o.csv"))
    assert code == 2
    assert f"{bad}:1:" in error
    assert "worker" in error
    rng = np.random.default_rng(0)
    rows = [(item, f"p{person}", 1 if item == "easy one" else int(rng.random() < 0.5))
            for person in range(50) for item in ("easy one", "q2", "q3")]
    extreme = write_rows(tmp_path / "extreme.csv", ["task", "worker", "label"], rows)
    code, _, error = run_cli(capsys, "rasch", str(extreme), "--out", str(tmp_path / "o.csv"))
    assert code == 2
    assert "'easy one' (all correct)" in error
    assert not (tmp_path / "o.csv").exists()


# ---------------------------------------------------------------------------------- facets


def test_facets_end_to_end(capsys, ratings_csv: Path, tmp_path: Path) -> None:
    items, raters = tmp_path / "items.csv", tmp_path / "raters.csv"
    code, summary, _ = run_cli(capsys, "facets", str(ratings_csv), "--out", str(items),
                               "--raters-out", str(raters))
    assert code == 0
    for key in ("log_likelihood", "n_iter", "converged", "seconds", "thresholds",
                "item_reliability", "rater_reliability", "item_separation",
                "rater_separation", "misfitting_raters", "criteria"):
        assert key in summary
    assert summary["converged"] is True
    assert summary["scale"] == [1, 5]
    assert len(summary["thresholds"]) == 4
    assert sum(summary["thresholds"]) == pytest.approx(0, abs=1e-9)
    assert set(summary["criteria"]) == {"clarity", "accuracy"}
    item_rows = read_rows(items)
    assert list(item_rows[0])[:5] == ["task", "measure", "se", "raw_mean", "corrected_mean"]
    assert len(item_rows) == 150
    assert all(1 <= float(row["raw_mean"]) <= 5 for row in item_rows)
    assert all(1 <= float(row["corrected_mean"]) <= 5 for row in item_rows)
    rater_rows = read_rows(raters)
    assert list(rater_rows[0])[:6] == ["worker", "severity", "se", "infit", "outfit", "n"]
    assert len(rater_rows) == 15
    assert sum(float(row["severity"]) for row in rater_rows) == pytest.approx(0, abs=1e-6)


def test_facets_without_criterion_column_and_partial_credit(capsys, tmp_path: Path) -> None:
    rows = ratings_rows(seed=1, criteria=("only",))
    single = write_rows(tmp_path / "single.csv", ["task", "worker", "label"],
                        ((task, worker, label) for task, worker, _, label in rows))
    out, raters = tmp_path / "items.csv", tmp_path / "raters.csv"
    code, summary, _ = run_cli(capsys, "facets", str(single), "--out", str(out),
                               "--raters-out", str(raters))
    assert code == 0
    assert summary["n_criteria"] == 1
    two = write_rows(tmp_path / "two.csv", ["task", "worker", "criterion", "label"],
                     ratings_rows(seed=2, n_items=300))
    code, summary, _ = run_cli(capsys, "facets", str(two), "--form", "partial-credit",
                               "--out", str(out), "--raters-out", str(raters))
    assert code == 0
    assert set(summary["thresholds"]) == {"clarity", "accuracy"}
    assert all(len(values) == 4 for values in summary["thresholds"].values())


@pytest.mark.parametrize(("label", "options", "message"), [
    ("3.5", [], "must be an integer"),
    ("7", ["--scale", "1", "5"], "label 7 is off the scale 1..5"),
    ("", [], "empty value in column 'label'"),
])
def test_facets_malformed_labels_name_the_line(capsys, ratings_csv: Path, tmp_path: Path,
                                               label: str, options: list[str],
                                               message: str) -> None:
    with ratings_csv.open(newline="") as stream:
        rows = list(csv.reader(stream))
    rows[17][3] = label
    bad = write_rows(tmp_path / "bad.csv", rows[0], rows[1:])
    out, raters = tmp_path / "items.csv", tmp_path / "raters.csv"
    code, summary, error = run_cli(capsys, "facets", str(bad), "--out", str(out),
                                   "--raters-out", str(raters), *options)
    assert code == 2
    assert summary is None
    assert f"{bad}:18:" in error
    assert message in error
    assert not out.exists()
    assert not raters.exists()


def test_facets_needs_two_categories(capsys, tmp_path: Path) -> None:
    flat = write_rows(tmp_path / "flat.csv", ["task", "worker", "label"],
                      [("a", "w1", 3), ("b", "w2", 3)])
    out = tmp_path / "items.csv"
    code, _, error = run_cli(capsys, "facets", str(flat), "--out", str(out), "--raters-out",
                             str(tmp_path / "r.csv"))
    assert code == 2
    assert "two or more categories" in error
    assert not out.exists()


def test_module_entry_point(ratings_csv: Path, tmp_path: Path) -> None:
    out, raters = tmp_path / "items.csv", tmp_path / "raters.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "modeling", "facets", str(ratings_csv), "--out", str(out),
         "--raters-out", str(raters)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["converged"] is True
    assert out.exists()
