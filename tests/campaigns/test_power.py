"""The power figures against their closed forms: the arcsine effect size a sample detects
is (z(1 - alpha/2) + z(power)) x sqrt(1/n1 + 1/n2), and the sample that detects an
effect size h is ((z(1 - alpha/2) + z(power)) / h)^2 x (1 + 1/ratio)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from campaigns.power import (
    holdout_share_needed,
    minimum_detectable_effect,
    power_against,
    treated_needed,
)

Z = norm.ppf(0.975) + norm.ppf(0.80)


def _closed_form_mde(baseline: float, n1: int, n2: int) -> float:
    h = Z * math.sqrt(1 / n1 + 1 / n2)
    return math.sin(math.asin(math.sqrt(baseline)) + h / 2) ** 2 - baseline


@pytest.mark.parametrize(
    ("baseline", "treated", "holdout"), [(0.5, 1000, 1000), (0.9, 5000, 500), (0.02, 800, 200)]
)
def test_minimum_detectable_effect_matches_the_closed_form(
    baseline: float, treated: int, holdout: int
) -> None:
    mde = minimum_detectable_effect(baseline, treated, holdout)
    assert mde == pytest.approx(_closed_form_mde(baseline, treated, holdout), abs=1e-5)


def test_a_textbook_case() -> None:
    # 50% against 60%: h = 2 asin(sqrt(.6)) - 2 asin(sqrt(.5)) = 0.2014, and equal groups
    # need (2.8016 / 0.2014)^2 x 2 = 387.2 each (the Wald formula's textbook answer: 385)
    assert treated_needed(0.5, 0.1, 0.5) == 388
    assert power_against(0.5, 0.1, 388, 388) == pytest.approx(0.80, abs=0.003)
    assert power_against(0.5, 0.1, 200, 200) < 0.6


def test_the_detectable_effect_is_detected_with_eighty_percent_power() -> None:
    mde = minimum_detectable_effect(0.85, 600, 150)
    assert mde is not None
    assert power_against(0.85, mde, 600, 150) == pytest.approx(0.80, abs=1e-3)


def test_no_rise_is_detectable_near_a_rate_of_one_or_without_a_holdout() -> None:
    assert minimum_detectable_effect(0.95, 192, 21) is None  # even 100% would not show
    assert minimum_detectable_effect(0.5, 192, 0) is None
    assert power_against(0.5, 0.1, 192, 0) == 0.0


def test_the_holdout_share_needed_is_the_first_that_reaches_the_power() -> None:
    def counts(share: float) -> tuple[int, int]:  # a list of 2,000 split at ``share``
        held = round(2000 * share)
        return 2000 - held, held

    needed = holdout_share_needed(0.5, 0.1, counts)
    assert needed is not None
    below = round(needed - 0.01, 2)
    assert power_against(0.5, 0.1, *counts(needed)) >= 0.8
    assert power_against(0.5, 0.1, *counts(below)) < 0.8
    assert holdout_share_needed(0.5, 0.01, counts) is None  # not at any share
    assert holdout_share_needed(0.5, 0.0, counts) is None  # nothing expected
