"""Campaign and agent KPIs, from the dialer's attempts, the agents' state history and
their dispositions.

Definitions (a contact-centre manager's, and the dialer's own):

* dials: calls that reached the carrier; texts are counted apart.
* live answers: calls a person answered (an answering machine or a fax is not one);
  connects: live answers an agent took; abandoned: live answers no agent took within
  2 s. The abandon rate is abandoned / live answers, against the campaign's limit.
* right-party contacts: connects whose agent recorded a conversation with the customer
  (accepted, refused, call back, do not call); conversions are the accepted ones and the
  conversion rate is conversions / right-party contacts. ``confirmed`` are the
  conversions whose customer the holdings feed shows taking the offer up.

The funnel is counted so that dials >= live answers >= connects >= right-party contacts
>= conversions >= confirmed holds whatever the stored rows say: each step counts calls of
the step before it. A conversation code recorded on a call no agent took (a machine, an
abandoned call) is no contact and no refusal; ``dispositions`` still tallies every code
as it was recorded.
* service level: live answers an agent took within ``SERVICE_SECONDS`` (20 s, the
  80/20 standard); a dropped call counts as missed.
* agent time, from ``agent_events``: each state lasts until the agent's next event;
  talk, wrap, wait (ready, no call) and pause. Average handle time is (talk + wrap)
  per call handled; occupancy is (talk + wrap) / (talk + wrap + wait); contacts per
  hour are right-party contacts per logged-in hour (all four states).
* per agent, besides time: calls, contacts, conversions, new sales (the customer's
  first accepted offer on any list) and repeat sales (they had accepted one before),
  and among the customers they reached, lost ones (a customer at the launch, none at
  the end of the measurement window) and restored ones (the reverse).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from campaigns.errors import CampaignNotFoundError
from campaigns.figures import call_attempts, call_funnel, rows_frame
from campaigns.outcomes import REACHED, ListOutcomes, list_outcomes
from store.models import (
    AgentEvent,
    Attempt,
    Campaign,
    CampaignKind,
    Conversion,
    Disposition,
    DispositionCode,
    User,
)

__all__ = ["SERVICE_SECONDS", "AgentKpis", "CampaignKpis", "kpi_report"]

SERVICE_SECONDS = 20


@dataclass(frozen=True)
class AgentKpis:
    agent: str
    calls: int
    contacts: int
    conversions: int
    new_sales: int
    repeat_sales: int
    lost: int
    restored: int
    seconds: dict[str, float]  # talk, wrap, preview (reading a card before a dial), wait, pause

    @property
    def handle_time(self) -> float | None:
        return (self.seconds["talk"] + self.seconds["wrap"]) / self.calls if self.calls else None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "calls": self.calls,
            "contacts": self.contacts,
            "conversions": self.conversions,
            "new_sales": self.new_sales,
            "repeat_sales": self.repeat_sales,
            "lost": self.lost,
            "restored": self.restored,
            "talk_s": round(self.seconds["talk"], 1),
            "wrap_s": round(self.seconds["wrap"], 1),
            "preview_s": round(self.seconds["preview"], 1),
            "wait_s": round(self.seconds["wait"], 1),
            "pause_s": round(self.seconds["pause"], 1),
            "average_handle_s": _r(self.handle_time, 1),
        }


@dataclass(frozen=True)
class CampaignKpis:
    campaign: str
    kind: str
    dials: int
    texts: int
    live_answers: int
    connects: int
    machines: int
    abandoned: int
    abandon_limit: float
    contacts: int
    conversions: int
    confirmed: int
    service_level: float | None
    seconds: dict[str, float]
    handled: int
    refusals_by_reason: dict[str, int]
    refusals_by_stage: dict[str, int]
    dispositions: dict[str, int]
    agents: list[AgentKpis] = field(default_factory=list)

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.live_answers if self.live_answers else None

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.contacts if self.contacts else None

    @property
    def handle_time(self) -> float | None:
        s = self.seconds
        return (s["talk"] + s["wrap"]) / self.handled if self.handled else None

    @property
    def occupancy(self) -> float | None:
        s = self.seconds
        busy = s["talk"] + s["wrap"] + s["preview"]  # previewing a customer is work
        return busy / (busy + s["wait"]) if busy + s["wait"] else None

    @property
    def contacts_per_hour(self) -> float | None:
        hours = sum(self.seconds.values()) / 3600
        return self.contacts / hours if hours else None

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "kind": self.kind,
            "dials": self.dials,
            "texts": self.texts,
            "live_answers": self.live_answers,
            "connects": self.connects,
            "machines": self.machines,
            "abandoned": self.abandoned,
            "abandon_rate": _r(self.abandon_rate),
            "abandon_limit": self.abandon_limit,
            "right_party_contacts": self.contacts,
            "conversions": self.conversions,
            "confirmed_conversions": self.confirmed,
            "conversion_rate": _r(self.conversion_rate),
            "average_handle_s": _r(self.handle_time, 1),
            "occupancy": _r(self.occupancy),
            "contacts_per_hour": _r(self.contacts_per_hour, 2),
            "service_level": _r(self.service_level),
            "service_seconds": SERVICE_SECONDS,
            "refusals_by_reason": self.refusals_by_reason,
            "refusals_by_stage": self.refusals_by_stage,
            "dispositions": self.dispositions,
            "agents": [a.to_json() for a in self.agents],
        }


def kpi_report(
    engine: Engine, name: str, *, abandon_limit: float, as_of: dt.date | None = None
) -> CampaignKpis:
    """The KPIs of campaign ``name``, its agents' included (the module's docstring says
    how each is counted).

    ``abandon_limit`` is the campaign's abandon target, from its dialing settings.
    """
    with engine.connect() as conn:
        campaign = conn.execute(
            select(Campaign.id, Campaign.kind).where(Campaign.name == name)
        ).first()
        if campaign is None:
            raise CampaignNotFoundError(name)
        rows = _read(conn, campaign.id)
    funnel = call_funnel(rows.attempts)
    dispositions = rows.dispositions
    spoken = _conversations(dispositions, funnel.connects)
    durations = _durations(rows.events)
    mine = durations[durations["campaign_id"] == campaign.id]
    accepted = spoken[spoken["code"] == DispositionCode.ACCEPTED.value]
    refused = spoken[spoken["code"] == DispositionCode.REFUSED.value]
    outcome = _outcome(engine, name, as_of)
    live = funnel.live
    return CampaignKpis(
        campaign=name,
        kind=CampaignKind(campaign.kind).value,
        dials=len(funnel.dials),
        texts=funnel.texts,
        live_answers=len(live),
        connects=len(funnel.connects),
        machines=int(funnel.machine.sum()),
        abandoned=funnel.abandoned,
        abandon_limit=abandon_limit,
        contacts=len(spoken),
        conversions=len(accepted),
        confirmed=int(accepted["customer_id"].isin(rows.confirmed).sum()),
        service_level=_in_time(funnel.connects, mine) / len(live) if len(live) else None,
        seconds=_seconds(mine),
        handled=int((mine["state"] == "talk").sum()),
        refusals_by_reason=_counts(refused["reason"]),
        refusals_by_stage=_counts(refused["stage"]),
        dispositions=_counts(dispositions["code"]),
        agents=[
            _agent(
                int(agent_id),
                rows.names.get(int(agent_id), f"agent {agent_id}"),
                mine[mine["agent_id"] == agent_id],
                spoken[spoken["agent_id"] == agent_id],
                rows.earlier_sales,
                outcome,
            )
            for agent_id in sorted(set(mine["agent_id"]) | set(dispositions["agent_id"].dropna()))
        ],
    )


@dataclass(frozen=True)
class _Rows:
    """What the report reads of one campaign, and of its agents' other work."""

    attempts: pd.DataFrame
    dispositions: pd.DataFrame
    events: pd.DataFrame
    confirmed: set[int]
    earlier_sales: dict[int, dt.datetime]
    names: dict[int, str]


