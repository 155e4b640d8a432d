"""The monthly retention report: churn per month, quarter and year against the target,
complaints, customers saved and what keeping them saved against winning new ones.

Churn is read from the holdings feed the way every report here reads it: a customer is
lost on the day their last run of holdings ends (a product switch is not churn). The
churn rate of a period is the customers lost in it over the customers active on its
first day. The target is an annual churn rate; a month's share of it is
``1 - (1 - target) ** (1 / 12)`` (a quarter's ``** (1 / 4)``), so twelve months on
target make the year's.

The report runs to its as-of day and never past the data: the day asked for (today when
none), capped at the latest day the feeds record (a holding's start or end, a billing
month, an interaction) or today, whichever is earlier. A month, quarter or year is
complete when it has ended by the as-of day and begins on or after the feeds' earliest
day; an incomplete one is reported as far as it goes and never judged on or off target
(a month of data says nothing about the year).

Complaints are complaint records plus dissatisfied survey answers, which the source
documents say to treat as complaints (1-3 on a 1-5 scale, where 2 is open and 3 hidden
dissatisfaction; 1-6 on a 1-10 scale, the watch list).

Customers saved are the incremental saves (against the holdout) of the anti-churn and
win-back lists launched in the period, each counted by ``campaigns.effects.lost_effect``
as the saved-customer report counts it, their 95% intervals added as
``campaigns.effects.sum_intervals`` adds them (a period with one list shows that list's
own interval).
Money saved is what acquiring that many new customers would have cost (the
acquisition cost per customer, a setting) less what the lists cost.

Filters (``Filters``) narrow the report, each with one meaning:

    segment     churn and complaints among the customers of the segment; saves among
                the list entries of customers in it (treated and holdout alike, so the
                holdout stays a fair control)
    campaigns   saves of those lists only
    offer       saves among the list entries with that offer (treated and holdout)
    agent       saves among the treated customers the agent spoke with (the last agent
                with a conversation, as ``campaigns.outcomes`` reads it) against the
                whole holdout: agents reach different people, so this describes, it
                does not rank; the cost is of those customers' contacts and offers

Campaign, offer and agent leave churn and complaints as they are: they are properties of
list entries, not of the customer base. ``MonthlyReport.scope`` says in words what each
figure covers; a value the store does not know raises ``FilterError`` naming the filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, func, or_, select

from campaigns.effects import lost_effect, sum_intervals
from campaigns.errors import CampaignError
from campaigns.outcomes import coverage_runs, list_outcomes
from campaigns.reports import Costs
from scoring.value import dissatisfied_bands
from store.models import (
    Billing,
    Campaign,
    CampaignKind,
    Customer,
    Group,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    Role,
    Segment,
    User,
)

__all__ = [
    "ACQUISITION_COST",
    "ANNUAL_TARGET",
    "DataSpan",
    "FilterChoices",
    "FilterError",
    "Filters",
    "MonthlyReport",
    "Period",
    "data_span",
    "filter_choices",
    "monthly_report",
]

ANNUAL_TARGET = 0.05  # the source documents' goal: churn cut to about 5% a year
ACQUISITION_COST = 300.0  # winning one new customer; 5-7x keeping one
_T, _H = Group.TREATMENT.value, Group.HOLDOUT.value


class FilterError(CampaignError):
    """A filter value the store does not know; ``fields`` maps each filter to the problem."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


@dataclass(frozen=True)
class Filters:
    """What to narrow the report to; empty values mean no filter.

    ``agent`` is the agent's username, ``segment`` a segment code, ``offer`` the offer
    as the list entries carry it.
    """

    campaigns: tuple[str, ...] = ()
    segment: str | None = None
    offer: str | None = None
    agent: str | None = None

    @classmethod
    def of(
        cls,
        campaigns: Iterable[str] = (),
        segment: str | None = None,
        offer: str | None = None,
        agent: str | None = None,
    ) -> Filters:
        """Filters from raw inputs: blanks dropped, names trimmed, repeats folded."""
        names = tuple(dict.fromkeys(c.strip() for c in campaigns if c and c.strip()))
        return cls(names, _blank(segment), _blank(offer), _blank(agent))

    @property
    def applied(self) -> bool:
        return bool(self.campaigns or self.segment or self.offer or self.agent)

    def to_json(self) -> dict[str, Any]:
        return {
            "campaigns": list(self.campaigns),
            "segment": self.segment,
            "offer": self.offer,
            "agent": self.agent,
        }


