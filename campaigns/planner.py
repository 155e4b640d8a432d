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
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, text, update

from campaigns.acceptance import acceptance
from campaigns.errors import CampaignError, CampaignNameTaken, NothingScoredError
from campaigns.matrix import ProductState, product_states
from campaigns.offers import (
    FOLLOW_UP_OFFERS,
    SCRIPTS,
    WIN_BACK_OFFERS,
    retention_offer,
    sales_offer,
)
from campaigns.plan_request import Economics, PlanRequest
from campaigns.policy import ContactPolicy, screen
from scoring.churn import active_version
from scoring.features import data_end
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    Customer,
    Disposition,
    DispositionCode,
    EntryStatus,
    Exclusion,
    ExclusionReason,
    Group,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    ModelKind,
    Product,
    Score,
    Segment,
)

__all__ = [
    "ACTIVE_STATUSES",
    "PRIORITY",
    "Plan",
    "plan",
    "split_holdout",
]

PRIORITY: dict[CampaignKind, int] = {
    CampaignKind.ANTI_CHURN: 5,
    CampaignKind.FOLLOW_UP: 4,
    CampaignKind.WIN_BACK: 3,
    CampaignKind.UP_SELL: 2,
    CampaignKind.CROSS_SELL: 1,
}
ACTIVE_STATUSES = (CampaignStatus.PLANNED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_OPEN_ENTRY = (EntryStatus.PENDING, EntryStatus.IN_PROGRESS, EntryStatus.CALLBACK)
_SALES = (CampaignKind.CROSS_SELL, CampaignKind.UP_SELL)


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
    policy = ContactPolicy.for_kind(request.kind, request.policy)
    seed = request.seed if request.seed is not None else secrets.randbits(31)
    with engine.connect() as conn:
        txn = conn.begin()
        try:
            _lock_planning(conn)
            if conn.execute(select(Campaign.id).where(Campaign.name == request.name)).first():
                raise CampaignNameTaken(request.name)
            base = _scored(conn, mv.id)
            if base.empty:
                raise NothingScoredError()
            builder = _Candidates(conn, request, base, as_of)
            cands, basis = builder.build()
            result = _select(conn, request, policy, cands, now, seed)
            preview = _preview(request, result, basis, as_of, seed, mv.version)
            campaign_id = None
            if not dry_run:
                campaign_id = _store(conn, request, policy, mv.id, seed, result, preview)
                txn.commit()
            else:
                txn.rollback()
        except BaseException:
            if txn.is_active:
                txn.rollback()
            raise
    columns = ["customer_id", "product_id", "value", "decile", "holdout"]
    return Plan(campaign_id, preview, result.chosen[columns].reset_index(drop=True))


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


# -- reading the store -------------------------------------------------------------


def _lock_planning(conn: Connection) -> None:
    """One plan at a time, so two lists never take the same customer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7412001)"))
    else:
        # SQLite: the first write takes the database's write lock until commit, and the
        # reads after it see every plan committed before.
        conn.execute(update(Campaign).where(Campaign.id == -1).values(name=Campaign.name))


def _frame(conn: Connection, stmt: Any) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _scored(conn: Connection, version_id: int) -> pd.DataFrame:
    stmt = (
        select(
            Score.customer_id,
            Score.p_churn,
            Score.uplift,
            Score.clv,
            Score.arpu,
            Score.abc_class,
            Score.lifecycle,
            Customer.segment_id,
            Segment.code.label("segment"),
        )
        .join(Customer, Customer.id == Score.customer_id)
        .outerjoin(Segment, Segment.id == Customer.segment_id)
        .where(Score.model_version_id == version_id)
    )
    frame = _frame(conn, stmt)
    for column in ("p_churn", "uplift", "clv", "arpu"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["segment"] = frame["segment"].fillna("none")
    frame["abc_class"] = frame["abc_class"].fillna("none")
    return frame.set_index("customer_id", drop=False).rename_axis(None)


def _deciles(values: pd.Series, reference: pd.Series) -> npt.NDArray[np.int64]:
    """Deciles 1-10 of ``values`` against the distribution of ``reference``."""
    ref = reference.dropna().to_numpy(float)
    if len(ref) == 0:
        return np.ones(len(values), dtype=np.int64)
    edges = np.quantile(ref, np.linspace(0.1, 0.9, 9))
    filled = values.fillna(ref.min()).to_numpy(float)
    return np.asarray(np.searchsorted(edges, filled, side="right") + 1, dtype=np.int64)


class _Candidates:
    """Everyone a list of the requested kind could take, one row per customer.

    Columns: customer_id, product_id, gain (expected saves or conversions per call),
    value (expected incremental value less costs), rank_score (for the deciles),
    offer, segment, abc_class and the figures kept in the entry's details.
    """

    def __init__(
        self, conn: Connection, request: PlanRequest, base: pd.DataFrame, as_of: dt.date
    ) -> None:
        self.conn = conn
        self.request = request
        self.econ = request.economics
        self.base = base
        self.as_of = as_of

    def build(self) -> tuple[pd.DataFrame, str]:
        kind = self.request.kind
        if kind is CampaignKind.ANTI_CHURN:
            return self._anti_churn()
        if kind is CampaignKind.FOLLOW_UP:
            return self._follow_up(), "risk_value"
        if kind is CampaignKind.WIN_BACK:
            return self._win_back(), "win_back_rate"
        return self._sales(kind)

    def _live(self) -> pd.DataFrame:
        return self.base[self.base["p_churn"].notna()].copy()

    def _anti_churn(self) -> tuple[pd.DataFrame, str]:
        econ = self.econ
        live = self._live()
        has_uplift = bool(live["uplift"].notna().any())
        if has_uplift:
            gain = live["uplift"].fillna(0.0)
            basis = "uplift"
        else:
            at_risk = live["p_churn"] * live["clv"].fillna(0.0) >= econ.min_value_at_risk
            gain = (live["p_churn"] * econ.save_rate).where(at_risk, 0.0)
            basis = "risk_value"
        clv = live["clv"].fillna(0.0)
        live["gain"] = gain
        live["value"] = gain * clv - econ.contact_cost - econ.offer_cost
        live["rank_score"] = live["p_churn"]
        live["product_id"] = pd.NA
        live["offer"] = None  # from the top reason, read for the chosen entries only
        live["decile"] = _deciles(live["p_churn"], self.base["p_churn"])
        return live, basis

    def _follow_up(self) -> pd.DataFrame:
        econ = self.econ
        live = self._live()
        first, last = econ.follow_up_after_days
        starts = _frame(
            self.conn,
            select(Holding.customer_id, func.min(Holding.start_date).label("start"))
            .group_by(Holding.customer_id)
            .having(
                func.min(Holding.start_date).between(
                    self.as_of - dt.timedelta(days=last), self.as_of - dt.timedelta(days=first)
                )
            ),
        )
        since = dt.datetime.combine(
            self.as_of - dt.timedelta(days=econ.complaint_closed_days), dt.time(), dt.UTC
        )
        until = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
        closed = _frame(
            self.conn,
            select(Interaction.customer_id)
            .where(
                Interaction.kind == InteractionKind.COMPLAINT,
                Interaction.closed_at >= since,
                Interaction.closed_at < until,
            )
            .distinct(),
        )
        new_ids = set(starts["customer_id"].tolist())
        complaint_ids = set(closed["customer_id"].tolist())
        live = live[live.index.isin(new_ids | complaint_ids)].copy()
        after_complaint = live.index.isin(complaint_ids)
        live["offer"] = np.where(
            after_complaint,
            FOLLOW_UP_OFFERS["complaint_closed"],
            FOLLOW_UP_OFFERS["new_customer"],
        )
        live["gain"] = live["p_churn"] * econ.save_rate
        live["value"] = live["gain"] * live["clv"].fillna(0.0) - econ.contact_cost
        live["rank_score"] = live["p_churn"]
        live["product_id"] = pd.NA
        live["decile"] = _deciles(live["p_churn"], self.base["p_churn"])
        live["follow_up"] = np.where(after_complaint, "complaint_closed", "new_customer")
        return live

    def _win_back(self) -> pd.DataFrame:
        econ = self.econ
        lost = self.base[self.base["p_churn"].isna()]
        since = dt.datetime.combine(
            self.as_of - dt.timedelta(days=econ.win_back_days), dt.time(), dt.UTC
        )
        exits = _frame(
            self.conn,
            select(Interaction.customer_id, Interaction.topic, Interaction.occurred_at)
            .where(Interaction.kind == InteractionKind.EXIT, Interaction.occurred_at >= since)
            .order_by(Interaction.customer_id, Interaction.occurred_at),
        )
        exits = exits[exits["customer_id"].isin(lost.index)]
        exits = exits.drop_duplicates("customer_id", keep="last")
        exits = exits[exits["topic"].isin(list(WIN_BACK_OFFERS))]
        if exits.empty:
            return _empty_candidates()
        last = _frame(
            self.conn,
            select(Holding.customer_id, Holding.end_date, Holding.monthly_revenue).where(
                Holding.customer_id.in_(exits["customer_id"].tolist()),
                Holding.end_date.is_not(None),
            ),
        )
        last["monthly_revenue"] = last["monthly_revenue"].astype(float)
        final = last.groupby("customer_id")["end_date"].transform("max")
        former = last[last["end_date"] == final].groupby("customer_id")["monthly_revenue"].sum()
        frame = lost.loc[exits["customer_id"].to_numpy()].copy()
        frame["exit_reason"] = exits["topic"].to_numpy()
        frame["former_arpu"] = former.reindex(frame.index).fillna(0.0).to_numpy()
        frame["gain"] = econ.win_back_rate
        frame["value"] = (
            econ.win_back_rate * frame["former_arpu"] * econ.win_back_months
            - econ.contact_cost
            - econ.offer_cost
        )
        frame["rank_score"] = frame["value"]
        frame["offer"] = frame["exit_reason"].map(WIN_BACK_OFFERS)
        frame["product_id"] = pd.NA
        frame["decile"] = _deciles(frame["value"], frame["value"])
        return frame

    def _sales(self, kind: CampaignKind) -> tuple[pd.DataFrame, str]:
        econ = self.econ
        live = self._live()
        products = _frame(
            self.conn,
            select(
                Product.id.label("product_id"),
                Product.name,
                Product.family,
                Product.tier,
                Product.monthly_price,
                Product.monthly_margin,
            ),
        ).set_index("product_id")
        products["price"] = products["monthly_price"].astype(float)
        products["margin"] = products["monthly_margin"].astype(float).fillna(0.0)
        pairs = self._pairs(kind, live, products)
        if pairs.empty:
            return _empty_candidates(), "propensity"
        pairs["p_accept"], basis = acceptance(self.conn, pairs, self.as_of)
        arpu = live["arpu"].reindex(pairs["customer_id"]).to_numpy(float)
        clv = live["clv"].reindex(pairs["customer_id"]).to_numpy(float)
        months = np.where(arpu > 0, clv / np.where(arpu > 0, arpu, 1.0), 12.0)
        p = pairs["p_accept"].to_numpy(float)
        pairs["value"] = (
            p
            * (pairs["margin_gain"].to_numpy(float) * months - pairs["price_gain"].to_numpy(float))
            - econ.contact_cost
        )
        pairs = pairs.sort_values(["value", "product_id"], ascending=[False, True])
        best = (
            pairs.drop_duplicates("customer_id")
            .set_index("customer_id", drop=False)
            .rename_axis(None)
        )
        frame = live.loc[best.index].copy()
        for column in ("product_id", "p_accept", "value"):
            frame[column] = best[column].to_numpy()
        frame["gain"] = frame["p_accept"]
        frame["rank_score"] = frame["p_churn"]
        frame["offer"] = [
            sales_offer(kind, str(products.at[pid, "name"])) for pid in frame["product_id"].tolist()
        ]
        frame["decile"] = _deciles(frame["p_churn"], self.base["p_churn"])
        return frame, basis

    def _pairs(
        self, kind: CampaignKind, live: pd.DataFrame, products: pd.DataFrame
    ) -> pd.DataFrame:
        """(customer, product) pairs a sales list may offer, with margin and price gains."""
        version = self.conn.execute(select(func.max(MatrixVersion.version))).scalar()
        if version is None:
            raise CampaignError("no segment x product matrix: `telecampaign import matrix FILE`")
        cells = _frame(
            self.conn,
            select(MatrixCell.segment_id, MatrixCell.product_id)
            .join(MatrixVersion, MatrixVersion.id == MatrixCell.matrix_version_id)
            .where(MatrixVersion.version == version),
        )
        held = _frame(
            self.conn,
            select(Holding.customer_id, Holding.product_id).where(
                Holding.start_date <= self.as_of,
                or_(Holding.end_date.is_(None), Holding.end_date > self.as_of),
            ),
        ).drop_duplicates()
        held = held[held["customer_id"].isin(live.index)]
        held["family"] = products["family"].reindex(held["product_id"]).to_numpy()
        held["tier"] = products["tier"].reindex(held["product_id"]).to_numpy()
        owners = live[["customer_id", "segment_id"]].dropna()
        pairs = owners.merge(cells, on="segment_id")
        pairs["family"] = products["family"].reindex(pairs["product_id"]).to_numpy()
        pairs["tier"] = products["tier"].reindex(pairs["product_id"]).to_numpy()
        top = held.groupby(["customer_id", "family"], as_index=False).agg(held_tier=("tier", "max"))
        pairs = pairs.merge(top, on=["customer_id", "family"], how="left")
        if kind is CampaignKind.CROSS_SELL:
            pairs = pairs[pairs["held_tier"].isna()].copy()
            pairs["margin_gain"] = products["margin"].reindex(pairs["product_id"]).to_numpy()
            pairs["price_gain"] = products["price"].reindex(pairs["product_id"]).to_numpy()
        else:
            pairs = pairs[pairs["tier"] == pairs["held_tier"] + 1].copy()
            current = held.merge(
                top.rename(columns={"held_tier": "tier"}), on=["customer_id", "family", "tier"]
            ).drop_duplicates(["customer_id", "family"])
            current["margin_now"] = products["margin"].reindex(current["product_id"]).to_numpy()
            current["price_now"] = products["price"].reindex(current["product_id"]).to_numpy()
            pairs = pairs.merge(
                current[["customer_id", "family", "margin_now", "price_now"]],
                on=["customer_id", "family"],
            )
            margin = products["margin"].reindex(pairs["product_id"]).to_numpy()
            price = products["price"].reindex(pairs["product_id"]).to_numpy()
            pairs["margin_gain"] = margin - pairs["margin_now"].to_numpy()
            pairs["price_gain"] = price - pairs["price_now"].to_numpy()
        if pairs.empty:
            return pairs
        # Pairs come from products not held, so only an accepted offer still waiting for
        # the holdings feed (applied) can rule one out: ask for the states of customers
        # who ever accepted a product, not of the whole base.
        accepted = self.conn.execute(
            select(ListEntry.customer_id)
            .join(Disposition, Disposition.list_entry_id == ListEntry.id)
            .where(Disposition.code == DispositionCode.ACCEPTED, ListEntry.product_id.is_not(None))
            .distinct()
        ).scalars()
        asked = sorted(set(accepted) & set(pairs["customer_id"].tolist()))
        if not asked:
            return pairs.reset_index(drop=True)
        states = product_states(self.conn, self.as_of, asked)
        pending = states[states["state"].isin([ProductState.APPLIED, ProductState.SIGNED])]
        taken = pd.MultiIndex.from_frame(pending[["customer_id", "product_id"]])
        keys = pd.MultiIndex.from_frame(pairs[["customer_id", "product_id"]])
        return pairs[~keys.isin(taken)].reset_index(drop=True)


def _empty_candidates() -> pd.DataFrame:
    columns = ["customer_id", "product_id", "gain", "value", "rank_score", "offer", "decile"]
    return (
        pd.DataFrame({c: [] for c in columns})
        .set_index("customer_id", drop=False)
        .rename_axis(None)
    )


# -- choosing ----------------------------------------------------------------------


@dataclass
class _Selection:
    chosen: pd.DataFrame  # with a "holdout" column
    candidates: int
    not_worth: int
    over_capacity: int
    excluded: pd.DataFrame  # customer_id, reason, detail
    takeovers: pd.DataFrame  # entry_id, campaign_id, customer_id of lower lists' entries
    target: int | None


def _select(
    conn: Connection,
    request: PlanRequest,
    policy: ContactPolicy,
    cands: pd.DataFrame,
    now: dt.datetime,
    seed: int,
) -> _Selection:
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
    mine = PRIORITY[kind]
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
    total, holdout = len(eligible), round(len(eligible) * request.holdout)
    if target is not None:
        # the agents call ``target`` customers; the holdout comes on top of them
        extra = round(target * request.holdout / (1 - request.holdout))
        if target + extra <= total:
            total, holdout = target + extra, extra
    chosen = eligible.iloc[:total].copy()
    rng = np.random.default_rng(seed)
    chosen["holdout"] = split_holdout(
        chosen["decile"].to_numpy(np.int64), request.holdout, rng, count=holdout
    )
    takeovers = busy[movable & busy["customer_id"].isin(chosen.index)]
    return _Selection(
        chosen=chosen,
        candidates=len(cands),
        not_worth=int((~worth_mask).sum()),
        over_capacity=len(eligible) - total,
        excluded=pd.concat(excluded, ignore_index=True),
        takeovers=takeovers,
        target=target,
    )


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
    frame["priority"] = frame["kind"].map(lambda k: PRIORITY[CampaignKind(k)]).astype(int)
    frame["group"] = frame["group"].astype(str)
    frame["status"] = frame["status"].astype(str)
    return frame


# -- preview and storage -----------------------------------------------------------


def _preview(
    request: PlanRequest,
    sel: _Selection,
    basis: str,
    as_of: dt.date,
    seed: int,
    model_version: str,
) -> dict[str, Any]:
    chosen = sel.chosen
    treated = chosen[~chosen["holdout"]]
    held = chosen[chosen["holdout"]]
    expected_key = "saves" if request.kind not in _SALES else "conversions"
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


def _store(
    conn: Connection,
    request: PlanRequest,
    policy: ContactPolicy,
    model_version_id: int,
    seed: int,
    sel: _Selection,
    preview: dict[str, Any],
) -> int:
    campaign_id = conn.execute(
        insert(Campaign)
        .values(
            name=request.name,
            kind=request.kind,
            status=CampaignStatus.PLANNED,
            holdout_fraction=request.holdout,
            seed=seed,
            policy=policy.as_json(),
            model_version_id=model_version_id,
            plan={
                "request": {
                    "size": request.size,
                    "agents": request.agents,
                    "hours": request.hours,
                    "contacts_per_hour": request.contacts_per_hour,
                },
                "economics": _economics_json(request.economics),
                "preview": preview,
            },
        )
        .returning(Campaign.id)
    ).scalar_one()
    chosen = sel.chosen
    if request.kind is CampaignKind.ANTI_CHURN and not chosen.empty:
        tops = _top_reasons(conn, model_version_id, chosen.index.tolist())
        chosen["top_reason"] = tops.reindex(chosen.index).to_numpy()
        chosen["offer"] = [retention_offer(r) for r in chosen["top_reason"].tolist()]
    script = SCRIPTS[request.kind]
    priority = PRIORITY[request.kind]
    rows = [
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
            _details(chosen, preview["basis"]),
            strict=True,
        )
    ]
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
    now = dt.datetime.now(dt.UTC)
    exclusions = [
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
    if exclusions:
        conn.execute(insert(Exclusion), exclusions)
    return int(campaign_id)


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