def _read(conn: Connection, campaign_id: int) -> _Rows:
    dispositions = rows_frame(
        conn.execute(
            select(
                Disposition.id,
                Disposition.attempt_id,
                Disposition.customer_id,
                Disposition.agent_id,
                Disposition.code,
                Disposition.refusal_reason,
                Disposition.funnel_stage,
                Disposition.created_at,
            )
            .join(Attempt, Attempt.id == Disposition.attempt_id)
            .where(Attempt.campaign_id == campaign_id)
        ).all(),
        ["id", "attempt_id", "customer_id", "agent_id", "code", "reason", "stage", "at"],
    )
    confirmed = set(
        conn.execute(
            select(Conversion.customer_id).where(
                Conversion.campaign_id == campaign_id, Conversion.confirmed
            )
        ).scalars()
    )
    return _Rows(
        attempts=call_attempts(conn, campaign_id),
        dispositions=dispositions,
        events=_agent_events(conn, campaign_id),
        confirmed=confirmed,
        earlier_sales=_earlier_sales(conn, dispositions),
        names={int(i): str(n) for i, n in conn.execute(select(User.id, User.full_name))},
    )


def _agent_events(conn: Connection, campaign_id: int) -> pd.DataFrame:
    """Every state change of the agents who worked on the campaign, on any campaign."""
    return rows_frame(
        conn.execute(
            select(
                AgentEvent.agent_id,
                AgentEvent.campaign_id,
                AgentEvent.attempt_id,
                AgentEvent.state,
                AgentEvent.at,
            )
            .where(
                AgentEvent.agent_id.in_(
                    select(AgentEvent.agent_id)
                    .where(AgentEvent.campaign_id == campaign_id)
                    .distinct()
                )
            )
            .order_by(AgentEvent.agent_id, AgentEvent.at, AgentEvent.id)
        ).all(),
        ["agent_id", "campaign_id", "attempt_id", "state", "at"],
    )


