"""Customer value and classes, exactly as the playbook defines them."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.value import (
    abc_class,
    abc_thresholds,
    clv,
    expected_lifetime,
    is_dissatisfied,
    lifecycle_state,
    satisfaction_category,
    xyz_class,
)


def test_abc_splits_revenue_at_50_and_80_percent() -> None:
    revenue = np.array([50.0, 20.0, 10.0, 10.0, 5.0, 5.0, 0.0])
    classes = abc_class(revenue, abc_thresholds(revenue))
    # 50 reaches 50% of 100 -> A; 20 and 10 bring the share to 80% -> B; the rest C.
    assert list(classes) == ["A", "B", "B", "B", "C", "C", "C"]


def test_abc_ties_share_a_class_and_no_revenue_is_c() -> None:
    revenue = np.array([10.0, 10.0, 10.0, 10.0])
    assert list(abc_class(revenue, abc_thresholds(revenue))) == ["A"] * 4
    assert list(abc_class(np.zeros(3), abc_thresholds(np.zeros(3)))) == ["C"] * 3


def test_xyz_by_coefficient_of_variation() -> None:
    assert list(xyz_class([0.05, 0.10, 0.1001, 0.25, 0.26, np.nan])) == [
        "X",
        "X",
        "Y",
        "Y",
        "Z",
        None,
    ]


@pytest.mark.parametrize(
    ("first", "last", "run", "state"),
    [
        (np.nan, np.nan, np.nan, "potential"),
        (2, 0, 2, "new"),
        (20, 0, 20, "regular"),
        (20, 0, 2, "restored"),
        (20, 1, 5, "regular"),
        (20, 3, 3, "lost"),
        (20, 8, 20, "lost"),
    ],
)
def test_lifecycle_on_a_three_month_window(
    first: float, last: float, run: float, state: str
) -> None:
    assert list(lifecycle_state([first], [last], [run])) == [state]


def test_satisfaction_categories_on_both_scales() -> None:
    scores = [6, 7, 9, 2, 3, 4, 5, np.nan]
    scales = [10, 10, 10, 5, 5, 5, 5, np.nan]
    assert list(satisfaction_category(scores, scales)) == [
        "watch",
        "passive",
        "promoter",
        "open_dissatisfaction",
        "hidden_dissatisfaction",
        "passive",
        "promoter",
        None,
    ]
    assert list(is_dissatisfied(scores, scales)) == [
        True,
        False,
        False,
        True,
        True,
        False,
        False,
        False,
    ]


def test_clv_is_arpu_times_expected_lifetime() -> None:
    # No churn: the whole 60-month horizon.
    assert clv([100.0], [0.0])[0] == pytest.approx(6000.0)
    # A constant 90-day churn probability p means a monthly hazard h = 1-(1-p)^(1/3).
    p = 0.10
    h = 1 - (1 - p) ** (1 / 3)
    expected = sum((1 - h) ** k for k in range(60))
    assert expected_lifetime([p])[0] == pytest.approx(expected)
    assert clv([100.0], [p])[0] == pytest.approx(100 * expected)
    assert clv([np.nan], [p])[0] == 0.0


def test_the_bands_sql_tests_are_the_scores_read_as_dissatisfied() -> None:
    from scoring.value import dissatisfied_bands, is_dissatisfied

    for scale in (5, 10):
        scores = list(range(1, scale + 1))
        by_bands = [
            any(k == scale and lo <= s <= hi for k, lo, hi in dissatisfied_bands()) for s in scores
        ]
        assert by_bands == list(is_dissatisfied(scores, [scale] * scale))
    assert (5, 3, 3) in dissatisfied_bands()  # a 3 of 5 is hidden dissatisfaction
