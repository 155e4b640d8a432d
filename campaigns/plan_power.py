"""Can the list show its effect? The preview's ``power``, worked out before the launch.

For the treated and holdout counts the planner drew it gives the expected effect per
treated customer (the manager's figure when given, else the planner's own expectation,
named by its source), the rate of the measured outcome without a call (the baseline),
the minimum detectable effect at 80% power and 5% two-sided, the holdout share that
would detect the expected effect, and, when the list is underpowered, a plain warning
saying what would fix it. The statistics are in ``campaigns.power``.

The outcome is the one the list's report measures, within its measuring window:

- anti-churn and follow-up: lost within the 90 days after the launch; the baseline is
  the churn model's mean 90-day risk of the list's customers;
- win-back: still gone after the 90 days; the baseline is one less the share of the
  base's lost customers who came back on their own in the last three months;
- cross-sell and up-sell: the offered product taken up within the 30-day attribution
  window; the baseline is the share of existing customers who started a product they
  did not hold in the 30 days up to the scores' date (any product, so it errs high and
  the figures err towards caution).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from campaigns.acceptance import ASSUMED_ACCEPTANCE
from campaigns.outcomes import REACHED
from campaigns.plan_selection import Selection, list_counts
from campaigns.power import (
    SHARES,
    holdout_share_needed,
    minimum_detectable_effect,
    power_against,
    treated_needed,
)
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Disposition,
    Group,
    Holding,
    ListEntry,
)

if TYPE_CHECKING:
    # the request's types only: the planner imports this module to run it
    from campaigns.plan_request import PlanRequest

__all__ = ["list_power"]

TAKE_UP_DAYS = 30  # the attribution window's default (``campaigns.outcomes``)
# Until our own ended lists have called this many, half of those called are taken as
# reached: the demo's simulated day reaches 50-57% of its lists, and a site's own lists
# replace the figure as soon as they have run.
MIN_REACH_ENTRIES = 200
ASSUMED_REACH = 0.5
_OUTCOMES = {
    CampaignKind.ANTI_CHURN: "lost within 90 days",
    CampaignKind.FOLLOW_UP: "lost within 90 days",
    CampaignKind.WIN_BACK: "still gone after 90 days",
    CampaignKind.CROSS_SELL: "take-up within 30 days",
    CampaignKind.UP_SELL: "take-up within 30 days",
}


def list_power(
    conn: Connection,
    request: PlanRequest,
    sel: Selection,
    basis: str,
    base: pd.DataFrame,
    as_of: dt.date,
) -> dict[str, Any]:
    """The ``power`` block of a plan's preview (rates as fractions of one)."""
    kind = request.kind
    chosen = sel.chosen
    treated, holdout = int((~chosen["holdout"]).sum()), int(chosen["holdout"].sum())
    baseline, baseline_source = _baseline(conn, kind, chosen, base, as_of)
    effect, effect_source = _expected_effect(conn, request, chosen, basis)
    # the statistics work on the rate a call raises: staying, coming back, taking up
    good = 1.0 - baseline if kind.is_save or kind is CampaignKind.FOLLOW_UP else baseline
    eligible = len(chosen) + sel.over_capacity

    def counts(share: float) -> tuple[int, int]:
        total, held = list_counts(eligible, sel.target, share)
        return total - held, held

    mde = minimum_detectable_effect(good, treated, holdout)
    needed = holdout_share_needed(good, effect or 0.0, counts)
    power = power_against(good, effect or 0.0, treated, holdout)
    share = request.holdout if request.holdout > 0 else 0.5
    to_call = treated_needed(good, effect or 0.0, share)
    figures = {
        "outcome": _OUTCOMES[kind],
        "baseline": round(baseline, 4),
        "baseline_source": baseline_source,
        "expected_effect": None if effect is None else round(effect, 4),
        "effect_source": effect_source,
        "mde": None if mde is None else round(mde, 4),
        "power": round(power, 3),
        "holdout_needed": needed,
        "treated_needed": to_call,
        "eligible": eligible,
    }
    figures["warning"] = _warning(figures, request.holdout, share, counts, good)
    return figures


def _expected_effect(
    conn: Connection, request: PlanRequest, chosen: pd.DataFrame, basis: str
) -> tuple[float | None, str]:
    """The change per treated customer the list expects, and where the figure comes from.

    The report compares every treated customer with the holdout, reached or not. The
    uplift model and the planner's save and win-back rates are already per customer on
    the list; an acceptance is per offer made, so it is scaled by the share reached.
    """
    if request.expected_effect is not None:
        return request.expected_effect, "set by the manager"
    econ = request.economics
    scale, source = (
        1.0,
        {
            "uplift": "uplift model",
            "risk_value": f"assumed: a call removes {econ.save_rate:.0%} of the churn risk",
            "win_back_rate": f"assumed: {econ.win_back_rate:.0%} of those called come back",
        }.get(basis, basis),
    )
    if basis in ("propensity", "assumed_acceptance"):
        scale, reach_source = _reach_share(conn)
        accepted = (
            "acceptance propensity model"
            if basis == "propensity"
            else f"assumed: {ASSUMED_ACCEPTANCE:.0%} of those reached take the offer up"
        )
        source = f"{accepted}, x {scale:.0%} reached ({reach_source})"
    treated = chosen.loc[~chosen["holdout"], "gain"]
    if treated.empty:
        return None, source
    return float(treated.astype(float).mean()) * scale, source


