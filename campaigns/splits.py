"""Split rows of the saved-customer and conversion reports, read so that they do not mislead.

A report splits its effect by segment, ABC class, offer and agent. With dozens of rows,
some intervals exclude zero by chance alone, and a row whose holdout is a handful of
customers gives an interval that means nothing. So:

- a row with too few customers in either group or too few outcomes (``MIN_GROUP``,
  ``MIN_OUTCOMES``) shows no interval, no test and says why;
- every other row is exploratory: its difference of rates is tested with the score test
  for two independent proportions (statsmodels ``test_proportions_2indep``,
  ``method="score"``, the Miettinen-Nurminen test, built from the same score statistics
  as the Newcombe interval the rows show), and the p-values of all those rows of one
  report are adjusted together with Holm's method;
- a row survives when its adjusted p-value is below 5%; only a surviving row is
  highlighted anywhere the report is drawn.

Holm controls the chance of any false claim among the rows and stays valid however the
rows depend on each other (every agent row shares the whole holdout), where
Benjamini-Hochberg would need them independent or positively dependent.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    test_proportions_2indep,
)

from campaigns.effects import Effect, round_or_none, round_pair

__all__ = [
    "ADJUSTMENT",
    "ALPHA",
    "MIN_GROUP",
    "MIN_OUTCOMES",
    "Split",
    "adjust_splits",
    "adjusted_p_values",
    "adjustment_json",
    "difference_p_value",
    "split_json",
]

ADJUSTMENT = "holm"  # statsmodels' name for Holm's step-down method
ALPHA = 0.05
# below 30 customers a group's rate rests on a few people and the interval's coverage
# fails; with under 5 of the rarer outcome the test has next to nothing to go on
MIN_GROUP = 30
MIN_OUTCOMES = 5


@dataclass(frozen=True)
class Split:
    """One row of a split: the group's name, its effect and how far it can be read.

    ``why_no_interval`` says why a row too small to read shows no interval; the others
    carry the raw and the adjusted p-value and whether they survive the adjustment.
    """

    by: str
    value: str
    effect: Effect
    reached: int = 0
    value_kept: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    survives: bool = False
    why_no_interval: str | None = None

    @property
    def interval_shown(self) -> bool:
        return self.why_no_interval is None and self.effect.ci95 is not None


def too_small(e: Effect, outcomes: tuple[str, str]) -> str | None:
    """Why a row is too small to show an interval, or None; ``outcomes`` names the
    event and its opposite (e.g. "lost" and "kept")."""
    if e.holdout < MIN_GROUP:
        return f"too few held out ({e.holdout}; a row needs at least {MIN_GROUP})"
    if e.treated < MIN_GROUP:
        return f"too few treated ({e.treated}; a row needs at least {MIN_GROUP})"
    if e.ci95 is None:
        return e.note or "nothing to compare with the holdout"
    events = e.events_treated + e.events_holdout
    others = e.treated + e.holdout - events
    rarer, count = (outcomes[0], events) if events <= others else (outcomes[1], others)
    if count < MIN_OUTCOMES:
        return f"too few customers {rarer} ({count}; a row needs at least {MIN_OUTCOMES})"
    return None


def difference_p_value(e: Effect) -> float:
    """The two-sided p-value of the row's difference of rates (score test); 1.0 when the
    test is undefined (both groups all one outcome: no difference to see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a rate of 0 in a ratio it skips
        result = test_proportions_2indep(
            e.events_treated,
            e.treated,
            e.events_holdout,
            e.holdout,
            method="score",
            compare="diff",
        )
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def adjusted_p_values(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    if not p_values:
        return []
    _, adjusted, _, _ = multipletests(p_values, alpha=ALPHA, method=ADJUSTMENT)
    return [float(p) for p in adjusted]


def adjust_splits(rows: list[Split], outcomes: tuple[str, str]) -> list[Split]:
    """The rows of one report, each marked: too small to read, or tested and adjusted
    across every readable row of the report."""
    reasons = [too_small(row.effect, outcomes) for row in rows]
    readable = [i for i, why in enumerate(reasons) if why is None]
    raw = [difference_p_value(rows[i].effect) for i in readable]
    adjusted = dict(zip(readable, zip(raw, adjusted_p_values(raw), strict=True), strict=True))
    out = []
    for i, (row, why) in enumerate(zip(rows, reasons, strict=True)):
        if why is not None:
            out.append(dataclasses.replace(row, why_no_interval=why))
            continue
        p, p_adj = adjusted[i]
        out.append(dataclasses.replace(row, p_value=p, p_adjusted=p_adj, survives=p_adj < ALPHA))
    return out


def adjustment_json(rows: list[Split]) -> dict[str, Any]:
    """How the report's split rows were read, once per report."""
    return {
        "method": ADJUSTMENT,
        "alpha": ALPHA,
        "rows_tested": sum(1 for r in rows if r.p_value is not None),
        "surviving": sum(1 for r in rows if r.survives),
        "min_group": MIN_GROUP,
        "min_outcomes": MIN_OUTCOMES,
        "note": (
            "split rows are exploratory: each is tested against its own holdout and the "
            f"p-values are Holm-adjusted across the report's rows; only a row whose adjusted "
            f"p-value is below {ALPHA:.0%} survives, and rows with fewer than {MIN_GROUP} "
            f"customers in a group or {MIN_OUTCOMES} of an outcome show no interval"
        ),
    }


def split_json(split: Split) -> dict[str, Any]:
    e = split.effect
    shown = split.interval_shown
    return {
        "by": split.by,
        "value": split.value,
        "treated": e.treated,
        "holdout": e.holdout,
        "reached": split.reached,
        "rate_treated": round_or_none(e.rate_treated),
        "rate_holdout": round_or_none(e.rate_holdout),
        "effect": round_or_none(e.total, 2),
        "ci95": round_pair(e.ci95, 2) if shown else None,
        "interval_shown": shown,
        "why_no_interval": split.why_no_interval,
        "p_value": round_or_none(split.p_value, 6),
        "p_adjusted": round_or_none(split.p_adjusted, 6),
        "survives": split.survives,
        "value_kept": round_or_none(split.value_kept, 2),
    }
