"""Choosing a list's entries: the contact policy screened, priority over other active
lists, the capacity, and the holdout drawn stratified by score decile."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, select

from campaigns.policy.screen import screen
from campaigns.settings.model import CampaignSettings
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    EntryStatus,
    ExclusionReason,
    Group,
    ListEntry,
)

if TYPE_CHECKING:
    # the request's types only: the planner imports this module to run it
    from campaigns.plan_request import PlanRequest

__all__ = ["ACTIVE_STATUSES", "Selection", "list_counts", "select_entries", "split_holdout"]

ACTIVE_STATUSES = (CampaignStatus.PLANNED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_OPEN_ENTRY = (EntryStatus.PENDING, EntryStatus.IN_PROGRESS, EntryStatus.CALLBACK)


@dataclass
class Selection:
    """The entries chosen, and why the other candidates were not."""

    chosen: pd.DataFrame  # with a "holdout" column
    candidates: int
    not_worth: int
    over_capacity: int
    excluded: pd.DataFrame  # customer_id, reason, detail
    takeovers: pd.DataFrame  # entry_id, campaign_id, customer_id of lower lists' entries
    target: int | None


def select_entries(
    conn: Connection,
    request: PlanRequest,
    policy: CampaignSettings,
    cands: pd.DataFrame,
    now: dt.datetime,
    seed: int,
) -> Selection:
    kind = request.kind
    worth_mask = (
        np.ones(len(cands), bool)
        if kind is CampaignKind.FOLLOW_UP
        else cands["value"].to_numpy(float) > 0
    )
    worth = cands[worth_mask]
    pairs = pd.DataFrame(
        {
            "customer_id": worth["customer_id"].astype("int64").to_numpy(),
            "product_id": worth["product_id"].astype("Int64").to_numpy(),
        },
        index=worth.index,
    )
    reasons = screen(conn, policy, pairs, kind=kind, channel=Channel.CALL, now=now)
    blocked = reasons.notna().to_numpy()
    excluded = [
        pd.DataFrame(
            {
                "customer_id": worth.index[blocked],
                "reason": reasons[blocked].astype(str).to_numpy(),
                "detail": None,
            }
        )
    ]
    free = worth[~blocked]
    busy = _active_entries(conn, free.index.tolist())
    mine = kind.priority
    movable = (
        busy["priority"].lt(mine)
        & busy["group"].eq(Group.TREATMENT.value)
        & busy["status"].eq(EntryStatus.PENDING.value)
    )
    stuck = busy.loc[~movable, ["customer_id", "campaign"]].drop_duplicates("customer_id")
    excluded.append(
        pd.DataFrame(
            {
                "customer_id": stuck["customer_id"].to_numpy(),
                "reason": ExclusionReason.ON_ACTIVE_LIST.value,
                "detail": ("on list " + stuck["campaign"]).str.slice(0, 200).to_numpy(),
            }
        )
    )
    eligible = free[~free.index.isin(stuck["customer_id"])]
    eligible = eligible.sort_values(["value", "customer_id"], ascending=[False, True])
    target = request.treated_target()
    total, holdout = list_counts(len(eligible), target, request.holdout)
    chosen = eligible.iloc[:total].copy()
    rng = np.random.default_rng(seed)
    chosen["holdout"] = split_holdout(
        chosen["decile"].to_numpy(np.int64), request.holdout, rng, count=holdout
    )
    takeovers = busy[movable & busy["customer_id"].isin(chosen.index)]
    return Selection(
        chosen=chosen,
        candidates=len(cands),
        not_worth=int((~worth_mask).sum()),
        over_capacity=len(eligible) - total,
        excluded=pd.concat(excluded, ignore_index=True),
        takeovers=takeovers,
        target=target,
    )


def list_counts(eligible: int, target: int | None, share: float) -> tuple[int, int]:
    """How many of ``eligible`` customers a list takes, and how many of them it holds out.

    With a ``target`` the agents call that many and the holdout comes on top of them,
    as long as the eligible customers suffice; otherwise the list takes everyone eligible
    and holds out ``share`` of them.
    """
    total, holdout = eligible, round(eligible * share)
    if target is not None:
        extra = round(target * share / (1 - share))
        if target + extra <= total:
            total, holdout = target + extra, extra
    return total, holdout


def _active_entries(conn: Connection, customer_ids: list[int]) -> pd.DataFrame:
    """Open entries of these customers on lists that are planned, running or paused."""
    columns = ["entry_id", "customer_id", "campaign_id", "campaign", "kind", "group", "status"]
    rows: list[Any] = []
    for start in range(0, len(customer_ids), 30_000):
        part = customer_ids[start : start + 30_000]
        rows.extend(
            conn.execute(
                select(
                    ListEntry.id,
                    ListEntry.customer_id,
                    Campaign.id,
                    Campaign.name,
                    Campaign.kind,
                    ListEntry.group,
                    ListEntry.status,
                )
                .join(Campaign, Campaign.id == ListEntry.campaign_id)
                .where(
                    Campaign.status.in_(ACTIVE_STATUSES),
                    ListEntry.status.in_(_OPEN_ENTRY),
                    ListEntry.customer_id.in_(part),
                )
            ).all()
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["priority"] = frame["kind"].map(lambda k: CampaignKind(k).priority).astype(int)
    frame["group"] = frame["group"].astype(str)
    frame["status"] = frame["status"].astype(str)
    return frame


def split_holdout(
    strata: npt.NDArray[np.int64],
    fraction: float,
    rng: np.random.Generator,
    count: int | None = None,
) -> npt.NDArray[np.bool_]:
    """A random holdout of ``count`` (default ``round(fraction * n)``), strata kept.

    Each stratum gets its proportional quota rounded down, and the seats left over go
    to the strata with the largest remainders, ties broken at random.
    """
    n = len(strata)
    mask = np.zeros(n, dtype=bool)
    if n == 0 or fraction <= 0:
        return mask
    size = round(fraction * n) if count is None else min(count, n)
    labels, counts = np.unique(strata, return_counts=True)
    quota = size / n * counts
    seats = np.floor(quota).astype(int)
    left = size - int(seats.sum())
    if left > 0:
        order = np.lexsort((rng.random(len(labels)), -(quota - seats)))
        seats[order[:left]] += 1
    for label, k in zip(labels, seats, strict=True):
        members = np.flatnonzero(strata == label)
        mask[rng.choice(members, size=int(k), replace=False)] = True
    return mask
