"""``python -m modeling bt``: end to end on small files, and every kind of malformed input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from modeling.cli import main

COLUMNS = ["item", "score", "se", "lower", "upper", "rank", "wins", "losses", "ties"]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def simulated_csv(path: Path, *, n_items: int = 8, n: int = 600, seed: int = 0,
                  left_shown: bool = False, ties: float = 0.1, strength: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    truth = np.linspace(-1.5, 1.5, n_items)
    lines = ["worker,left,right,label" + (",left_shown" if left_shown else "")
             + (",strength" if strength else "")]
    for k in range(n):
        a, b = rng.choice(n_items, 2, replace=False)
        shown = int(rng.random() < 0.5)
        margin = truth[a] - truth[b] + (0.3 * (1 if shown else -1) if left_shown else 0.0)
        if rng.random() < ties:
            label = "tie"
        else:
            label = f"item {a}" if rng.random() < 1 / (1 + np.exp(-margin)) else f"item {b}"
        row = [f"w{k % 5}", f"item {a}", f"item {b}", label]
        if left_shown:
            row.append(str(shown))
        if strength:
            row.append("" if label == "tie" else str(rng.integers(1, 4)))
        lines.append(",".join(row))
    return write(path, "\n".join(lines) + "\n")


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(["bt", *map(str, args)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out) if code == 0 else None
    return code, summary, captured.err


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_end_to_end_scores_file_and_summary(tmp_path, capsys):
    source = simulated_csv(tmp_path / "pairs.csv")
    out = tmp_path / "scores.csv"
    code, summary, _ = run(capsys, source, "--out", out)
    assert code == 0
    for key in ("log_likelihood", "n_iter", "converged", "n_items", "n_comparisons",
                "seconds"):
        assert key in summary
    assert summary["n_items"] == 8
    assert summary["n_comparisons"] == 600
    assert summary["converged"] is True
    rows = read_rows(out)
    assert list(rows[0]) == COLUMNS
    assert [int(row["rank"]) for row in rows] == list(range(1, 9))
    scores = np.array([float(row["score"]) for row in rows])
    assert np.all(np.diff(scores) <= 0)
    assert abs(scores.mean()) < 1e-9
    assert rows[0]["item"] == "item 7"
    assert rows[-1]["item"] == "item 0"
    for row in rows:  # no bootstrap: the interval is score -/+ 1.96 se
        score, se = float(row["score"]), float(row["se"])
        assert float(row["lower"]) == pytest.approx(score - 1.96 * se)
        assert float(row["upper"]) == pytest.approx(score + 1.96 * se)
    total = sum(int(row["wins"]) + int(row["losses"]) + int(row["ties"]) for row in rows)
    assert total == 2 * 600


def test_scores_match_the_library_fit(tmp_path, capsys):
    from modeling.bradley_terry import fit_bradley_terry

    source = write(tmp_path / "p.csv", "worker,left,right,label\nw,a,b,a\nw,b,c,b\nw,c,a,tie\n"
                                       "w,a,c,a\nw,b,a,a\n")
    out = tmp_path / "s.csv"
    assert run(capsys, source, "--out", out, "--alpha", "0.5")[0] == 0
    scores = {row["item"]: float(row["score"]) for row in read_rows(out)}
    expected = fit_bradley_terry([0, 1, 2, 0, 1], [1, 2, 0, 2, 0], [1, 1, 0, 1, -1], 3,
                                 alpha=0.5).scores
    np.testing.assert_allclose([scores["a"], scores["b"], scores["c"]], expected, atol=1e-8)


def test_davidson_position_bias_and_bootstrap(tmp_path, capsys):
    source = simulated_csv(tmp_path / "pairs.csv", left_shown=True, ties=0.25)
    out = tmp_path / "scores.csv"
    code, summary, _ = run(capsys, source, "--out", out, "--ties", "davidson",
                           "--bootstrap", "50", "--seed", "3")
    assert code == 0
    assert summary["tie_parameter"] > 0
    assert "position_bias" in summary
    assert summary["position_bias_se"] > 0
    rows = read_rows(out)
    for row in rows:
        assert float(row["lower"]) < float(row["score"]) < float(row["upper"])
    # the position bias column is used automatically, and can be switched off
    code, summary, _ = run(capsys, source, "--out", out, "--no-position-bias")
    assert code == 0
    assert "position_bias" not in summary


def test_raters_out(tmp_path, capsys):
    source = simulated_csv(tmp_path / "pairs.csv")
    out, raters = tmp_path / "scores.csv", tmp_path / "raters.csv"
    code, summary, _ = run(capsys, source, "--out", out, "--raters", "--raters-out", raters)
    assert code == 0
    assert summary["n_raters"] == 5
    rows = read_rows(raters)
    assert list(rows[0]) == ["worker", "reliability", "n"]
    assert sum(int(row["n"]) for row in rows) == 600
    assert all(0 < float(row["reliability"]) < 1 for row in rows)


def test_graded_strength(tmp_path, capsys):
    source = simulated_csv(tmp_path / "pairs.csv", strength=True)
    out = tmp_path / "scores.csv"
    code, summary, _ = run(capsys, source, "--out", out, "--strength")
    assert code == 0
    assert len(summary["thresholds"]) == 3
    assert summary["thresholds"][0] > 0


def test_infinite_maximum_likelihood_names_the_item(tmp_path, capsys):
    source = write(tmp_path / "p.csv", "worker,left,right,label\nw,champ,b,champ\n"
                                       "w,b,c,b\nw,c,b,c\nw,c,champ,champ\n")
    out = tmp_path / "s.csv"
    code, _, err = run(capsys, source, "--out", out, "--alpha", "0")
    assert code == 2
    assert "never lose" in err
    assert "'champ'" in err
    assert not out.exists()
    assert run(capsys, source, "--out", out)[0] == 0  # the default prior keeps it finite


def test_disconnected_graph_warns_with_names(tmp_path, capsys):
    source = write(tmp_path / "p.csv", "worker,left,right,label\nw,a,b,a\nw,b,a,a\n"
                                       "w,x,y,y\nw,y,x,x\n")
    out = tmp_path / "s.csv"
    code, _, err = run(capsys, source, "--out", out)
    assert code == 0
    assert "2 connected components" in err
    assert "x, y" in err
    code, _, err = run(capsys, source, "--out", tmp_path / "t.csv", "--alpha", "0")
    assert code == 2
    assert "disconnected" in err
    assert "'x'" in err
    assert not (tmp_path / "t.csv").exists()


MALFORMED = {
    "label": ("worker,left,right,label\nw,a,b,a\nw,a,b,c\n", 3, "neither left"),
    "same item": ("worker,left,right,label\nw,a,b,a\nw,a,a,a\n", 3, "same item"),
    "left_shown": ("worker,left,right,label,left_shown\nw,a,b,a,1\nw,a,b,b,yes\n", 3,
                   "must be 0 or 1"),
    "missing column": ("worker,left,label\nw,a,a\n", 1, "missing column"),
    "empty cell": ("worker,left,right,label\nw,a,b,a\nw,,b,b\n", 3, "empty value"),
    "field count": ("worker,left,right,label\nw,a,b,a\nw,a,b\n", 3, "expected 4 fields"),
    "encoding": (b"worker,left,right,label\nw,a,b,a\nw,\xff,b,b\n", 3, "UTF-8"),
    "empty file": ("", 1, "empty"),
    "header only": ("worker,left,right,label\n", 2, "no data rows"),
    "strength": ("worker,left,right,label,strength\nw,a,b,a,2\nw,a,b,b,x\n", 3,
                 "strength"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_names_the_line_and_writes_nothing(tmp_path, capsys, case):
    text, line, problem = MALFORMED[case]
    source = write(tmp_path / "bad.csv", text)
    out = tmp_path / "scores.csv"
    extra = ["--strength"] if case == "strength" else []
    code, _, err = run(capsys, source, "--out", out, *extra)
    assert code == 2
    assert f"bad.csv:{line}:" in err
    assert problem in err
    assert not out.exists()


def test_quoted_and_crlf_files_parse_like_plain_ones(tmp_path, capsys):
    plain = write(tmp_path / "plain.csv", "worker,left,right,label\nw,a,b,a\nw,b,c,b\n"
                                          "w,c,a,c\nw,a,c,a\n")
    quoted = write(tmp_path / "quoted.csv", 'worker,left,right,label\r\n"w","a","b","a"\r\n'
                                            'w,b,c,b\r\n\r\nw,c,a,c\r\nw,a,c,a\r\n')
    assert run(capsys, plain, "--out", tmp_path / "1.csv")[0] == 0
    assert run(capsys, quoted, "--out", tmp_path / "2.csv")[0] == 0
    assert read_rows(tmp_path / "1.csv") == read_rows(tmp_path / "2.csv")


def test_raters_flag_needs_an_output(tmp_path, capsys):
    source = simulated_csv(tmp_path / "pairs.csv", n=50)
    code, _, err = run(capsys, source, "--out", tmp_path / "s.csv", "--raters")
    assert code == 2
    assert "--raters-out" in err
