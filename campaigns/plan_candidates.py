"""Who a list of each kind could take: candidates read from the scores and the store,
with the gain and the value a call is expected to bring (see ``campaigns.planner``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, func, or_, select

from campaigns.acceptance import acceptance
from campaigns.errors import CampaignError
from campaigns.matrix import ProductState, product_states
from campaigns.offers import FOLLOW_UP_OFFERS, WIN_BACK_OFFERS, sales_offer
from campaigns.plan_follow_up import WATCH_LIST_FOLLOW_UP, follow_up_reasons
from campaigns.plan_request import CandidateSource
from campaigns.settings.model import Costs
from campaigns.watchlist import at_risk_by_survey
from store.models import (
    CampaignKind,
    Customer,
    Disposition,
    DispositionCode,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    Product,
    Score,
    Segment,
)

if TYPE_CHECKING:
    # the request's types only: the planner imports this module to run it
    from campaigns.plan_request import PlanRequest

__all__ = ["Candidates", "scored_base"]


def _frame(conn: Connection, stmt: Any) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def scored_base(conn: Connection, version_id: int) -> pd.DataFrame:
    """The scores of a model version, with each customer's segment, indexed by customer."""
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


class Candidates:
    """Everyone a list of the requested kind could take, one row per customer.

    Columns: customer_id, product_id, gain (expected saves or conversions per call),
    value (expected incremental value less costs), rank_score (for the deciles),
    offer, segment, abc_class and the figures kept in the entry's details.
    """

    def __init__(
        self,
        conn: Connection,
        request: PlanRequest,
        base: pd.DataFrame,
        as_of: dt.date,
        costs: Costs,
    ) -> None:
        self.conn = conn
        self.request = request
        self.econ = request.economics
        self.contact_cost = self.econ.contact_cost(costs)
        self.offer_cost = self.econ.offer_cost(costs)
        self.base = base
        self.as_of = as_of
        # the watch list's customers nobody spoke with since their survey, and how many
        # it has that somebody did (already followed up), when the list draws from it
        self.watch_list: pd.Index | None = None
        self.spoken_since_survey = 0
        if request.candidates is CandidateSource.WATCHLIST:
            self.watch_list, self.spoken_since_survey = at_risk_by_survey(conn)

    def source(self) -> dict[str, Any]:
        """Whom the list chose from, for its preview."""
        out: dict[str, Any] = {"candidates_from": self.request.candidates.value}
        if self.watch_list is not None:
            out["watch_list"] = {
                "not_spoken_with_since_survey": len(self.watch_list),
                "spoken_with_since_survey": self.spoken_since_survey,
            }
        return out

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
        """Customers who hold a product; from the watch list only, when it is the source."""
        live = self.base[self.base["p_churn"].notna()]
        if self.watch_list is not None:
            live = live[live.index.isin(self.watch_list)]
        return live.copy()

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
        live["value"] = gain * clv - self.contact_cost - self.offer_cost
        live["rank_score"] = live["p_churn"]
        live["product_id"] = pd.NA
        live["offer"] = None  # from the top reason, read for the chosen entries only
        live["decile"] = _deciles(live["p_churn"], self.base["p_churn"])
        return live, basis

    def _follow_up(self) -> pd.DataFrame:
        econ = self.econ
        live = self._live()
        if self.watch_list is not None:
            reasons = pd.Series(WATCH_LIST_FOLLOW_UP, index=live.index, dtype=object)
        else:
            reasons = follow_up_reasons(self.conn, econ, self.as_of)
        live = live[live.index.isin(reasons.index)].copy()
        live["follow_up"] = reasons.reindex(live.index).to_numpy()
        live["offer"] = live["follow_up"].map(FOLLOW_UP_OFFERS)
        live["gain"] = live["p_churn"] * econ.save_rate
        live["value"] = live["gain"] * live["clv"].fillna(0.0) - self.contact_cost
        live["rank_score"] = live["p_churn"]
        live["product_id"] = pd.NA
        live["decile"] = _deciles(live["p_churn"], self.base["p_churn"])
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
            - self.contact_cost
            - self.offer_cost
        )
        frame["rank_score"] = frame["value"]
        frame["offer"] = frame["exit_reason"].map(WIN_BACK_OFFERS)
        frame["product_id"] = pd.NA
        frame["decile"] = _deciles(frame["value"], frame["value"])
        return frame

    def _sales(self, kind: CampaignKind) -> tuple[pd.DataFrame, str]:
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
            - self.contact_cost
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
