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

Anti-churn and follow-up lists may instead choose from the satisfaction watch list
(``campaigns.watchlist``): the customers at risk by their latest survey whom nobody has
spoken with since (``PlanRequest.candidates``).

Every candidate passes the campaign's contact policy; a customer is on at most one
active list, and a list of a higher priority (anti-churn > follow-up > win-back >
up-sell > cross-sell) takes over an untouched treated entry of a lower one. A random
holdout, stratified by score decile and drawn from a stored seed, stays uncalled so
that what the list achieves can be measured, and the preview says whether it can: the
effect expected against the smallest the holdout can detect (``plan_power``). Figures
behind each entry are kept with it.

The candidates are read in ``plan_candidates``, chosen in ``plan_selection`` and the
plan kept in ``plan_storage``; this module holds the request and runs the steps.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.orm import Session

from campaigns.errors import CampaignNameTaken, NothingScoredError
from campaigns.plan_candidates import Candidates, scored_base
from campaigns.plan_power import list_power
from campaigns.plan_request import PlanRequest
from campaigns.plan_selection import select_entries
from campaigns.plan_storage import plan_preview, store_plan
from campaigns.settings.resolve import resolve
from campaigns.settings.versions import set_campaign_settings, site_values
from scoring.artifacts import active_version
from scoring.features import data_end
from store.dialect import has_advisory_locks
from store.models import (
    Campaign,
    ModelKind,
)

__all__ = [
    "Plan",
    "plan",
]


@dataclass(frozen=True)
class Plan:
    campaign_id: int | None  # None for a dry run
    preview: dict[str, Any]
    # the chosen customers, best first: customer_id, product_id, value, decile, holdout
    entries: pd.DataFrame


def plan(engine: Engine, request: PlanRequest, *, dry_run: bool = False) -> Plan:
    """Build and store a planned campaign (or only preview it, with ``dry_run``)."""
    mv = active_version(engine, ModelKind.CHURN)
    as_of = data_end(engine)
    if mv is None or as_of is None:
        raise NothingScoredError()
    now = request.now or dt.datetime.now(dt.UTC)
    seed = request.seed if request.seed is not None else secrets.randbits(31)
    with engine.connect() as conn:
        txn = conn.begin()
        try:
            _lock_planning(conn)
            if conn.execute(select(Campaign.id).where(Campaign.name == request.name)).first():
                raise CampaignNameTaken(request.name)
            site = site_values(Session(bind=conn))
            # screened under every profile the site uses; stored under its list's own
            policy = resolve(request.kind, site, request.policy)
            base = scored_base(conn, mv.id)
            if base.empty:
                raise NothingScoredError()
            builder = Candidates(conn, request, base, as_of, policy.costs)
            cands, basis = builder.build()
            result = select_entries(conn, request, policy, cands, now, seed)
            preview = plan_preview(request, result, basis, as_of, seed, mv.version)
            preview.update(builder.source())
            preview["power"] = list_power(conn, request, result, basis, base, as_of)
            campaign_id = None
            if not dry_run:
                campaign_id = store_plan(conn, request, mv.id, seed, result, preview)
                _first_settings(conn, campaign_id, request)
                txn.commit()
            else:
                txn.rollback()
        except BaseException:
            if txn.is_active:
                txn.rollback()
            raise
    columns = ["customer_id", "product_id", "value", "decile", "holdout"]
    return Plan(campaign_id, preview, result.chosen[columns].reset_index(drop=True))


def _first_settings(conn: Connection, campaign_id: int, request: PlanRequest) -> None:
    """The campaign's settings, version 1: the plan's own, resolved for its list."""
    session = Session(bind=conn)
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    set_campaign_settings(session, campaign, request.policy, request.actor)
    session.flush()


def _lock_planning(conn: Connection) -> None:
    """One plan at a time, so two lists never take the same customer."""
    if has_advisory_locks(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(7412001)"))
    else:
        # SQLite: the first write takes the database's write lock until commit, and the
        # reads after it see every plan committed before.
        conn.execute(update(Campaign).where(Campaign.id == -1).values(name=Campaign.name))