@dataclass(frozen=True)
class AgentChoice:
    id: int
    username: str
    full_name: str


@dataclass(frozen=True)
class FilterChoices:
    """The values each filter accepts, read from the store."""

    campaigns: list[str]  # launched anti-churn and win-back lists, newest first
    segments: list[str]
    offers: list[str]
    agents: list[AgentChoice]

    def agent(self, username: str) -> AgentChoice | None:
        return next((a for a in self.agents if a.username == username), None)

    def problems(self, filters: Filters) -> dict[str, str]:
        """Each filter whose value the store does not know, with what to do instead."""
        out: dict[str, str] = {}
        unknown = [c for c in filters.campaigns if c not in self.campaigns]
        if unknown:
            out["campaign"] = (
                f"no launched anti-churn or win-back list named {', '.join(map(repr, unknown))}"
            )
        if filters.segment and filters.segment not in self.segments:
            out["segment"] = f"no segment {filters.segment!r}: use one of " + (
                ", ".join(self.segments) or "(none stored yet)"
            )
        if filters.offer and filters.offer not in self.offers:
            out["offer"] = f"no list of a launched campaign offers {filters.offer!r}"
        if filters.agent and self.agent(filters.agent) is None:
            out["agent"] = f"no agent with the username {filters.agent!r}"
        return out


def filter_choices(engine: Engine) -> FilterChoices:
    with engine.connect() as conn:
        campaigns = conn.execute(
            select(Campaign.name)
            .where(Campaign.kind.in_(CampaignKind.saves()), Campaign.launched_at.is_not(None))
            .order_by(Campaign.launched_at.desc(), Campaign.name)
        ).scalars()
        segments = conn.execute(select(Segment.code).order_by(Segment.code)).scalars()
        offers = conn.execute(
            select(ListEntry.offer)
            .join(Campaign, Campaign.id == ListEntry.campaign_id)
            .where(Campaign.launched_at.is_not(None), ListEntry.offer.is_not(None))
            .distinct()
            .order_by(ListEntry.offer)
        ).scalars()
        agents = conn.execute(
            select(User.id, User.username, User.full_name)
            .where(User.role == Role.AGENT)
            .order_by(User.full_name, User.username)
        ).all()
        return FilterChoices(
            campaigns=list(campaigns),
            segments=list(segments),
            offers=[o for o in offers if o is not None],
            agents=[AgentChoice(int(i), str(u), str(n)) for i, u, n in agents],
        )


@dataclass(frozen=True)
class DataSpan:
    """The days the feeds record, from the earliest to the latest (None with no data)."""

    first: dt.date | None = None
    last: dt.date | None = None

    def as_of(self, today: dt.date, asked: dt.date | None = None) -> dt.date:
        """The day a report runs to: ``asked`` (else today), never past the feeds'
        latest day or today, whichever is earlier."""
        cap = today if self.last is None else min(today, self.last)
        return cap if asked is None else min(asked, cap)

    def complete(self, start: dt.date, end: dt.date, as_of: dt.date) -> bool:
        """Whether the data covers the period [start, end) whole by ``as_of``."""
        ended = end <= as_of + dt.timedelta(days=1)
        return self.first is not None and self.first <= start and ended


