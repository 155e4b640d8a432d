"""A plan's preview, and the planned campaign stored: its entries, the exclusions, and
the lower lists' entries it takes over."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, and_, insert, select, update

from campaigns.offers import SCRIPTS, retention_offer
from campaigns.plan_selection import Selection
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    EntryStatus,
    Exclusion,
    ExclusionReason,
    Group,
    ListEntry,
    Score,
)

if TYPE_CHECKING:
    # the request's types only: the planner imports this module to run it
    from campaigns.plan_request import Economics, PlanRequest

__all__ = ["plan_preview", "store_plan"]


def plan_preview(
    request: PlanRequest,
    sel: Selection,
    basis: str,
    as_of: dt.date,
    seed: int,
    model_version: str,
) -> dict[str, Any]:
    chosen = sel.chosen
    treated = chosen[~chosen["holdout"]]
    held = chosen[chosen["holdout"]]
    expected_key = "conversions" if request.kind.is_sale else "saves"
    if request.kind is CampaignKind.WIN_BACK:
        expected_key = "win_backs"

    def split(column: str) -> dict[str, dict[str, int]]:
        if chosen.empty or column not in chosen:  # nobody chosen (a win-back with no one lost)
            return {}
        table = pd.crosstab(chosen[column], chosen["holdout"])
        return {
            str(k): {
                "treated": int(table.loc[k].get(False, 0)),
                "holdout": int(table.loc[k].get(True, 0)),
            }
            for k in table.index
        }

    reasons = sel.excluded["reason"].value_counts().sort_index()
    return {
        "name": request.name,
        "kind": request.kind.value,
        "as_of": as_of.isoformat(),
        "model_version": model_version,
        "basis": basis,
        "seed": seed,
        "target": sel.target,
        "size": len(chosen),
        "treated": len(treated),
        "holdout": len(held),
        "holdout_fraction": request.holdout,
        "expected": {
            expected_key: round(float(treated["gain"].sum()), 2),
            "value": round(float(treated["value"].sum()), 2),
        },
        "candidates": sel.candidates,
        "not_worth_calling": sel.not_worth,
        "over_capacity": sel.over_capacity,
        "exclusions": {str(k): int(v) for k, v in reasons.items()},
        "taken_from_lower_lists": len(sel.takeovers),
        "by_segment": split("segment"),
        "by_abc": split("abc_class"),
        "holdout_balance_points": _balance(chosen),
    }


def _balance(chosen: pd.DataFrame) -> float:
    """Largest gap, in percentage points, between a decile's share in the two groups."""
    if chosen["holdout"].all() or not chosen["holdout"].any():
        return 0.0
    shares = pd.crosstab(chosen["decile"], chosen["holdout"], normalize="columns")
    return round(float((shares[True] - shares[False]).abs().max() * 100), 2)


def store_plan(
    conn: Connection,
    request: PlanRequest,
    model_version_id: int,
    seed: int,
    sel: Selection,
    preview: dict[str, Any],
) -> int:
    """Store the planned campaign with its entries and exclusions; returns its id."""
    campaign_id = _insert_campaign(conn, request, model_version_id, seed, preview)
    chosen = sel.chosen
    if request.kind is CampaignKind.ANTI_CHURN and not chosen.empty:
        tops = _top_reasons(conn, model_version_id, chosen.index.tolist())
        chosen["top_reason"] = tops.reindex(chosen.index).to_numpy()
        chosen["offer"] = [retention_offer(r) for r in chosen["top_reason"].tolist()]
    rows = _entry_rows(campaign_id, request.kind, chosen, preview["basis"])
    if rows:
        conn.execute(insert(ListEntry), rows)
    if not sel.takeovers.empty:
        moved = sel.takeovers["entry_id"].astype(int).tolist()
        for start in range(0, len(moved), 30_000):
            conn.execute(
                update(ListEntry)
                .where(ListEntry.id.in_(moved[start : start + 30_000]))
                .values(status=EntryStatus.EXCLUDED)
            )
    exclusions = _exclusion_rows(campaign_id, request, sel)
    if exclusions:
        conn.execute(insert(Exclusion), exclusions)
    return int(campaign_id)