def _conversations(dispositions: pd.DataFrame, connects: pd.DataFrame) -> pd.DataFrame:
    """The right-party contacts: the conversation codes recorded on connected calls, one
    per call (the store keeps one; counting calls keeps the funnel whatever it holds)."""
    spoken = dispositions["code"].isin([c.value for c in REACHED]) & dispositions[
        "attempt_id"
    ].isin(connects["attempt_id"])
    return dispositions[spoken].drop_duplicates("attempt_id")


def _in_time(connects: pd.DataFrame, durations: pd.DataFrame) -> int:
    """Connects whose agent began talking within ``SERVICE_SECONDS`` of the answer.

    A connect with no talk event was connected at answer all the same (its agent is set
    within the 2 s grace), so it counts as in time.
    """
    talks = durations[durations["state"] == "talk"]
    first_talk = pd.to_datetime(talks["at"], utc=True).groupby(talks["attempt_id"]).min()
    # looked up through a dict: pandas maps through an empty Series of datetimes by
    # casting it to float, which fails before any talk has been recorded
    talk_at = pd.to_datetime(connects["attempt_id"].map(first_talk.to_dict()), utc=True)
    waited = (talk_at - pd.to_datetime(connects["answered_at"], utc=True)).dt.total_seconds()
    return int((waited.fillna(0) <= SERVICE_SECONDS).sum())


def _durations(events: pd.DataFrame) -> pd.DataFrame:
    """Each event with how long the agent stayed in its state (until their next event)."""
    if events.empty:
        return events.assign(seconds=pd.Series(dtype=float))
    at = pd.to_datetime(events["at"], utc=True)
    following = at.groupby(events["agent_id"]).shift(-1)
    return events.assign(seconds=(following - at).dt.total_seconds().fillna(0.0).clip(lower=0))


def _seconds(durations: pd.DataFrame) -> dict[str, float]:
    if durations.empty:
        return dict.fromkeys(("talk", "wrap", "preview", "wait", "pause"), 0.0)
    by_state = durations.groupby("state")["seconds"].sum()
    return {
        "talk": float(by_state.get("talk", 0.0)),
        "wrap": float(by_state.get("wrap", 0.0)),
        "preview": float(by_state.get("preview", 0.0)),
        "wait": float(by_state.get("ready", 0.0)),
        "pause": float(by_state.get("paused", 0.0)),
    }


def _counts(values: pd.Series) -> dict[str, int]:
    counted = values.dropna().astype(str).value_counts()
    return {str(k): int(v) for k, v in counted.items()}


def _earlier_sales(conn: Connection, dispositions: pd.DataFrame) -> dict[int, dt.datetime]:
    """Each customer's first accepted offer on any list."""
    customers = dispositions["customer_id"].unique().tolist()
    first: dict[int, dt.datetime] = {}
    for start in range(0, len(customers), 30_000):
        part = customers[start : start + 30_000]
        for customer, at in conn.execute(
            select(Disposition.customer_id, func.min(Disposition.created_at))
            .where(
                Disposition.customer_id.in_(part),
                Disposition.code == DispositionCode.ACCEPTED.value,
            )
            .group_by(Disposition.customer_id)
        ):
            first[int(customer)] = at
    return first


def _outcome(engine: Engine, name: str, as_of: dt.date | None) -> ListOutcomes | None:
    outcome = list_outcomes(engine, name, as_of=as_of)
    return outcome if not outcome.frame.empty else None


def _agent(
    agent_id: int,
    name: str,
    durations: pd.DataFrame,
    spoken: pd.DataFrame,
    first_sale: dict[int, dt.datetime],
    outcome: ListOutcomes | None,
) -> AgentKpis:
    """One agent's figures; ``spoken`` are their right-party contacts."""
    accepted = spoken[spoken["code"] == DispositionCode.ACCEPTED.value]
    repeat = sum(
        1
        for customer, at in zip(accepted["customer_id"], accepted["at"], strict=True)
        if first_sale.get(int(customer), at) < at
    )
    lost = restored = 0
    if outcome is not None:
        frame = outcome.frame
        theirs = frame[frame["reached"] & (frame["agent_id"] == agent_id)]
        lost = int((theirs["active_start"] & ~theirs["active_end"]).sum())
        restored = int((~theirs["active_start"] & theirs["active_end"]).sum())
    return AgentKpis(
        agent=name,
        calls=int((durations["state"] == "talk").sum()),
        contacts=len(spoken),
        conversions=len(accepted),
        new_sales=len(accepted) - repeat,
        repeat_sales=repeat,
        lost=lost,
        restored=restored,
        seconds=_seconds(durations),
    )


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
