"""Statistical power of a list's holdout comparison, worked out before the launch.

The reports compare the rate of an outcome between the treated customers and the holdout
(``campaigns.effects``). Whether that comparison can show an effect depends on the
two groups' sizes, the outcome's rate without a call and the effect itself, so the
planner asks here, for the sizes it drew:

- the **minimum detectable effect** (MDE): the smallest change of the rate, in the
  direction the calls aim at, that a two-sided test at 5% finds with 80% power;
- the **power** the list has against the effect it expects;
- the **holdout share needed** for the expected effect, for a list drawn the way the
  planner draws it at each share (``counts``);
- the **treated customers needed** at a given share.

The test is the normal approximation on Cohen's arcsine-transformed proportions
(statsmodels ``NormalIndPower`` with ``proportion_effectsize``): its variance does
not depend on the effect, so the effect size a sample detects has a closed form and
turns back into a difference of rates through the baseline.

Rates here are of the outcome a call raises (staying, coming back, taking a product
up); a front end turning churn into this form passes ``1 - churn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from statsmodels.stats.power import NormalIndPower  # type: ignore[import-untyped]
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    proportion_effectsize,
)

__all__ = [
    "ALPHA",
    "POWER",
    "SHARES",
    "holdout_share_needed",
    "minimum_detectable_effect",
    "power_against",
    "treated_needed",
]

ALPHA = 0.05  # two-sided
POWER = 0.80
# the holdout shares a manager would type: whole percentages up to 95%
SHARES = tuple(round(k / 100, 2) for k in range(1, 96))

_TEST = NormalIndPower()


def _angle(rate: float) -> float:
    return math.asin(math.sqrt(min(max(rate, 0.0), 1.0)))


def minimum_detectable_effect(baseline: float, treated: int, holdout: int) -> float | None:
    """The smallest rise of ``baseline`` that ``treated`` against ``holdout`` customers
    detect (two-sided 5%, 80% power); None when no rise up to a rate of 1 would be, or
    a group is empty."""
    if treated < 1 or holdout < 1:
        return None
    h = float(
        _TEST.solve_power(
            effect_size=None, nobs1=treated, alpha=ALPHA, power=POWER, ratio=holdout / treated
        )
    )
    angle = _angle(baseline) + h / 2
    if angle >= math.pi / 2:
        return None
    return math.sin(angle) ** 2 - baseline


def power_against(baseline: float, effect: float, treated: int, holdout: int) -> float:
    """The chance that the comparison finds a rise of ``effect`` over ``baseline``."""
    if treated < 1 or holdout < 1 or effect <= 0:
        return 0.0
    h = float(proportion_effectsize(min(baseline + effect, 1.0), baseline))
    return float(_TEST.power(effect_size=h, nobs1=treated, alpha=ALPHA, ratio=holdout / treated))


def holdout_share_needed(
    baseline: float, effect: float, counts: Callable[[float], tuple[int, int]]
) -> float | None:
    """The smallest share of ``SHARES`` whose list, ``counts(share)`` = (treated,
    holdout), detects ``effect``; None when none does."""
    if effect <= 0:
        return None
    for share in SHARES:
        treated, holdout = counts(share)
        if power_against(baseline, effect, treated, holdout) >= POWER:
            return share
    return None


def treated_needed(baseline: float, effect: float, share: float) -> int | None:
    """Customers to call, with ``share`` of the list held out on top of them, for the
    comparison to detect ``effect``; None for no effect or no holdout."""
    if effect <= 0 or not 0 < share < 1 or baseline + effect > 1:
        return None
    h = float(proportion_effectsize(baseline + effect, baseline))
    n = _TEST.solve_power(
        effect_size=h, nobs1=None, alpha=ALPHA, power=POWER, ratio=share / (1 - share)
    )
    return math.ceil(float(n))