@dataclass(frozen=True)
class Period:
    label: str  # 2026-10, 2026-Q4, 2026
    start: dt.date
    active: int
    lost: int
    target: float
    complaints: int
    saved: float
    saved_ci95: tuple[float, float] | None
    campaign_cost: float
    complete: bool  # ended by the as-of day, and the data reaches back to its start

    @property
    def churn_rate(self) -> float | None:
        return self.lost / self.active if self.active else None

    @property
    def on_target(self) -> bool | None:
        """None when there is nothing to judge: no customers, or a period the data does
        not cover whole."""
        rate = self.churn_rate
        return None if rate is None or not self.complete else rate <= self.target

    def to_json(self, acquisition_cost: float) -> dict[str, Any]:
        rate = self.churn_rate
        return {
            "period": self.label,
            "complete": self.complete,
            "active_at_start": self.active,
            "lost": self.lost,
            "churn_rate": None if rate is None else round(rate, 5),
            "target": round(self.target, 5),
            "on_target": self.on_target,
            "complaints": self.complaints,
            "customers_saved": round(self.saved, 2),
            "saved_ci95": None
            if self.saved_ci95 is None
            else [round(self.saved_ci95[0], 2), round(self.saved_ci95[1], 2)],
            "campaign_cost": round(self.campaign_cost, 2),
            "acquisition_cost_avoided": round(self.saved * acquisition_cost, 2),
            "money_saved": round(self.saved * acquisition_cost - self.campaign_cost, 2),
        }


@dataclass(frozen=True)
class MonthlyReport:
    as_of: dt.date
    data: DataSpan
    annual_target: float
    acquisition_cost: float
    months: list[Period]
    quarters: list[Period]
    years: list[Period]
    notes: list[str] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)
    # what each figure covers, in words: the filters applied, or the whole base
    scope: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        cost = self.acquisition_cost
        return {
            "as_of": self.as_of.isoformat(),
            "data_from": _iso(self.data.first),
            "data_until": _iso(self.data.last),
            "annual_target": self.annual_target,
            "acquisition_cost": cost,
            "filters": self.filters.to_json(),
            "scope": self.scope,
            "months": [p.to_json(cost) for p in self.months],
            "quarters": [p.to_json(cost) for p in self.quarters],
            "years": [p.to_json(cost) for p in self.years],
            "notes": self.notes,
        }


def monthly_report(
    engine: Engine,
    *,
    months: int = 12,
    as_of: dt.date | None = None,
    annual_target: float = ANNUAL_TARGET,
    acquisition_cost: float = ACQUISITION_COST,
    costs: Costs | None = None,
    filters: Filters | None = None,
    today: dt.date | None = None,
) -> MonthlyReport:
    """The last ``months`` calendar months up to the as-of day (``as_of`` capped as the
    module's docstring says), with their quarters and years, narrowed by ``filters``;
    FilterError names a value the store does not know."""
    if not 0 < annual_target < 1:
        raise ValueError("annual_target: give the yearly churn goal as a share, e.g. 0.05")
    if months < 1:
        raise ValueError("months: report at least one month")
    filters = filters or Filters()
    agent = None
    if filters.applied:
        choices = filter_choices(engine)
        problems = choices.problems(filters)
        if problems:
            raise FilterError(problems)
        agent = choices.agent(filters.agent) if filters.agent else None
    span = data_span(engine)
    today = today or dt.datetime.now(dt.UTC).date()
    asked, as_of = as_of, span.as_of(today, as_of)
    first = _month_start(as_of)
    for _ in range(months - 1):
        first = _month_start(first - dt.timedelta(days=1))
    month_starts = _starts(first, as_of, 1)
    quarter_starts = _starts(_quarter_start(first), as_of, 3)
    year_starts = _starts(dt.date(first.year, 1, 1), as_of, 12)
    runs = _runs(engine, as_of, filters.segment)
    complaints = _complaints(engine, year_starts[0], as_of, filters.segment)
    saves, notes = _saves(engine, year_starts[0], as_of, costs or Costs(), filters, agent)
    if asked is not None and asked > as_of:
        notes.insert(0, _cut_note(asked, as_of, span))

    def periods(starts: list[dt.date], step: int, label: Any) -> list[Period]:
        out = []
        for start in starts:
            period_end = _add_months(start, step)
            end = min(period_end, as_of + dt.timedelta(days=1))
            target = 1 - (1 - annual_target) ** (step / 12)
            in_period = saves[(saves["launched"] >= start) & (saves["launched"] < end)]
            summed = sum_intervals(
                (saved, (low, high))
                for saved, low, high in in_period[["saved", "low", "high"]].to_numpy(float)
            )
            out.append(
                Period(
                    label=label(start),
                    start=start,
                    active=_active_on(runs, start),
                    lost=_lost_between(runs, start, end),
                    target=target,
                    complaints=int(((complaints >= start) & (complaints < end)).sum()),
                    saved=0.0 if summed is None else summed[0],
                    saved_ci95=None if summed is None else summed[1],
                    campaign_cost=float(in_period["cost"].sum()),
                    complete=span.complete(start, period_end, as_of),
                )
            )
        return out

    return MonthlyReport(
        as_of=as_of,
        data=span,
        annual_target=annual_target,
        acquisition_cost=acquisition_cost,
        months=periods(month_starts, 1, lambda d: f"{d:%Y-%m}"),
        quarters=periods(quarter_starts, 3, lambda d: f"{d.year}-Q{(d.month - 1) // 3 + 1}"),
        years=periods(year_starts, 12, lambda d: f"{d.year}"),
        notes=notes,
        filters=filters,
        scope=_scope(filters, agent),
    )


