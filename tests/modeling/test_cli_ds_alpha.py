"""``python -m modeling ds`` and ``python -m modeling alpha`` end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
REPO = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    summary = json.loads(captured.out) if captured.out.strip() else None
    return code, summary, captured.err


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture
def anesthesia_csv(tmp_path: Path) -> Path:
    """Dawid & Skene (1979) as task,worker,label (observer 1 rated each patient 3 times)."""
    source = read_rows(DATA / "dawid_skene_1979_anesthesia" / "anesthesia_long.csv")
    path = tmp_path / "anesthesia.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["task", "worker", "label"])
        writer.writerows((f"patient{row['patient']}", f"observer{row['observer']}", row["rating"])
                         for row in source)
    return path


@pytest.fixture
def rte_csv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Snow et al. (2008) RTE as task,worker,label, and the gold label per task."""
    with (DATA / "snow2008_rte_temp" / "rte.standardized.tsv").open(newline="") as stream:
        source = list(csv.DictReader(stream, delimiter="\t"))
    path = tmp_path / "rte.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["worker", "task", "label"])  # any column order
        writer.writerows((row["!amt_worker_ids"], row["orig_id"], row["response"])
                         for row in source)
    return path, {row["orig_id"]: row["gold"] for row in source}


@pytest.fixture
def codings_csv(tmp_path: Path) -> Path:
    """Krippendorff's example (rows = observers, columns = units, no header) in long layout."""
    with (DATA / "krippendorff_alpha_reliability" / "codings.csv").open(newline="") as stream:
        rows = list(csv.reader(stream))
    path = tmp_path / "codings.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["task", "worker", "label"])
        writer.writerows((f"unit{unit}", f"observer{observer}", cell)
                         for observer, row in enumerate(rows)
                         for unit, cell in enumerate(row) if cell.strip())
    return path


# --- ds ----------------------------------------------------------------------------------------

def test_ds_on_dawid_skene_1979(capsys: pytest.CaptureFixture[str], anesthesia_csv: Path,
                                tmp_path: Path) -> None:
    out, workers_out = tmp_path / "labels.csv", tmp_path / "workers.csv"
    code, summary, _ = run_cli(capsys, "ds", str(anesthesia_csv), "--out", str(out),
                               "--workers-out", str(workers_out), "--device", "cpu")
    assert code == 0
    assert summary is not None
    assert summary["log_likelihood"] == pytest.approx(-192.8909, abs=5e-5)
    assert summary["converged"] is True
    assert summary["n_iter"] >= 1
    assert summary["seconds"] > 0
    assert summary["classes"] == ["1", "2", "3", "4"]
    assert [round(p, 2) for p in summary["priors"].values()] == [0.40, 0.42, 0.11, 0.07]
    rows = read_rows(out)
    assert [row["task"] for row in rows] == [f"patient{i}" for i in range(1, 46)]
    # MAP classes of an independent implementation, recorded in PROVENANCE.md
    map_classes = "142222132243121111222222112111131224233111212"
    assert [row["label"] for row in rows] == list(map_classes)
    assert all(0.25 <= float(row["confidence"]) <= 1 for row in rows)
    workers = read_rows(workers_out)
    assert [row["worker"] for row in workers] == [f"observer{i}" for i in range(1, 6)]
    assert [int(row["n"]) for row in workers] == [135, 45, 45, 45, 45]
    assert all(0 < float(row["accuracy"]) <= 1 for row in workers)
    assert all(0 < float(row["agreement"]) <= 1 for row in workers)


def test_ds_on_snow_rte_matches_published_error(capsys: pytest.CaptureFixture[str],
                                                rte_csv: tuple[Path, dict[str, str]],
                                                tmp_path: Path) -> None:
    path, gold = rte_csv
    out = tmp_path / "labels.csv"
    code, summary, _ = run_cli(capsys, "ds", str(path), "--out", str(out), "--device", "cpu")
    assert code == 0
    assert summary["n_tasks"] == 800
    assert summary["n_workers"] == 164
    wrong = sum(row["label"] != gold[row["task"]] for row in read_rows(out))
    assert wrong / 800 == pytest.approx(0.0725)


def test_majority_vote_reports_its_tie_rule(capsys: pytest.CaptureFixture[str],
                                            rte_csv: tuple[Path, dict[str, str]],
                                            tmp_path: Path) -> None:
    path, gold = rte_csv
    out = tmp_path / "mv.csv"
    code, summary, _ = run_cli(capsys, "ds", str(path), "--out", str(out), "--method", "mv",
                               "--tie-rule", "lowest")
    assert code == 0
    assert summary["method"] == "mv"
    assert summary["tie_rule"] == "lowest"
    assert summary["n_ties"] == 65
    assert summary["log_likelihood"] is None
    assert summary["converged"] is True
    wrong = sum(row["label"] != gold[row["task"]] for row in read_rows(out))
    assert wrong / 800 == pytest.approx(0.08125)  # ties -> label 0: 8.12 % (PROVENANCE.md)

    code, summary, _ = run_cli(capsys, "ds", str(path), "--out", str(out), "--method", "mv",
                               "--tie-rule", "abstain")
    assert summary["tie_rule"] == "abstain"
    assert sum(row["label"] == "" for row in read_rows(out)) == 65


