"""Uplift metrics: hand-made cases, a direct computation, and scikit-uplift's own values."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.qini import perfect_qini_curve, qini_auc_score, qini_curve, uplift_at_k

# computed with scikit-uplift 0.5.1 (sklift.metrics) on scikit-learn 1.9.1
Y = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0])
T = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0])
S = np.array(
    [
        0.9,
        0.8,
        0.8,
        0.1,
        0.7,
        0.6,
        0.2,
        0.5,
        0.5,
        0.4,
        0.9,
        0.3,
        0.3,
        0.2,
        0.6,
        0.1,
        0.7,
        0.0,
        0.4,
        0.5,
    ]
)
SKLIFT_QINI_AUC = 0.8325892857142857
SKLIFT_CURVE_X = [0, 2, 4, 6, 8, 11, 13, 15, 17, 19, 20]
SKLIFT_CURVE_Y = [0, 2, 2, 3, 4, 4, 4, 4, 1.1428571428571428, 0.6666666666666665, 0]


def direct_qini_auc(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> float:
    """Qini AUC the long way: one point per distinct score, trapezoids, normalised."""

    def area(score: np.ndarray) -> float:
        xs, ys = [0.0], [0.0]
        for cut in sorted(set(score.tolist()), reverse=True):
            top = score >= cut
            n_t, n_c = (top & (t == 1)).sum(), (top & (t == 0)).sum()
            r_t, r_c = (y[top & (t == 1)]).sum(), (y[top & (t == 0)]).sum()
            xs.append(float(top.sum()))
            ys.append(r_t - (r_c * n_t / n_c if n_c else 0.0))
        return sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2 for i in range(1, len(xs)))

    n, total = len(y), y[t == 1].sum() - y[t == 0].sum() * (t == 1).sum() / (t == 0).sum()
    diagonal = n * total / 2
    return (area(score) - diagonal) / (area(y * t - y * (1 - t)) - diagonal)


def test_matches_scikit_uplift_including_ties() -> None:
    x, y = qini_curve(Y, S, T)
    np.testing.assert_allclose(x, SKLIFT_CURVE_X)
    np.testing.assert_allclose(y, SKLIFT_CURVE_Y)
    assert qini_auc_score(Y, S, T) == pytest.approx(SKLIFT_QINI_AUC, rel=1e-12)
    assert uplift_at_k(Y, S, T, 0.3) == pytest.approx(0.6)
    assert uplift_at_k(Y, S, T, 0.5) == pytest.approx(0.5)


def test_a_perfect_ranking_scores_one_and_its_reverse_scores_below_zero() -> None:
    oracle = 10 * Y * T - 5 * Y * (1 - T) + 3  # any increasing function of the oracle
    assert qini_auc_score(Y, oracle, T) == pytest.approx(1.0)
    assert qini_auc_score(Y, -oracle, T) < 0


def test_equals_a_direct_computation_on_random_data_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = (rng.random(300) < 0.3).astype(int)
        t = (rng.random(300) < 0.5).astype(int)
        score = np.round(rng.random(300) + 0.5 * y * t, 1)
        assert qini_auc_score(y, score, t) == pytest.approx(direct_qini_auc(y, score, t))


def test_perfect_curve_puts_treated_responders_first_and_control_responders_last() -> None:
    y = np.array([1, 0, 1, 0])
    t = np.array([1, 1, 0, 0])
    x, q = perfect_qini_curve(y, t)
    # treated responder (+1), then the two non-responders together, then the control one
    np.testing.assert_allclose(x, [0, 1, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1 - 0 * 2 / 1, 1 - 1 * 2 / 2])


def test_uplift_at_k_overall_by_hand() -> None:
    # top 3 of 10 by score: rows 0, 1, 2 -> treated 1/2 respond, control 0/1
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 0])
    t = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 0])
    score = np.linspace(1, 0, 10)
    assert uplift_at_k(y, score, t, 0.3) == pytest.approx(0.5)
    # int(10 * 0.25) = 2 rows, both treated: no control to compare with
    assert np.isnan(uplift_at_k(y, score, t, 0.25))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        qini_auc_score([1, 2], [0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="share"):
        uplift_at_k(Y, S, T, 1.5)