def _reach_share(conn: Connection) -> tuple[float, str]:
    """The share of treated customers an agent spoke with on our ended lists, or an
    assumption while too few have ended."""
    ended = (
        select(Campaign.id)
        .where(
            Campaign.status.in_((CampaignStatus.STOPPED, CampaignStatus.COMPLETED)),
            Campaign.launched_at.is_not(None),
        )
        .scalar_subquery()
    )
    treated = conn.execute(
        select(func.count()).where(
            ListEntry.campaign_id.in_(ended), ListEntry.group == Group.TREATMENT
        )
    ).scalar_one()
    if treated < MIN_REACH_ENTRIES:
        return ASSUMED_REACH, "assumed until our lists have called more"
    reached = conn.execute(
        select(func.count(func.distinct(ListEntry.id)))
        .join(Disposition, Disposition.list_entry_id == ListEntry.id)
        .where(
            ListEntry.campaign_id.in_(ended),
            ListEntry.group == Group.TREATMENT,
            Disposition.code.in_(REACHED),
        )
    ).scalar_one()
    return reached / treated, f"on our ended lists, {treated:,} called"


def _baseline(
    conn: Connection, kind: CampaignKind, chosen: pd.DataFrame, base: pd.DataFrame, as_of: dt.date
) -> tuple[float, str]:
    """The measured outcome's rate without a call, and where it comes from."""
    if kind in (CampaignKind.ANTI_CHURN, CampaignKind.FOLLOW_UP):
        risks = chosen["p_churn"] if not chosen.empty else base["p_churn"]
        return float(risks.astype(float).mean(skipna=True) or 0.0), "churn model"
    if kind is CampaignKind.WIN_BACK:
        states = base["lifecycle"].value_counts()
        gone = int(states.get("lost", 0)) + int(states.get("restored", 0))
        back = int(states.get("restored", 0)) / gone if gone else 0.0
        return 1.0 - back, "lost customers who came back on their own (lifecycle)"
    return _organic_take_up(conn, as_of), f"new products started in the last {TAKE_UP_DAYS} days"


def _organic_take_up(conn: Connection, as_of: dt.date) -> float:
    """Share of the customers holding a product on the window's first day who started
    one they had never held before within the window."""
    opened = as_of - dt.timedelta(days=TAKE_UP_DAYS)
    held = aliased(Holding)
    before = aliased(Holding)
    covered = and_(held.start_date <= opened, or_(held.end_date.is_(None), held.end_date > opened))
    customers = conn.execute(
        select(func.count(func.distinct(held.customer_id))).where(covered)
    ).scalar_one()
    if not customers:
        return 0.0
    started = conn.execute(
        select(func.count(func.distinct(Holding.customer_id))).where(
            Holding.start_date > opened,
            Holding.start_date <= as_of,
            exists().where(held.customer_id == Holding.customer_id, covered),
            ~exists().where(
                before.customer_id == Holding.customer_id,
                before.product_id == Holding.product_id,
                before.start_date < Holding.start_date,
            ),
        )
    ).scalar_one()
    return float(started) / float(customers)


def _points(rate: float) -> str:
    return f"{rate * 100:.1f} points"


def _warning(
    figures: dict[str, Any],
    held_share: float,
    share: float,
    counts: Any,
    good: float,
) -> str | None:
    """What a manager should know before launching an underpowered list, and the fix."""
    effect, mde, needed = figures["expected_effect"], figures["mde"], figures["holdout_needed"]
    if effect is None or effect <= 0:
        return "no effect is expected from this list, so no holdout can show one"
    if effect > 1.0 - good + 1e-9:
        return (
            f"the expected effect of {_points(effect)} is more than the outcome can change "
            f"from its baseline of {figures['baseline']:.1%} (at most {_points(1.0 - good)}): "
            "check the expected effect"
        )
    if figures["power"] >= 0.8:
        return None
    can = (
        "cannot detect even the largest change possible"
        if mde is None
        else (f"detects {_points(mde)} or more")
    )
    expected = f"{_points(effect)} are expected ({figures['effect_source']})"
    if held_share <= 0:
        head = "no holdout: nothing will tell what the calls changed"
    else:
        head = f"underpowered: with {held_share:.0%} held out the list {can}, and {expected}"
    if needed is not None:
        return f"{head}; holding out {needed:.0%} of the list would detect it"
    best = minimum_detectable_effect(good, *counts(SHARES[-1]))
    best_said = "no possible change" if best is None else f"only {_points(best)} or more"
    fix = f"no holdout share is enough: even holding out {SHARES[-1]:.0%} detects {best_said}"
    to_call = figures["treated_needed"]
    if to_call is not None:
        list_size = to_call + round(to_call * share / (1 - share))
        fix += f"; it takes a list of about {to_call:,} customers to call, {share:.0%} held out"
        if list_size > figures["eligible"]:
            fix += f" (more than the {figures['eligible']:,} worth a call today)"
    return f"{head}; {fix}"
