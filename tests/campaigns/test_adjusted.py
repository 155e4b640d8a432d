"""Lin's regression adjustment: the closed forms it must agree with, and its coverage and
width in a small seeded simulation of a list, for a revenue-like and a yes/no outcome."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from campaigns.adjusted import Adjusted, Estimate, adjusted_json, lin_estimate, strata_dummies
from campaigns.billed import window_months
from campaigns.effects import difference_ci

Z95 = 1.959963984540054


def _groups(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    treated = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    x = rng.gamma(2.0, 30.0, size=n)
    y = 5.0 + 0.9 * x + 4.0 * treated + rng.normal(0.0, 5.0 + 0.1 * x)
    return y, treated, x


def test_without_covariates_it_is_the_difference_in_means_with_the_neyman_interval() -> None:
    y, t, _ = _groups(1)
    one, zero = y[t == 1], y[t == 0]
    diff = one.mean() - zero.mean()
    se = np.sqrt(one.var(ddof=1) / len(one) + zero.var(ddof=1) / len(zero))
    got = lin_estimate(y, t)
    assert got is not None
    assert got.effect == pytest.approx(diff)
    assert got.ci95 == pytest.approx((diff - Z95 * se, diff + Z95 * se))


def test_with_a_covariate_it_is_each_group_s_fit_at_the_list_s_mean() -> None:
    # Lin (2013): the estimate is the difference of the two groups' own regression
    # lines, each read at the whole list's mean of the covariate
    y, t, x = _groups(2)
    at = x.mean()
    lines = [np.polyfit(x[t == g], y[t == g], 1) for g in (1, 0)]
    expected = np.polyval(lines[0], at) - np.polyval(lines[1], at)
    got = lin_estimate(y, t, pd.DataFrame({"x": x}))
    assert got is not None
    assert got.effect == pytest.approx(expected)


def test_an_outcome_the_covariate_explains_exactly_gives_the_effect_exactly() -> None:
    rng = np.random.default_rng(3)
    t = np.r_[np.ones(50), np.zeros(50)]
    x = rng.normal(100.0, 20.0, size=100)
    got = lin_estimate(2.0 * x + 7.0 * t, t, pd.DataFrame({"x": x}))
    assert got is not None
    assert got.effect == pytest.approx(7.0)
    assert got.width == pytest.approx(0.0, abs=1e-6)


def test_a_repeated_or_constant_covariate_is_left_out() -> None:
    y, t, x = _groups(4)
    alone = lin_estimate(y, t, pd.DataFrame({"x": x}))
    twice = lin_estimate(y, t, pd.DataFrame({"x": x, "again": 2.0 * x, "flat": 1.0}))
    assert alone is not None
    assert twice is not None
    assert twice.effect == pytest.approx(alone.effect)
    assert twice.ci95 == pytest.approx(alone.ci95)


def test_a_group_of_fewer_than_two_gives_no_estimate() -> None:
    assert lin_estimate([1.0, 0.0, 1.0], [1, 0, 0]) is None


def test_a_missing_covariate_takes_the_list_s_mean() -> None:
    y, t, x = _groups(5)
    gaps = x.copy()
    gaps[::7] = np.nan
    filled = x.copy()
    filled[::7] = np.nanmean(gaps)
    a = lin_estimate(y, t, pd.DataFrame({"x": gaps}))
    b = lin_estimate(y, t, pd.DataFrame({"x": filled}))
    assert a is not None
    assert b is not None
    assert a.effect == pytest.approx(b.effect)


def test_strata_too_small_in_a_group_fall_into_the_reference() -> None:
    strata = pd.Series([1] * 10 + [2] * 10 + [3] * 4)
    treated = np.r_[np.ones(5), np.zeros(5), np.ones(5), np.zeros(5), [1, 1, 1, 0]]
    dummies = strata_dummies(strata, treated)
    # stratum 1 and 2 are the largest (10 each): one is the reference, 3 has one holdout
    assert list(dummies.columns) == ["stratum_2"]
    assert dummies["stratum_2"].sum() == 10


def _coverage(outcome: str, runs: int = 200, n: int = 400) -> tuple[int, int, float]:
    """Runs whose plain and adjusted 95% intervals hold the true effect, and the mean
    width of the adjusted interval over the plain one."""
    rng = np.random.default_rng(20)
    covered_plain = covered_adjusted = 0
    ratios = []
    for _ in range(runs):
        revenue = rng.gamma(2.0, 40.0, size=n)  # monthly revenue before the launch
        risk = rng.beta(2.0, 12.0, size=n)  # churn score at planning
        t = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
        if outcome == "revenue":
            # three months billed; leavers bill about half of them; a call saves some
            leave = rng.random(n) < np.where(t == 1, 0.7, 1.0) * risk
            y = 3.0 * revenue * np.where(leave, 0.5, 1.0) * rng.normal(1.0, 0.05, n)
            x = pd.DataFrame({"before": 3.0 * revenue})
            # the expected effect over the list: the leavers the call keeps bill the rest
            truth = float(np.mean(0.3 * risk * 1.5 * revenue))
        else:
            y = (rng.random(n) < np.where(t == 1, 0.7, 1.0) * risk).astype(float)
            x = pd.DataFrame({"risk": risk})
            truth = float(np.mean(-0.3 * risk))
        plain = lin_estimate(y, t)
        adjusted = lin_estimate(y, t, x)
        assert plain is not None
        assert adjusted is not None
        covered_plain += plain.ci95[0] <= truth <= plain.ci95[1]
        covered_adjusted += adjusted.ci95[0] <= truth <= adjusted.ci95[1]
        ratios.append(adjusted.width / plain.width)
    return covered_plain, covered_adjusted, float(np.mean(ratios))


def test_the_adjusted_revenue_interval_keeps_its_coverage_and_is_much_narrower() -> None:
    plain, adjusted, ratio = _coverage("revenue")
    # 95% of 200 runs is 190; the binomial spread is about 3 runs
    assert 182 <= plain <= 198
    assert 182 <= adjusted <= 198
    assert ratio < 0.7


def test_the_adjusted_yes_no_interval_keeps_its_coverage_and_is_no_wider() -> None:
    plain, adjusted, ratio = _coverage("churn")
    assert 182 <= plain <= 198
    assert 182 <= adjusted <= 198
    assert ratio <= 1.0


def test_the_plain_yes_no_figure_is_close_to_newcombe_s() -> None:
    # the reports show Newcombe's interval as the plain one: the two agree on a large list
    t = np.r_[np.ones(400), np.zeros(400)]
    y = np.r_[np.ones(40), np.zeros(360), np.ones(60), np.zeros(340)]
    ours = lin_estimate(y, t)
    assert ours is not None
    newcombe = difference_ci(40, 400, 60, 400)
    assert ours.effect == pytest.approx(-0.05)
    assert ours.ci95 == pytest.approx(newcombe, abs=0.002)


def test_the_json_turns_the_sign_and_scale_as_asked() -> None:
    per_customer = Estimate(-0.05, (-0.09, -0.01))
    item = Adjusted("saves", ("churn score",), per_customer.scaled(-400), per_customer.scaled(-400))
    data = adjusted_json(item)
    assert data["adjusted"] == {"estimate": 20.0, "ci95": [4.0, 36.0]}
    assert data["narrower"] == 0.0


def test_the_window_is_the_months_it_covers_for_at_least_half() -> None:
    launch = dt.date(2026, 11, 2)
    assert window_months(launch, launch + dt.timedelta(days=90)) == [
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
    ]
    late = dt.date(2026, 11, 20)
    assert window_months(late, late + dt.timedelta(days=90)) == [
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
        dt.date(2027, 2, 1),
    ]
    assert window_months(launch, launch + dt.timedelta(days=10)) == []
