"""Saved customers and conversions, measured against the holdout.

Every effect is the difference between the treated group and the holdout, the random
control group the planner kept uncalled, with a 95% interval as ``campaigns.effects``
computes it (Newcombe's hybrid score interval).

Saved customers (anti-churn and win-back lists). A customer is lost when they hold no
product at the end of the measurement window (default 90 days after the launch).
Treated customers the dialer never reached stay in the treated group (intention to
treat), so the comparison with the holdout is a fair one:

    incremental saves = (lost share of the holdout - lost share of the treated) x treated

and its interval is the difference's interval times the treated count. The effect
among the reached is ``campaigns.effects.among_reached``. Revenue kept is the
incremental saves times the mean value of a treated customer: their CLV at planning on
an anti-churn list; on a win-back list, where a lost customer's CLV is 0, the new CLV
of the treated customers who came back (the monthly revenue of what they hold at the
window's end x the months the plan assumed a won-back customer stays).

Splits by segment, ABC class and offer compare treated and holdout customers of the
same split (the holdout is random, so each split has its own fair control). A split by
agent can only compare the customers each agent reached with the whole holdout; agents
reach different people, so those figures describe, they do not rank. Every split row is
read as ``campaigns.splits`` says: too small to show an interval, or exploratory and
adjusted for the number of rows.

A list without a holdout, or with an empty group, makes no incremental claim and says
why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from campaigns.adjusted import Adjusted, adjusted_json
from campaigns.effects import (
    NO_HOLDOUT,
    Effect,
    among_reached,
    difference_ci,
    effect,
    lost_effect,
    round_or_none,
    round_pair,
)
from campaigns.outcomes import ListOutcomes, list_outcomes
from campaigns.report_adjusted import binary_adjusted, revenue_adjusted
from campaigns.splits import Split, adjust_splits, adjustment_json, split_json
from store.models import CampaignKind, Group, User

__all__ = [
    "NO_HOLDOUT",
    "ConversionReport",
    "Costs",
    "Effect",
    "SavedReport",
    "Split",
    "conversion_report",
    "difference_ci",
    "effect",
    "saved_report",
]

UNDECIDED = (
    "the 95% interval runs from a loss to a gain: the groups are too small to tell whether "
    "{what}; a larger list or holdout narrows it"
)
_T, _H = Group.TREATMENT.value, Group.HOLDOUT.value
# how long the planner assumes a won-back customer stays, when the plan does not say
_WIN_BACK_MONTHS = 12.0


@dataclass(frozen=True)
class Costs:
    """What the campaign cost: each contact attempt, and each offer taken up."""

    contact: float = 1.00  # a placed call or a sent text: carrier, agent minutes
    offer: float = 40.00  # a retention discount or a free month, per accepted offer

    def __post_init__(self) -> None:
        for name in ("contact", "offer"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cost must not be negative")


@dataclass(frozen=True)
class SavedReport:
    campaign: str
    kind: str
    launched_on: dt.date
    window_end: dt.date
    as_of: dt.date
    complete: bool
    effect: Effect
    reached: int
    reach_rate: float | None
    among_reached: Effect
    mean_clv: float | None
    revenue_kept: float | None
    revenue_kept_ci95: tuple[float, float] | None
    contacts: int
    offers: int
    costs: Costs
    cost: float
    cost_per_save: float | None
    splits: list[Split]
    curves: dict[str, list[float]]
    # saves and revenue billed in the window, plain and covariate-adjusted
    adjusted: list[Adjusted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON; the headline keys first."""
        e = self.effect
        return {
            "treated": e.treated,
            "holdout": e.holdout,
            "churn_treated": round_or_none(e.rate_treated),
            "churn_holdout": round_or_none(e.rate_holdout),
            "incremental_saves": round_or_none(e.total, 2),
            "ci95": round_pair(e.ci95, 2),
            "revenue_kept": round_or_none(self.revenue_kept, 2),
            "cost_per_save": round_or_none(self.cost_per_save, 2),
            "campaign": self.campaign,
            "kind": self.kind,
            "launched_on": self.launched_on.isoformat(),
            "window_end": self.window_end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "window_complete": self.complete,
            "save_rate": round_or_none(e.per_customer),
            "save_rate_ci95": round_pair(e.per_customer_ci95),
            "revenue_kept_ci95": round_pair(self.revenue_kept_ci95, 2),
            "mean_clv": round_or_none(self.mean_clv, 2),
            "reached": self.reached,
            "reach_rate": round_or_none(self.reach_rate),
            "among_reached": {
                "customers": self.reached,
                "effect_per_reached": round_or_none(self.among_reached.per_customer),
                "ci95": round_pair(self.among_reached.per_customer_ci95),
                "note": self.among_reached.note,
            },
            "cost": round(self.cost, 2),
            "contacts": self.contacts,
            "offers": self.offers,
            "costs": asdict(self.costs),
            "splits": [split_json(s) for s in self.splits],
            "split_adjustment": adjustment_json(self.splits),
            "adjusted": {a.outcome: adjusted_json(a) for a in self.adjusted},
            "notes": self.notes,
        }