def test_numeric_labels_are_ordered_as_numbers(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("task,worker,label\nt1,a,10\nt1,b,9\nt2,a,2\nt2,b,2\n")
    code, summary, _ = run_cli(capsys, "ds", str(path), "--out", str(tmp_path / "o.csv"),
                               "--method", "mv", "--tie-rule", "lowest")
    assert code == 0
    assert summary["classes"] == ["2", "9", "10"]
    assert [row["label"] for row in read_rows(tmp_path / "o.csv")] == ["9", "2"]


# --- alpha -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815),
                                                  ("interval", 0.849), ("ratio", 0.797)])
def test_alpha_on_krippendorff_example(capsys: pytest.CaptureFixture[str], codings_csv: Path,
                                       level: str, published: float) -> None:
    code, summary, _ = run_cli(capsys, "alpha", str(codings_csv), "--level", level)
    assert code == 0
    assert round(summary["alpha"], 3) == published
    assert summary["level"] == level
    assert summary["n_units"] == 11
    assert summary["n_values"] == 40
    assert summary["n_units_dropped"] == 1
    assert 0 < summary["observed_disagreement"] < summary["expected_disagreement"]
    assert {"log_likelihood", "n_iter", "converged", "seconds"} <= summary.keys()


def test_alpha_without_variation_is_null(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    path.write_text("task,worker,label\nt1,a,x\nt1,b,x\nt2,a,x\nt2,b,x\n")
    code, summary, _ = run_cli(capsys, "alpha", str(path))
    assert code == 0
    assert summary["alpha"] is None
    assert "undefined" in summary["note"]


# --- malformed input: exit 2, the line named, nothing written ------------------------------------

GOOD_HEADER = "task,worker,label\n"


@pytest.mark.parametrize(("content", "line", "message"), [
    (b"task,worker\nt1,a\n", 1, "missing column"),
    (b"task,worker,label\nt1,a,1\nt1,,1\n", 3, "empty value in column 'worker'"),
    (b"task,worker,label\nt1,a,1\nt1,b,1\nt2,c,\xff\n", 4, "UTF-8"),
    (b"task,worker,label\nt1,a,1,extra\n", 2, "expected 3 fields"),
    (b"", 1, "empty"),
    (b"task,worker,label\n", 2, "no data rows"),
    (b'task,worker,label\nt1,a,"1\n', 2, "malformed CSV"),
])
def test_ds_malformed_input(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                            content: bytes, line: int, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    out = tmp_path / "out" / "labels.csv"
    code, summary, err = run_cli(capsys, "ds", str(path), "--out", str(out),
                                 "--workers-out", str(tmp_path / "out" / "w.csv"))
    assert code == 2
    assert summary is None
    assert f"{path}:{line}:" in err
    assert message in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize(("level", "rows", "line", "message"), [
    ("interval", "t1,a,1\nt1,b,two\n", 3, "must be a number"),
    ("ordinal", "t1,a,1\nt1,b,nan\n", 3, "finite number"),
    ("ratio", "t1,a,1\nt1,b,-2\n", 3, "non-negative"),
    ("nominal", "t1,a,1\nt2,a,1\nt1,a,2\n", 4, "already labelled"),
])
def test_alpha_malformed_input(capsys: pytest.CaptureFixture[str], tmp_path: Path, level: str,
                               rows: str, line: int, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(GOOD_HEADER + rows)
    code, summary, err = run_cli(capsys, "alpha", str(path), "--level", level)
    assert code == 2
    assert summary is None
    assert f"{path}:{line}:" in err
    assert message in err


def test_alpha_with_no_pairable_unit_is_an_error(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    path = tmp_path / "lonely.csv"
    path.write_text(GOOD_HEADER + "t1,a,1\nt2,a,2\n")
    code, summary, err = run_cli(capsys, "alpha", str(path))
    assert code == 2
    assert summary is None
    assert "two or more values" in err


def test_ds_unknown_device_is_an_error_and_writes_nothing(capsys: pytest.CaptureFixture[str],
                                                          anesthesia_csv: Path,
                                                          tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "labels.csv"
    code, summary, err = run_cli(capsys, "ds", str(anesthesia_csv), "--out", str(out),
                                 "--device", "cuda")
    assert code == 2
    assert summary is None
    assert "cuda" in err
    assert not out.exists()


def test_python_dash_m_modeling(anesthesia_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "modeling", "ds", str(anesthesia_csv),
                           "--out", str(out), "--device", "cpu"],
                          capture_output=True, text=True, cwd=tmp_path, env=environment,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["converged"] is True
    assert len(read_rows(out)) == 45
    bad = tmp_path / "bad.csv"
    bad.write_text("task,worker,label\nt1,a,\n")
    failed = subprocess.run([sys.executable, "-m", "modeling", "alpha", str(bad)],
                            capture_output=True, text=True, cwd=tmp_path, env=environment,
                            check=False)
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert f"{bad}:2:" in failed.stderr
