"""Effects against the holdout: one home for how every report measures and adds them.

Every effect is the difference between the treated group and the holdout, with a 95%
interval from Newcombe's hybrid score interval for a difference of two proportions
(method 10 of Newcombe 1998, statsmodels ``confint_proportions_2indep(method="newcomb")``):
it keeps its coverage with small groups and rates near 0 or 1, where the Wald interval
does not. The interval is not symmetric about the estimate, so intervals of several
lists are added by the method of variance estimates recovery (Zou & Donner 2008), the
same construction Newcombe's interval is built with: each side of the sum's interval is
the root of the sum of the squared distances from each estimate to that side. One list
alone keeps its own interval, so the monthly report and the saved-customer report give
the same figures for it.

The effect among the reached customers is the intention-to-treat effect divided by the
share reached (the Bloom estimator: a holdout customer is never reached, and a call
that never connects changes nothing), with the interval scaled the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
)

__all__ = [
    "MIN_REACHED",
    "MIN_REACH_SHARE",
    "NO_HOLDOUT",
    "Effect",
    "among_reached",
    "difference_ci",
    "effect",
    "lost_effect",
    "round_or_none",
    "round_pair",
    "sum_intervals",
]

NO_HOLDOUT = (
    "the list kept no holdout, so nothing tells what these customers would have done "
    "without the calls: no incremental result can be claimed (plan with --holdout above 0)"
)
# the Bloom estimate divides by the share reached: below a tenth its interval is more
# than ten times the list's own and says nothing, and a few reached say little more
MIN_REACH_SHARE = 0.10
MIN_REACHED = 10


def difference_ci(
    events_a: int, n_a: int, events_b: int, n_b: int, *, alpha: float = 0.05
) -> tuple[float, float]:
    """The (1 - alpha) interval of rate a - rate b (Newcombe's hybrid score)."""
    low, high = confint_proportions_2indep(
        events_a, n_a, events_b, n_b, method="newcomb", compare="diff", alpha=alpha
    )
    return float(low), float(high)


@dataclass(frozen=True)
class Effect:
    """The holdout's rate minus the treated rate, per customer and for ``scale`` of them.

    ``rate_*`` is the share with the outcome (lost for saves; for conversions the
    sign is turned so that more conversions is a positive effect). ``events_*`` are
    the customers with the outcome, kept for the split rows' test.
    """

    treated: int
    holdout: int
    rate_treated: float | None
    rate_holdout: float | None
    per_customer: float | None
    per_customer_ci95: tuple[float, float] | None
    total: float | None
    ci95: tuple[float, float] | None
    note: str | None = None
    events_treated: int = 0
    events_holdout: int = 0


def effect(
    events_t: int, n_t: int, events_h: int, n_h: int, *, scale: float | None = None, gain: int = 1
) -> Effect:
    """Effect of treatment on a rate, against the holdout; ``gain`` -1 when fewer is better.

    ``gain=-1`` (churn): the effect is holdout rate - treated rate, so customers saved
    count positive; ``gain=1`` (conversions): treated rate - holdout rate.
    """
    rate_t = events_t / n_t if n_t else None
    rate_h = events_h / n_h if n_h else None
    note = None
    if n_h == 0:
        note = NO_HOLDOUT
    elif n_t == 0:
        note = "no treated customers: nothing to compare with the holdout"
    if note is not None:
        return Effect(n_t, n_h, rate_t, rate_h, None, None, None, None, note, events_t, events_h)
    assert rate_t is not None
    assert rate_h is not None
    scale = n_t if scale is None else scale
    if gain > 0:
        diff = rate_t - rate_h
        ci = difference_ci(events_t, n_t, events_h, n_h)
    else:
        diff = rate_h - rate_t
        ci = difference_ci(events_h, n_h, events_t, n_t)
    return Effect(
        treated=n_t,
        holdout=n_h,
        rate_treated=rate_t,
        rate_holdout=rate_h,
        per_customer=diff,
        per_customer_ci95=ci,
        total=diff * scale,
        ci95=(ci[0] * scale, ci[1] * scale),
        events_treated=events_t,
        events_holdout=events_h,
    )


def lost_effect(treated: pd.DataFrame, holdout: pd.DataFrame) -> Effect:
    """Customers saved: who is still a customer at the window's end (``active_end``),
    treated against holdout; the saved-customer and the monthly reports both count so."""
    lost_t = int((~treated["active_end"]).sum())
    lost_h = int((~holdout["active_end"]).sum())
    return effect(lost_t, len(treated), lost_h, len(holdout), gain=-1)


def sum_intervals(
    parts: Iterable[tuple[float, tuple[float, float]]],
) -> tuple[float, tuple[float, float]] | None:
    """The sum of independent estimates and its interval, from each (estimate, interval).

    Each side is recovered from the parts' own distances to that side (MOVER), so an
    asymmetric interval stays asymmetric and a single part keeps its interval exactly.
    """
    items = list(parts)
    if not items:
        return None
    total = sum(estimate for estimate, _ in items)
    below = math.sqrt(sum((estimate - low) ** 2 for estimate, (low, _) in items))
    above = math.sqrt(sum((high - estimate) ** 2 for estimate, (_, high) in items))
    return total, (total - below, total + above)


def among_reached(main: Effect, reached: int) -> Effect:
    """The intention-to-treat effect per reached customer (Bloom's estimator).

    With nobody reached there is no estimate; with too few reached (see ``MIN_REACHED``
    and ``MIN_REACH_SHARE``) neither is given and the note says why. The
    interval is kept within -100 to +100 points: a change in a share cannot be larger.
    """
    reach_rate = reached / main.treated if main.treated else 0.0
    if main.per_customer is None or main.per_customer_ci95 is None or not reached:
        note = main.note or "no treated customer was reached: there is no effect among the reached"
        return Effect(main.treated, main.holdout, None, None, None, None, None, None, note)
    if reached < MIN_REACHED or reach_rate < MIN_REACH_SHARE:
        note = (
            f"effect per reached customer: not estimated, only {reached:,} treated customers "
            f"({reach_rate:.0%}) were reached and dividing by so small a share says nothing "
            f"(it needs at least {MIN_REACHED} reached and {MIN_REACH_SHARE:.0%} of the list)"
        )
        return Effect(
            reached,
            main.holdout,
            main.rate_treated,
            main.rate_holdout,
            None,
            None,
            main.total,
            main.ci95,
            note,
        )
    low, high = main.per_customer_ci95
    return Effect(
        treated=reached,
        holdout=main.holdout,
        rate_treated=main.rate_treated,
        rate_holdout=main.rate_holdout,
        per_customer=main.per_customer / reach_rate,
        per_customer_ci95=(max(-1.0, low / reach_rate), min(1.0, high / reach_rate)),
        total=main.total,
        ci95=main.ci95,
    )


def round_or_none(value: float | None, digits: int = 4) -> float | None:
    """A figure rounded for JSON; None for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def round_pair(pair: tuple[float, float] | None, digits: int = 4) -> list[float] | None:
    """An interval rounded for JSON, as [low, high]; None for a missing one."""
    if pair is None:
        return None
    return [round(float(pair[0]), digits), round(float(pair[1]), digits)]
