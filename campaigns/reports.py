"""Saved customers and conversions, measured against the holdout.

Every effect is the difference between the treated group and the holdout, the random
control group the planner kept uncalled, with a 95% confidence interval from
Newcombe's hybrid score interval for a difference of two proportions (method 10 of
Newcombe 1998, statsmodels ``confint_proportions_2indep(method="newcomb")``): it keeps
its coverage with small groups and rates near 0 or 1, where the Wald interval does not.

Saved customers (anti-churn and win-back lists). A customer is lost when they hold no
product at the end of the measurement window (default 90 days after the launch).
Treated customers the dialer never reached stay in the treated group (intention to
treat), so the comparison with the holdout is a fair one:

    incremental saves = (lost share of the holdout - lost share of the treated) x treated

and its interval is the difference's interval times the treated count. The effect
among the reached is the intention-to-treat effect divided by the share reached (the
Bloom estimator: a holdout customer is never reached, and a call that never connects
changes nothing), with the interval scaled the same way. Splits by segment, ABC class
and offer compare treated and holdout customers of the same split (the holdout is
random, so each split has its own fair control). A split by agent can only compare the
customers each agent reached with the whole holdout; agents reach different people, so
those figures describe, they do not rank.

A list without a holdout, or with an empty group, makes no incremental claim and says
why.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
)

from campaigns.outcomes import ListOutcomes, list_outcomes
from store.models import Group, User

__all__ = [
    "NO_HOLDOUT",
    "ConversionReport",
    "Costs",
    "Effect",
    "SavedReport",
    "conversion_report",
    "difference_ci",
    "effect",
    "saved_report",
]

NO_HOLDOUT = (
    "the list kept no holdout, so nothing tells what these customers would have done "
    "without the calls: no incremental result can be claimed (plan with --holdout above 0)"
)
UNDECIDED = (
    "the 95% interval runs from a loss to a gain: the groups are too small to tell whether "
    "{what}; a larger list or holdout narrows it"
)
_T, _H = Group.TREATMENT.value, Group.HOLDOUT.value


@dataclass(frozen=True)
class Costs:
    """What the campaign cost: each contact attempt, and each offer taken up."""

    contact: float = 1.00  # a placed call or a sent text: carrier, agent minutes
    offer: float = 40.00  # a retention discount or a free month, per accepted offer

    def __post_init__(self) -> None:
        for name in ("contact", "offer"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cost must not be negative")


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
    sign is turned so that more conversions is a positive effect).
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
        return Effect(n_t, n_h, rate_t, rate_h, None, None, None, None, note)
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
    )


@dataclass(frozen=True)
class Split:
    """One row of a split: the group's name and its effect."""

    by: str
    value: str
    effect: Effect
    reached: int = 0
    value_kept: float | None = None


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
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON; the headline keys first."""
        e = self.effect
        return {
            "treated": e.treated,
            "holdout": e.holdout,
            "churn_treated": _round(e.rate_treated),
            "churn_holdout": _round(e.rate_holdout),
            "incremental_saves": _round(e.total, 2),
            "ci95": _pair(e.ci95, 2),
            "revenue_kept": _round(self.revenue_kept, 2),
            "cost_per_save": _round(self.cost_per_save, 2),
            "campaign": self.campaign,
            "kind": self.kind,
            "launched_on": self.launched_on.isoformat(),
            "window_end": self.window_end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "window_complete": self.complete,
            "save_rate": _round(e.per_customer),
            "save_rate_ci95": _pair(e.per_customer_ci95),
            "revenue_kept_ci95": _pair(self.revenue_kept_ci95, 2),
            "mean_clv": _round(self.mean_clv, 2),
            "reached": self.reached,
            "reach_rate": _round(self.reach_rate),
            "among_reached": {
                "customers": self.reached,
                "effect_per_reached": _round(self.among_reached.per_customer),
                "ci95": _pair(self.among_reached.per_customer_ci95),
            },
            "cost": round(self.cost, 2),
            "contacts": self.contacts,
            "offers": self.offers,
            "costs": asdict(self.costs),
            "splits": [_split_json(s) for s in self.splits],
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
    return _saved(outcome, costs, _agent_names(engine))


def _saved(outcome: ListOutcomes, costs: Costs, agents: dict[int, str]) -> SavedReport:
    frame = outcome.frame
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
    treated = frame[frame["group"] == _T]
    holdout = frame[frame["group"] == _H]
    main = _lost_effect(treated, holdout)
    if main.note:
        notes.append(main.note)
    if _spans_zero(main):
        notes.append(UNDECIDED.format(what="the calls changed churn"))
    reached = treated[treated["reached"]]
    reach_rate = len(reached) / len(treated) if len(treated) else None
    among = _among_reached(main, reach_rate)
    clv = treated["clv"].dropna()
    mean_clv = float(clv.mean()) if len(clv) else None
    if mean_clv is None and main.total is not None:
        notes.append("no customer value stored for the list: revenue kept is not known")
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
        splits=splits,
        curves=outcome.curves,
        notes=notes,
    )


def _lost_effect(treated: pd.DataFrame, holdout: pd.DataFrame) -> Effect:
    lost_t = int((~treated["active_end"]).sum())
    lost_h = int((~holdout["active_end"]).sum())
    return effect(lost_t, len(treated), lost_h, len(holdout), gain=-1)


def _among_reached(main: Effect, reach_rate: float | None) -> Effect:
    """The intention-to-treat effect per reached customer (Bloom's estimator)."""
    if main.per_customer is None or main.per_customer_ci95 is None or not reach_rate:
        note = main.note or "no treated customer was reached"
        return Effect(main.treated, main.holdout, None, None, None, None, None, None, note)
    low, high = main.per_customer_ci95
    reached = round(main.treated * reach_rate)
    return Effect(
        treated=reached,
        holdout=main.holdout,
        rate_treated=main.rate_treated,
        rate_holdout=main.rate_holdout,
        per_customer=main.per_customer / reach_rate,
        per_customer_ci95=(low / reach_rate, high / reach_rate),
        total=main.total,
        ci95=main.ci95,
    )


def _splits(treated: pd.DataFrame, holdout: pd.DataFrame, by: str) -> list[Split]:
    out = []
    for value in sorted(set(treated[by].astype(str)) | set(holdout[by].astype(str))):
        t = treated[treated[by].astype(str) == value]
        h = holdout[holdout[by].astype(str) == value]
        e = _lost_effect(t, h)
        clv = t["clv"].dropna()
        kept = e.total * float(clv.mean()) if e.total is not None and len(clv) else None
        out.append(Split(by, value, e, reached=int(t["reached"].sum()), value_kept=kept))
    return out


def _agent_splits(
    reached: pd.DataFrame, holdout: pd.DataFrame, agents: dict[int, str]
) -> list[Split]:
    out = []
    for agent_id, mine in reached.groupby("agent_id"):
        e = _lost_effect(mine, holdout)
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
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        e = self.effect
        return {
            "treated": e.treated,
            "holdout": e.holdout,
            "conversion_treated": _round(e.rate_treated),
            "conversion_holdout": _round(e.rate_holdout),
            "incremental_conversions": _round(e.total, 2),
            "ci95": _pair(e.ci95, 2),
            "claimed": self.claimed,
            "confirmed": self.confirmed,
            "added": self.added,
            "incremental_monthly_revenue": _round(self.monthly_revenue, 2),
            "campaign": self.campaign,
            "kind": self.kind,
            "launched_on": self.launched_on.isoformat(),
            "as_of": self.as_of.isoformat(),
            "attribution_days": self.attribution_days,
            "splits": [_split_json(s) for s in self.splits],
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
        splits=splits,
        notes=notes,
    )


def _spans_zero(e: Effect) -> bool:
    return e.ci95 is not None and e.ci95[0] < 0 < e.ci95[1]


def _agent_names(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(n) for i, n in conn.execute(select(User.id, User.full_name))}


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _pair(pair: tuple[float, float] | None, digits: int = 4) -> list[float] | None:
    if pair is None:
        return None
    return [round(float(pair[0]), digits), round(float(pair[1]), digits)]


def _split_json(split: Split) -> dict[str, Any]:
    e = split.effect
    return {
        "by": split.by,
        "value": split.value,
        "treated": e.treated,
        "holdout": e.holdout,
        "reached": split.reached,
        "rate_treated": _round(e.rate_treated),
        "rate_holdout": _round(e.rate_holdout),
        "effect": _round(e.total, 2),
        "ci95": _pair(e.ci95, 2),
        "value_kept": _round(split.value_kept, 2),
    }
