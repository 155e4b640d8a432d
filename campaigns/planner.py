"""The list planner: who gets called, about what, and why.

A plan reads the scores of the churn model in force and builds one list of one kind:

- **anti-churn** ranks by the expected incremental value of a call: the predicted drop
  in churn probability (the uplift model, when one is active) or, without one, the risk
  times an assumed save rate, times CLV, less the contact and the offer. Only customers
  with enough value at risk (p_churn x CLV of at least ``min_value_at_risk``) and a
  positive expected value are taken;
- **cross-sell** offers a product from a family the customer does not hold yet, targeted
  at their segment; **up-sell** the next tier of a family they hold. Both rank by
  acceptance propensity x margin over the expected lifetime, less costs;
- **win-back** calls lost customers whose recorded exit reason an offer can answer;
- **follow-up** is the service call three months after a customer's start and after a
  complaint is closed, ranked by the value at risk.

Every candidate passes the campaign's contact policy; a customer is on at most one
active list, and a list of a higher priority (anti-churn > follow-up > win-back >
up-sell > cross-sell) takes over an untouched treated entry of a lower one. A random
holdout, stratified by score decile and drawn from a stored seed, stays uncalled so
that what the list achieves can be measured. Figures behind each entry are kept with it.

The candidates are read in ``plan_candidates``, chosen in ``plan_selection`` and the
plan kept in ``plan_storage``; this module holds the request and runs the steps.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select, text, update

from campaigns.errors import CampaignError, NothingScoredError
from campaigns.plan_candidates import Candidates, scored_base
from campaigns.plan_selection import select_entries
from campaigns.plan_storage import plan_preview, store_plan
from campaigns.policy.settings import ContactPolicy
from scoring.artifacts import active_version
from scoring.features import data_end
from store.dialect import has_advisory_locks
from store.models import (
    Campaign,
    CampaignKind,
    ModelKind,
)

__all__ = [
    "Economics",
    "Plan",
    "PlanRequest",
    "plan",
]


@dataclass(frozen=True)
class Economics:
    """The money and planning assumptions of a list; stored with the campaign."""

    contact_cost: float = 3.0  # per treated entry: attempts, agent time, SMS
    # expected cost of the offer per call: its price times the share who take it (a
    # retention discount of 40 taken by one in eight called), the same for every entry
    offer_cost: float = 5.0
    save_rate: float = 0.20  # share of the risk a call removes, when no uplift model exists
    min_value_at_risk: float = 50.0  # risk-based lists: p_churn x CLV must reach this
    win_back_rate: float = 0.10  # lost customers who come back after a call
    win_back_months: float = 12.0  # and how long they stay
    win_back_days: int = 365  # exits older than this are not called
    follow_up_after_days: tuple[int, int] = (90, 120)  # the three-month service call
    complaint_closed_days: int = 30  # the after-complaint call

    def __post_init__(self) -> None:
        for name in ("contact_cost", "offer_cost", "win_back_months", "min_value_at_risk"):
            if getattr(self, name) < 0:
                raise CampaignError(f"{name} must not be negative")
        for name in ("save_rate", "win_back_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise CampaignError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class PlanRequest:
    kind: CampaignKind
    name: str
    size: int | None = None
    agents: int | None = None
    hours: float | None = None
    contacts_per_hour: float | None = None
    holdout: float = 0.10
    seed: int | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)
    economics: Economics = field(default_factory=Economics)
    now: dt.datetime | None = None

    def treated_target(self) -> int | None:
        """How many customers the agents should call: ``size`` or the capacity."""
        capacity = (self.agents, self.hours, self.contacts_per_hour)
        if self.size is not None:
            if any(c is not None for c in capacity):
                raise CampaignError("give either --size or --agents/--hours/--contacts-per-hour")
            if self.size < 1:
                raise CampaignError("--size must be at least 1")
            return self.size
        if all(c is None for c in capacity):
            return None
        if any(c is None for c in capacity):
            raise CampaignError("capacity needs all of --agents, --hours and --contacts-per-hour")
        agents, hours, rate = (float(c) for c in capacity)  # type: ignore[arg-type]
        if min(agents, hours, rate) <= 0:
            raise CampaignError("--agents, --hours and --contacts-per-hour must be positive")
        return int(agents * hours * rate)

    def validate(self) -> None:
        if not self.name.strip():
            raise CampaignError("a campaign needs a name")
        if not 0 <= self.holdout < 1:
            raise CampaignError("--holdout must be at least 0 and below 1, e.g. 0.10")
        self.treated_target()


@dataclass(frozen=True)
class Plan:
    campaign_id: int | None  # None for a dry run
    preview: dict[str, Any]
    # the chosen customers, best first: customer_id, product_id, value, decile, holdout
    entries: pd.DataFrame


def plan(engine: Engine, request: PlanRequest, *, dry_run: bool = False) -> Plan:
    """Build and store a planned campaign (or only preview it, with ``dry_run``)."""
    request.validate()
    mv = active_version(engine, ModelKind.CHURN)
    as_of = data_end(engine)
    if mv is None or as_of is None:
        raise NothingScoredError()
    now = request.now or dt.datetime.now(dt.UTC)
    policy = ContactPolicy.for_kind(request.kind, request.policy)
    seed = request.seed if request.seed is not None else secrets.randbits(31)
    with engine.connect() as conn:
        txn = conn.begin()
        try:
            _lock_planning(conn)
            if conn.execute(select(Campaign.id).where(Campaign.name == request.name)).first():
                raise CampaignError(
                    f"a campaign named {request.name!r} exists already: choose another name"
                )
            base = scored_base(conn, mv.id)
            if base.empty:
                raise NothingScoredError()
            builder = Candidates(conn, request, base, as_of)
            cands, basis = builder.build()
            result = select_entries(conn, request, policy, cands, now, seed)
            preview = plan_preview(request, result, basis, as_of, seed, mv.version)
            campaign_id = None
            if not dry_run:
                campaign_id = store_plan(conn, request, policy, mv.id, seed, result, preview)
                txn.commit()
            else:
                txn.rollback()
        except BaseException:
            if txn.is_active:
                txn.rollback()
            raise
    columns = ["customer_id", "product_id", "value", "decile", "holdout"]
    return Plan(campaign_id, preview, result.chosen[columns].reset_index(drop=True))


def _lock_planning(conn: Connection) -> None:
    """One plan at a time, so two lists never take the same customer."""
    if has_advisory_locks(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(7412001)"))
    else:
        # SQLite: the first write takes the database's write lock until commit, and the
        # reads after it see every plan committed before.
        conn.execute(update(Campaign).where(Campaign.id == -1).values(name=Campaign.name))