def _insert_campaign(
    conn: Connection,
    request: PlanRequest,
    model_version_id: int,
    seed: int,
    preview: dict[str, Any],
) -> int:
    campaign_id: int = conn.execute(
        insert(Campaign)
        .values(
            name=request.name,
            kind=request.kind,
            status=CampaignStatus.PLANNED,
            holdout_fraction=request.holdout,
            seed=seed,
            model_version_id=model_version_id,
            plan={
                "request": {
                    "size": request.size,
                    "agents": request.agents,
                    "hours": request.hours,
                    "contacts_per_hour": request.contacts_per_hour,
                    "candidates": request.candidates.value,
                    "expected_effect": request.expected_effect,
                },
                "economics": _economics_json(request.economics),
                "preview": preview,
            },
        )
        .returning(Campaign.id)
    ).scalar_one()
    return campaign_id


def _entry_rows(
    campaign_id: int, kind: CampaignKind, chosen: pd.DataFrame, basis: str
) -> list[dict[str, Any]]:
    script = SCRIPTS[kind]
    priority = kind.priority
    return [
        {
            "campaign_id": campaign_id,
            "customer_id": int(cid),
            "product_id": None if pd.isna(pid) else int(pid),
            "offer": offer,
            "script_template": script,
            "priority": priority,
            "expected_value": round(float(value), 2),
            "score_decile": int(decile),
            # a holdout entry stays open while the list runs, so that no other list
            # takes the customer; the dialer only ever works the treatment group
            "group": Group.HOLDOUT if hold else Group.TREATMENT,
            "status": EntryStatus.PENDING,
            "details": details,
        }
        for cid, pid, offer, value, decile, hold, details in zip(
            chosen.index.tolist(),
            chosen["product_id"].tolist(),
            chosen["offer"].tolist(),
            chosen["value"].tolist(),
            chosen["decile"].tolist(),
            chosen["holdout"].tolist(),
            _details(chosen, basis),
            strict=True,
        )
    ]


def _exclusion_rows(campaign_id: int, request: PlanRequest, sel: Selection) -> list[dict[str, Any]]:
    """The screened-out candidates, and the lower lists' entries taken over."""
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "campaign_id": campaign_id,
            "customer_id": int(cid),
            "list_entry_id": None,
            "stage": "plan",
            "reason": ExclusionReason(reason),
            "detail": detail,
            "created_at": now,
        }
        for cid, reason, detail in zip(
            sel.excluded["customer_id"].tolist(),
            sel.excluded["reason"].tolist(),
            sel.excluded["detail"].tolist(),
            strict=True,
        )
    ] + [
        {
            "campaign_id": int(old_campaign),
            "customer_id": int(cid),
            "list_entry_id": int(entry),
            "stage": "plan",
            "reason": ExclusionReason.HIGHER_PRIORITY_LIST,
            "detail": f"moved to {request.kind.value} list {request.name}"[:200],
            "created_at": now,
        }
        for entry, old_campaign, cid in zip(
            sel.takeovers["entry_id"].tolist(),
            sel.takeovers["campaign_id"].tolist(),
            sel.takeovers["customer_id"].tolist(),
            strict=True,
        )
    ]


def _economics_json(econ: Economics) -> dict[str, Any]:
    out = asdict(econ)
    out["follow_up_after_days"] = list(econ.follow_up_after_days)
    return out


def _details(chosen: pd.DataFrame, basis: str) -> list[dict[str, Any]]:
    """The figures an entry was chosen on, rounded for people to read."""
    keep = [
        c
        for c in (
            "p_churn",
            "uplift",
            "clv",
            "gain",
            "p_accept",
            "top_reason",
            "exit_reason",
            "former_arpu",
            "follow_up",
        )
        if c in chosen.columns
    ]
    out = []
    for record in chosen[keep].to_dict("records"):
        item: dict[str, Any] = {"basis": basis}
        for key, value in record.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            item[str(key)] = round(value, 6) if isinstance(value, float) else value
        out.append(item)
    return out


def _top_reasons(conn: Connection, version_id: int, customer_ids: list[int]) -> pd.Series:
    """The first churn reason of each customer, for choosing the retention offer."""
    tops: dict[int, str | None] = {}
    for start in range(0, len(customer_ids), 30_000):
        part = customer_ids[start : start + 30_000]
        for cid, reasons in conn.execute(
            select(Score.customer_id, Score.reasons).where(
                and_(Score.model_version_id == version_id, Score.customer_id.in_(part))
            )
        ):
            top = (reasons or {}).get("top") or []
            tops[cid] = top[0].get("code") if top else None
    return pd.Series(tops, dtype=object)
