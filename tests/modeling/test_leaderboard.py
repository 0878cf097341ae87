"""Leaderboards: Arena rating scale, intervals, rank by upper bound, sources, win rates."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from modeling.leaderboard import (
    LeaderboardRow,
    elo_ratings,
    fit_source_leaderboard,
    leaderboard,
    leaderboard_from_fit,
    predicted_win_matrix,
    rank_by_upper_bound,
    rating_intervals,
    source_comparisons,
    vote_counts,
    win_rate_matrix,
)

NATS_TO_ELO = 400 / math.log(10)


def test_elo_scale_matches_arena_win_probability():
    scores = np.array([math.log(10), 0.0, -0.5])
    ratings = elo_ratings(scores)
    assert ratings[0] == pytest.approx(1400.0)  # 10:1 odds is 400 points
    assert ratings[1] == pytest.approx(1000.0)
    # Arena's expected score 1 / (1 + 10 ** ((R_j - R_i) / 400)) is BT's sigmoid(s_i - s_j)
    arena = 1 / (1 + 10 ** ((ratings[2] - ratings[1]) / 400))
    assert arena == pytest.approx(1 / (1 + math.exp(-(scores[1] - scores[2]))))


def test_anchor_pins_one_entry_and_keeps_gaps():
    scores = np.array([0.3, -0.1, -0.2])
    ratings = elo_ratings(scores, anchor=2, anchor_rating=1114.0)
    assert ratings[2] == pytest.approx(1114.0)
    assert ratings[0] - ratings[1] == pytest.approx(0.4 * NATS_TO_ELO)
    replicates = elo_ratings(np.array([[0.3, -0.1, -0.2], [0.5, 0.0, 0.1]]), anchor=2,
                             anchor_rating=1114.0)
    np.testing.assert_allclose(replicates[:, 2], 1114.0)


def test_rank_by_upper_bound_on_overlapping_intervals():
    # entry:        A     B     C     D     E
    lower = np.array([1080, 1075, 1040, 950, 1081])
    upper = np.array([1120, 1105, 1078, 1050, 1090])
    # A: nobody's lower bound is above 1120 -> 1; B overlaps A and E -> 1;
    # C: A (1080) and E (1081) have lower bounds above 1078, B (1075) does not -> 3;
    # D: A, B, E and C (1040 < 1050: no) -> A, B, E above 1050 -> 4; E: none above 1090 -> 1
    np.testing.assert_array_equal(rank_by_upper_bound(lower, upper), [1, 1, 3, 4, 1])


def test_intervals_from_bootstrap_quantiles_are_asymmetric():
    grid = np.linspace(-1.0, 1.0, 401)  # 2.5 % and 97.5 % quantiles fall on grid points
    offsets = np.where(grid < 0, 0.5 * grid, 2.0 * grid)
    scores = np.array([0.2, -0.2])
    bootstrap = scores[None, :] + offsets[:, None]
    rows = leaderboard(scores, names=["a", "b"], se=np.array([9.0, 9.0]),
                       bootstrap_scores=bootstrap)
    top = rows[0]
    assert top.name == "a"
    assert top.rating == pytest.approx(1000 + 0.2 * NATS_TO_ELO)
    assert top.minus == pytest.approx(0.5 * 0.95 * NATS_TO_ELO)
    assert top.plus == pytest.approx(2.0 * 0.95 * NATS_TO_ELO)
    assert top.se == 9.0  # the fit's standard error is still reported


def test_failed_bootstrap_replicates_never_give_nan_intervals():
    scores = np.array([0.3, -0.3])
    rng = np.random.default_rng(0)
    bootstrap = scores + rng.normal(0.0, 0.1, size=(100, 2))
    bootstrap[:3] = np.nan  # a few replicates without a finite estimate are left out
    _rating, lower, upper = rating_intervals(scores, se=np.array([0.5, 0.5]),
                                             bootstrap_scores=bootstrap)
    _rating, clean_lower, clean_upper = rating_intervals(
        scores, se=np.array([0.5, 0.5]), bootstrap_scores=bootstrap[3:])
    np.testing.assert_allclose(lower, clean_lower)
    np.testing.assert_allclose(upper, clean_upper)
    bootstrap[:50] = np.nan  # too many: the standard errors are used instead
    with pytest.warns(RuntimeWarning, match="50 of 100 bootstrap replicates"):
        rating, lower, upper = rating_intervals(scores, se=np.array([0.5, 0.5]),
                                                bootstrap_scores=bootstrap)
    np.testing.assert_allclose(upper - rating, 1.959964 * 0.5 * NATS_TO_ELO, rtol=1e-6)
    assert np.isfinite(lower).all()


def test_intervals_from_standard_errors_and_covariance():
    scores = np.array([0.5, 0.0, -0.5])
    se = np.array([0.1, 0.2, 0.3])
    rating, lower, upper = rating_intervals(scores, se=se)
    np.testing.assert_allclose(upper - rating, 1.959963984540054 * NATS_TO_ELO * se)
    np.testing.assert_allclose(rating - lower, upper - rating)
    covariance = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
    _, lower, upper = rating_intervals(scores, covariance=covariance, anchor=1, level=0.9)
    contrast = np.sqrt([0.04 + 0.09 - 0.02, 0.0, 0.16 + 0.09 - 0.04])
    np.testing.assert_allclose((upper - lower) / 2, 1.6448536269514722 * NATS_TO_ELO * contrast)


def test_leaderboard_rows_sorted_with_counts_and_csv_header():
    left = np.array([0, 0, 1, 2, 2, 1])
    right = np.array([1, 2, 2, 0, 1, 0])
    outcome = np.array([1, 0, -1, -1, 1, 1])
    counts = vote_counts(left, right, outcome, 3)
    np.testing.assert_array_equal(counts.comparisons, [4, 4, 4])
    np.testing.assert_array_equal(counts.wins, [2, 1, 2])
    np.testing.assert_array_equal(counts.losses, [1, 3, 1])
    np.testing.assert_array_equal(counts.ties, [1, 0, 1])
    rows = leaderboard(np.array([0.1, -0.4, 0.3]), names=["x", "y", "z"],
                       se=np.array([0.1, 0.1, 0.1]), counts=counts)
    assert [row.name for row in rows] == ["z", "x", "y"]
    assert (rows[0].n, rows[0].wins, rows[0].losses, rows[0].ties) == (4, 2, 1, 1)
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(LeaderboardRow.header())
    writer.writerows(row.as_tuple() for row in rows)
    table = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert table[0]["name"] == "z"
    assert {"rating", "plus", "minus", "rank_ub", "n", "wins", "losses", "ties", "score",
            "se"} <= set(table[0])


def test_weighted_vote_counts_are_sums_of_weights():
    counts = vote_counts(np.array([0, 1]), np.array([1, 0]), np.array([1, 0]), 2,
                         weights=np.array([0.5, 2.0]))
    np.testing.assert_allclose(counts.comparisons, [2.5, 2.5])
    np.testing.assert_allclose(counts.wins, [0.5, 0.0])
    np.testing.assert_allclose(counts.ties, [2.0, 2.0])


def test_source_comparisons_drop_same_source_pairs_and_filter_columns():
    item_source = np.array([0, 0, 1, 2, 1])  # items 0,1 from source 0; 2,4 from 1; 3 from 2
    left = np.array([0, 0, 2, 3, 4, 1])
    right = np.array([1, 2, 4, 0, 3, 3])
    outcome = np.array([1, -1, 0, 1, -1, 1])
    rater = np.array([7, 8, 9, 10, 11, 12])
    shown = np.array([True, False, True, False, True, False])
    result = source_comparisons(left, right, outcome, item_source, rater=rater,
                                left_shown=shown, weights=None)
    assert result.n_dropped == 2  # (0, 1) both source 0; (2, 4) both source 1
    np.testing.assert_array_equal(result.kept, [1, 3, 4, 5])
    np.testing.assert_array_equal(result.left, [0, 2, 1, 0])
    np.testing.assert_array_equal(result.right, [1, 0, 2, 2])
    np.testing.assert_array_equal(result.outcome, [-1, 1, -1, 1])
    np.testing.assert_array_equal(result.columns["rater"], [8, 10, 11, 12])
    np.testing.assert_array_equal(result.columns["left_shown"], [False, False, True, False])
    assert "weights" not in result.columns


def test_fit_source_leaderboard_passes_filtered_arrays_and_options():
    calls = {}

    class Fit:
        scores = np.array([0.2, -0.2])
        se = np.array([0.1, 0.1])
        bootstrap_scores = None

    def fake_fit(left, right, outcome, n_items, **options):
        calls.update(left=left, right=right, outcome=outcome, n_items=n_items, **options)
        return Fit()

    item_source = np.array([0, 1, 0, 1])
    board = fit_source_leaderboard(
        np.array([0, 0, 1, 3]), np.array([1, 2, 2, 2]), np.array([1, 1, -1, 0]), item_source,
        ["model-a", "model-b"], fit=fake_fit, left_shown=np.array([1, 0, 1, 0], bool),
        ties="davidson", alpha=0.5)
    assert board.comparisons.n_dropped == 1
    np.testing.assert_array_equal(calls["left"], [0, 1, 1])
    np.testing.assert_array_equal(calls["left_shown"], [True, True, False])
    assert calls["n_items"] == 2
    assert calls["ties"] == "davidson"
    assert calls["alpha"] == 0.5
    assert [row.name for row in board.rows] == ["model-a", "model-b"]
    assert board.rows[0].n == 3
    assert board.rows[0].wins + board.rows[0].losses + board.rows[0].ties == 3


def test_win_rate_matrix_counts_both_sides_and_tie_conventions():
    left = np.array([0, 1, 0, 0, 2])
    right = np.array([1, 0, 1, 2, 0])
    outcome = np.array([1, 1, 0, 1, -1])
    excluded = win_rate_matrix(left, right, outcome, 3)
    assert excluded.win_rate[0, 1] == pytest.approx(0.5)  # 1 win, 1 loss, tie excluded
    assert excluded.win_rate[1, 0] == pytest.approx(0.5)
    assert excluded.win_rate[0, 2] == pytest.approx(1.0)
    assert np.isnan(excluded.win_rate[1, 2])
    assert excluded.comparisons[0, 1] == 3
    assert excluded.ties[1, 0] == 1
    half = win_rate_matrix(left, right, outcome, 3, ties="half")
    assert half.win_rate[0, 1] == pytest.approx(1.5 / 3)
    assert half.win_rate[2, 0] == pytest.approx(0.0)


def test_predicted_win_matrix_bradley_terry_and_davidson():
    scores = np.array([0.0, math.log(3.0)])
    plain = predicted_win_matrix(scores)
    assert plain[1, 0] == pytest.approx(0.75)
    assert plain[0, 1] == pytest.approx(0.25)
    assert np.isnan(plain[0, 0])
    davidson = predicted_win_matrix(scores, tie_parameter=1.0)
    # pi = (1, 3): win 3 / (1 + 3 + sqrt 3), loss 1 / (...), tie the rest
    denominator = 4 + math.sqrt(3)
    assert davidson[1, 0] == pytest.approx(3 / denominator)
    assert davidson[0, 1] == pytest.approx(1 / denominator)


def test_bad_comparisons_are_rejected():
    with pytest.raises(ValueError, match="outcome must be"):
        vote_counts(np.array([0]), np.array([1]), np.array([2]), 2)
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        vote_counts(np.array([0]), np.array([2]), np.array([1]), 2)
    with pytest.raises(ValueError, match="rater has 1 entries for 2 comparisons"):
        source_comparisons(np.array([0, 1]), np.array([1, 0]), np.array([1, 1]),
                           np.array([0, 1]), rater=np.array([3]))


def test_source_leaderboard_with_bradley_terry_and_bootstrap():
    from modeling.bradley_terry import fit_bradley_terry

    rng = np.random.default_rng(0)
    strength = np.array([1.0, 0.0, -1.0])  # three sources, four items each (one per prompt)
    item_source = np.tile(np.arange(3), 4)
    group = np.repeat(np.arange(4), 3)
    pairs = [(a, b) for a in range(12) for b in range(12) if a < b and group[a] == group[b]]
    index = rng.integers(0, len(pairs), 1500)
    left = np.array([pairs[k][0] for k in index])
    right = np.array([pairs[k][1] for k in index])
    delta = strength[item_source[left]] - strength[item_source[right]]
    outcome = np.where(rng.random(1500) < 1 / (1 + np.exp(-delta)), 1, -1)
    board = fit_source_leaderboard(left, right, outcome, item_source, ["hi", "mid", "lo"],
                                   alpha=1.0, bootstrap=50, seed=1)
    assert board.comparisons.n_dropped == 0  # items of one prompt all differ in source
    assert [row.name for row in board.rows] == ["hi", "mid", "lo"]
    assert [row.rank_ub for row in board.rows] == [1, 2, 3]
    direct = fit_bradley_terry(item_source[left], item_source[right], outcome, 3, alpha=1.0)
    np.testing.assert_allclose([row.score for row in board.rows], direct.scores, atol=1e-9)
    assert sum(row.n for row in board.rows) == 2 * 1500
    assert all(row.plus > 0 and row.minus > 0 for row in board.rows)


def test_plackett_luce_fit_feeds_a_leaderboard():
    from modeling.plackett_luce import fit_plackett_luce

    result = fit_plackett_luce([[0, 1, 2], [0, 2, 1], [1, 0, 2], [2, 0, 1], [1, 2, 0]], 3)
    rows = leaderboard_from_fit(result, names=["a", "b", "c"], anchor=2)
    by_name = {row.name: row for row in rows}
    assert by_name["c"].rating == pytest.approx(1000.0)
    assert by_name["c"].plus == pytest.approx(0.0)  # the anchor's contrast with itself
    assert by_name["a"].rating - by_name["c"].rating == pytest.approx(
        NATS_TO_ELO * (result.log_worths[0] - result.log_worths[2]))