def saved_report(
    engine: Engine,
    name: str,
    *,
    as_of: dt.date | None = None,
    measure_days: int = 90,
    costs: Costs | None = None,
) -> SavedReport:
    """Who the calls kept, against the holdout, for anti-churn or win-back list ``name``."""
    outcome = list_outcomes(engine, name, as_of=as_of, measure_days=measure_days)
    costs = costs or Costs()
    report = _saved(outcome, costs, _agent_names(engine))
    revenue = revenue_adjusted(engine, outcome, outcome.frame)
    return replace(report, adjusted=[*report.adjusted, revenue])


def _saved(outcome: ListOutcomes, costs: Costs, agents: dict[int, str]) -> SavedReport:
    frame = _valued(outcome)
    notes = _saved_context(outcome)
    treated = frame[frame["group"] == _T]
    holdout = frame[frame["group"] == _H]
    main = lost_effect(treated, holdout)
    if main.note:
        notes.append(main.note)
    if _spans_zero(main):
        notes.append(UNDECIDED.format(what="the calls changed churn"))
    reached = treated[treated["reached"]]
    reach_rate = len(reached) / len(treated) if len(treated) else None
    among = among_reached(main, len(reached))
    if among.note and among.note != main.note:
        notes.append(among.note)
    clv = treated["clv"].dropna()
    mean_clv = float(clv.mean()) if len(clv) else None
    if mean_clv is None and main.total is not None:
        notes.append(_unknown_value(outcome.kind))
    kept = main.total * mean_clv if main.total is not None and mean_clv is not None else None
    kept_ci = (
        (main.ci95[0] * mean_clv, main.ci95[1] * mean_clv)
        if main.ci95 is not None and mean_clv is not None
        else None
    )
    contacts = int(treated["contacts"].sum())
    offers = int(treated["accepted"].sum())
    cost = contacts * costs.contact + offers * costs.offer
    per_save = None
    if main.total is not None:
        if main.total > 0:
            per_save = cost / main.total
        else:
            notes.append("no incremental saves measured, so there is no cost per save")
    splits = [
        *_splits(treated, holdout, "segment"),
        *_splits(treated, holdout, "abc"),
        *_splits(treated, holdout, "offer"),
        *_agent_splits(reached, holdout, agents),
    ]
    return SavedReport(
        campaign=outcome.name,
        kind=outcome.kind.value,
        launched_on=outcome.launched_on,
        window_end=outcome.window_end,
        as_of=outcome.as_of,
        complete=outcome.complete,
        effect=main,
        reached=len(reached),
        reach_rate=reach_rate,
        among_reached=among,
        mean_clv=mean_clv,
        revenue_kept=kept,
        revenue_kept_ci95=kept_ci,
        contacts=contacts,
        offers=offers,
        costs=costs,
        cost=cost,
        cost_per_save=per_save,
        splits=adjust_splits(splits, ("lost", "kept")),
        curves=outcome.curves,
        # on the frame as planned: a win-back's valued CLV is read after the launch
        adjusted=[
            binary_adjusted(
                "saves", outcome.frame, ~outcome.frame["active_end"].to_numpy(bool), main, gain=-1
            )
        ],
        notes=notes,
    )


def _saved_context(outcome: ListOutcomes) -> list[str]:
    """The notes that frame the figures: a list not meant to keep customers, a window
    still open."""
    notes = []
    if not outcome.kind.is_save:
        notes.append(
            f"a {outcome.kind.value} list is not meant to keep customers; the figures show "
            "whether its calls changed churn all the same"
        )
    if not outcome.complete:
        notes.append(
            f"the measurement window runs to {outcome.window_end}: these are interim figures "
            f"as of {outcome.as_of}"
        )
    return notes


def _valued(outcome: ListOutcomes) -> pd.DataFrame:
    """The list's entries with the value a saved customer brings in ``clv``.

    A win-back list's customers had left when it was planned, so their stored CLV is 0;
    one who came back is worth their new CLV: the monthly revenue of what they hold at
    the window's end times the months the plan assumed a won-back customer stays. One
    who did not come back has no value to keep.
    """
    frame = outcome.frame
    if outcome.kind is not CampaignKind.WIN_BACK:
        return frame
    months = float(outcome.economics.get("win_back_months") or _WIN_BACK_MONTHS)
    frame = frame.copy()
    back = frame["active_end"].to_numpy(bool)
    frame["clv"] = np.where(back, frame["revenue_end"].to_numpy(float) * months, np.nan)
    return frame


def _unknown_value(kind: CampaignKind) -> str:
    if kind is CampaignKind.WIN_BACK:
        return (
            "no treated customer has come back yet, so there is no new CLV to value the "
            "win-backs by: revenue kept is not known"
        )
    return "no customer value stored for the list: revenue kept is not known"