def data_span(engine: Engine) -> DataSpan:
    """The earliest and the latest day the dated feeds record: holdings (starts and
    ends), billing months and interactions."""
    with engine.connect() as conn:
        holdings = conn.execute(
            select(
                func.min(Holding.start_date),
                func.max(Holding.start_date),
                func.max(Holding.end_date),
            )
        ).one()
        billing = conn.execute(select(func.min(Billing.month), func.max(Billing.month))).one()
        said = conn.execute(
            select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
        ).one()
    days = [d for d in (*holdings, *billing) if d is not None]
    days += [at.date() for at in said if at is not None]
    return DataSpan(min(days), max(days)) if days else DataSpan()


def _cut_note(asked: dt.date, as_of: dt.date, span: DataSpan) -> str:
    why = "the feeds' latest day" if as_of == span.last else "today"
    return f"asked for {asked}: a report does not run past the data, so it is as of {as_of} ({why})"


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _blank(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _scope(filters: Filters, agent: AgentChoice | None) -> list[str]:
    """What the churn and the saves figures cover, in words."""
    base = f"customers of segment {filters.segment}" if filters.segment else "all customers"
    lists = (
        "the lists " + ", ".join(filters.campaigns)
        if filters.campaigns
        else "every anti-churn and win-back list"
    )
    narrower = []
    if filters.segment:
        narrower.append(f"entries of segment {filters.segment}")
    if filters.offer:
        narrower.append(f"entries offered {filters.offer!r}")
    if agent is not None:
        narrower.append(
            f"treated customers {agent.full_name} ({agent.username}) spoke with, "
            "against the whole holdout"
        )
    saves = f"customers saved and money saved: {lists} launched in each period"
    if narrower:
        saves += ", only " + "; ".join(narrower)
    return [f"churn and complaints: {base}", saves]


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, n: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _starts(first: dt.date, as_of: dt.date, step: int) -> list[dt.date]:
    out = []
    while first <= as_of:
        out.append(first)
        first = _add_months(first, step)
    return out


def _in_segment(query: Any, customer_id: Any, segment: str | None) -> Any:
    """``query`` narrowed to customers of ``segment`` (unchanged when None)."""
    if segment is None:
        return query
    return (
        query.join(Customer, Customer.id == customer_id)
        .join(Segment, Segment.id == Customer.segment_id)
        .where(Segment.code == segment)
    )


def _runs(engine: Engine, as_of: dt.date, segment: str | None = None) -> pd.DataFrame:
    """Every customer's runs of coverage, as the feed knows them on ``as_of``."""
    query = select(Holding.customer_id, Holding.start_date, Holding.end_date).where(
        Holding.start_date <= as_of
    )
    with engine.connect() as conn:
        rows = conn.execute(_in_segment(query, Holding.customer_id, segment)).all()
    spans = pd.DataFrame([tuple(r) for r in rows], columns=["customer_id", "start", "end"])
    spans["start"] = pd.to_datetime(spans["start"]).to_numpy(dtype="datetime64[D]")
    ends = pd.to_datetime(spans["end"]).to_numpy(dtype="datetime64[D]")
    open_end = np.datetime64("2200-01-01")
    spans["end"] = np.where(np.isnat(ends) | (ends > np.datetime64(as_of, "D")), open_end, ends)
    return coverage_runs(spans)


def _active_on(runs: pd.DataFrame, day: dt.date) -> int:
    d = np.datetime64(day, "D")
    return int(runs.loc[(runs["start"] <= d) & (runs["end"] > d), "customer_id"].nunique())


def _lost_between(runs: pd.DataFrame, start: dt.date, end: dt.date) -> int:
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    return int(((runs["end"] > lo) & (runs["end"] <= hi)).sum())


def _complaints(
    engine: Engine, since: dt.date, as_of: dt.date, segment: str | None = None
) -> pd.Series:
    """The day of every complaint and dissatisfied survey answer in the span."""
    lo = dt.datetime.combine(since, dt.time(), dt.UTC)
    hi = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    dissatisfied = and_(
        Interaction.kind == InteractionKind.SURVEY,
        or_(
            *(
                and_(Interaction.scale == scale, Interaction.score.between(lowest, highest))
                for scale, lowest, highest in dissatisfied_bands()
            )
        ),
    )
    query = select(Interaction.occurred_at).where(
        Interaction.occurred_at >= lo,
        Interaction.occurred_at < hi,
        or_(Interaction.kind == InteractionKind.COMPLAINT, dissatisfied),
    )
    with engine.connect() as conn:
        days = conn.execute(_in_segment(query, Interaction.customer_id, segment)).scalars()
        return pd.Series([d.date() for d in days], dtype=object)


def _saves(
    engine: Engine,
    since: dt.date,
    as_of: dt.date,
    costs: Costs,
    filters: Filters,
    agent: AgentChoice | None,
) -> tuple[pd.DataFrame, list[str]]:
    """Per list launched since ``since``: its saves, their interval and cost.

    Counted as the saved-customer report counts them (lost = no product at the end of
    the measurement window; cost = contacts and accepted offers of the treated), on the
    entries the filters keep.
    """
    lo = dt.datetime.combine(since, dt.time(), dt.UTC)
    query = select(Campaign.name, Campaign.launched_at).where(
        Campaign.kind.in_(CampaignKind.saves()),
        Campaign.launched_at.is_not(None),
        Campaign.launched_at >= lo,
    )
    if filters.campaigns:
        query = query.where(Campaign.name.in_(filters.campaigns))
    with engine.connect() as conn:
        launched = conn.execute(query.order_by(Campaign.launched_at, Campaign.name)).all()
    rows, notes = [], []
    for name, at in launched:
        assert at is not None
        outcome = list_outcomes(engine, name, as_of=as_of)
        frame = outcome.frame
        if filters.segment:
            frame = frame[frame["segment"] == filters.segment]
        if filters.offer:
            frame = frame[frame["offer"] == filters.offer]
        treated = frame[frame["group"] == _T]
        holdout = frame[frame["group"] == _H]
        if agent is not None:
            theirs = (treated["agent_id"] == agent.id).fillna(False).astype(bool)
            treated = treated[treated["reached"] & theirs]
        e = lost_effect(treated, holdout)
        if e.total is None or e.ci95 is None:
            notes.append(f"{name}: no saves counted ({e.note})")
            continue
        if not outcome.complete:
            notes.append(f"{name}: window open until {outcome.window_end}, interim saves")
        cost = int(treated["contacts"].sum()) * costs.contact
        cost += int(treated["accepted"].sum()) * costs.offer
        rows.append(
            {
                "launched": at.date(),
                "saved": e.total,
                "low": e.ci95[0],
                "high": e.ci95[1],
                "cost": cost,
            }
        )
    frame = pd.DataFrame(rows, columns=["launched", "saved", "low", "high", "cost"])
    return frame, notes