def _splits(treated: pd.DataFrame, holdout: pd.DataFrame, by: str) -> list[Split]:
    out = []
    for value in sorted(set(treated[by].astype(str)) | set(holdout[by].astype(str))):
        t = treated[treated[by].astype(str) == value]
        h = holdout[holdout[by].astype(str) == value]
        e = lost_effect(t, h)
        clv = t["clv"].dropna()
        kept = e.total * float(clv.mean()) if e.total is not None and len(clv) else None
        out.append(Split(by, value, e, reached=int(t["reached"].sum()), value_kept=kept))
    return out


def _agent_splits(
    reached: pd.DataFrame, holdout: pd.DataFrame, agents: dict[int, str]
) -> list[Split]:
    out = []
    for agent_id, mine in reached.groupby("agent_id"):
        e = lost_effect(mine, holdout)
        name = agents.get(int(str(agent_id)), f"agent {agent_id}")
        clv = mine["clv"].dropna()
        kept = e.total * float(clv.mean()) if e.total is not None and len(clv) else None
        out.append(Split("agent", name, e, reached=len(mine), value_kept=kept))
    return out


@dataclass(frozen=True)
class ConversionReport:
    campaign: str
    kind: str
    launched_on: dt.date
    as_of: dt.date
    attribution_days: int
    effect: Effect
    claimed: int  # accepted on a call
    confirmed: int  # accepted and seen in the feed within the window
    added: int  # treated conversions the feed shows without an accepted call
    monthly_revenue: float | None  # of the incremental conversions
    splits: list[Split]
    # conversions and revenue billed in the window, plain and covariate-adjusted
    adjusted: list[Adjusted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        e = self.effect
        return {
            "treated": e.treated,
            "holdout": e.holdout,
            "conversion_treated": round_or_none(e.rate_treated),
            "conversion_holdout": round_or_none(e.rate_holdout),
            "incremental_conversions": round_or_none(e.total, 2),
            "ci95": round_pair(e.ci95, 2),
            "claimed": self.claimed,
            "confirmed": self.confirmed,
            "added": self.added,
            "incremental_monthly_revenue": round_or_none(self.monthly_revenue, 2),
            "campaign": self.campaign,
            "kind": self.kind,
            "launched_on": self.launched_on.isoformat(),
            "as_of": self.as_of.isoformat(),
            "attribution_days": self.attribution_days,
            "splits": [split_json(s) for s in self.splits],
            "split_adjustment": adjustment_json(self.splits),
            "adjusted": {a.outcome: adjusted_json(a) for a in self.adjusted},
            "notes": self.notes,
        }


def conversion_report(
    engine: Engine, name: str, *, as_of: dt.date | None = None
) -> ConversionReport:
    """Take-up of the offered products on list ``name``, treated against holdout."""
    outcome = list_outcomes(engine, name, as_of=as_of)
    frame = outcome.frame
    notes = []
    offered = frame[frame["product_id"].notna()]
    if offered.empty:
        notes.append(
            "the list offers no product (a retention offer is measured by the saved-customer "
            "report): there is nothing to convert"
        )
    treated = offered[offered["group"] == _T]
    holdout = offered[offered["group"] == _H]
    main = effect(
        int(treated["converted"].sum()), len(treated), int(holdout["converted"].sum()), len(holdout)
    )
    if main.note and not offered.empty:
        notes.append(main.note)
    if _spans_zero(main):
        notes.append(UNDECIDED.format(what="the calls changed take-up"))
    revenue = treated.loc[treated["converted"], "revenue"].dropna()
    monthly = (
        main.total * float(revenue.mean()) if main.total is not None and len(revenue) else None
    )
    splits = []
    for value in sorted(set(offered["offer"].astype(str))):
        t = treated[treated["offer"] == value]
        h = holdout[holdout["offer"] == value]
        e = effect(int(t["converted"].sum()), len(t), int(h["converted"].sum()), len(h))
        splits.append(Split("offer", value, e, reached=int(t["reached"].sum())))
    agents = _agent_names(engine)
    for agent_id, mine in treated[treated["reached"]].groupby("agent_id"):
        e = effect(
            int(mine["converted"].sum()), len(mine), int(holdout["converted"].sum()), len(holdout)
        )
        name_ = agents.get(int(str(agent_id)), f"agent {agent_id}")
        splits.append(Split("agent", name_, e, reached=len(mine)))
    return ConversionReport(
        campaign=outcome.name,
        kind=outcome.kind.value,
        launched_on=outcome.launched_on,
        as_of=outcome.as_of,
        attribution_days=outcome.attribution_days,
        effect=main,
        claimed=int(treated["accepted"].sum()),
        confirmed=int((treated["accepted"] & treated["converted"]).sum()),
        added=int((~treated["accepted"] & treated["converted"]).sum()),
        monthly_revenue=monthly,
        splits=adjust_splits(splits, ("converted", "not converted")),
        adjusted=[
            binary_adjusted(
                "conversions", offered, offered["converted"].to_numpy(bool), main, gain=1
            ),
            revenue_adjusted(engine, outcome, offered),
        ],
        notes=notes,
    )


def _spans_zero(e: Effect) -> bool:
    return e.ci95 is not None and e.ci95[0] < 0 < e.ci95[1]


def _agent_names(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(n) for i, n in conn.execute(select(User.id, User.full_name))}
