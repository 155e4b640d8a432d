"""Features of each customer from the store, as of a cutoff date, and churn labels.

Everything a feature uses was known at the end of the cutoff day:

- bills count only for complete months (the month's last day <= cutoff); a payment
  delay counts once the bill was paid (due date + days late <= cutoff), an unpaid bill
  past its due date counts as overdue; bills fall due on the 15th of their month;
- holdings and interactions count only when they started by the cutoff; a holding that
  ended later is still active at the cutoff, a complaint closed later is still open;
- ``contract_end`` is a snapshot taken at export time: a contract renewed between the
  cutoff and the export shows its new end, so the end in force at the cutoff is
  recovered by stepping back whole 12-month terms while that end still lies after the
  cutoff and the renewal could have happened before the export.

A customer churned in the window after the cutoff when they held a product at the
cutoff and, some day in the window, held none (a product switch is not churn).
Customers are read in id-ordered chunks so memory stays flat whatever the base size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, and_, func, or_, select

from scoring.value import (
    abc_class,
    abc_thresholds,
    is_dissatisfied,
    lifecycle_state,
    satisfaction_category,
    xyz_class,
)
from store.models import (
    Attempt,
    Billing,
    Customer,
    Holding,
    Interaction,
    InteractionKind,
    MatrixCell,
    MatrixVersion,
    Segment,
)

DEFAULT_HORIZON_DAYS = 90
DUE_DAY = 15
CHUNK = 50_000

NUMERIC = [
    "tenure_months",
    "arpu",
    "arpu_trend_3m",
    "arpu_trend_6m",
    "revenue_12m",
    "revenue_cov",
    "mrr",
    "products_held",
    "products_targeted",
    "maturity",
    "contract_end_days",
    "month_to_month",
    "complaints_30d",
    "complaints_90d",
    "complaints_365d",
    "open_complaints",
    "tickets_90d",
    "last_score_10",
    "last_score_scale",
    "dissatisfied",
    "days_since_contact",
    "late_bills_6m",
    "mean_days_late_6m",
    "overdue_bills",
]
CATEGORICAL = ["segment", "customer_type", "lifecycle", "abc_class", "xyz_class"]
LABEL = "churned"


@dataclass(frozen=True)
class Window:
    """Features as of ``cutoff``; the label looks ``horizon_days`` past it."""

    cutoff: dt.date
    horizon_days: int = DEFAULT_HORIZON_DAYS

    @property
    def label_end(self) -> dt.date:
        return self.cutoff + dt.timedelta(days=self.horizon_days)


def data_end(engine: Engine) -> dt.date | None:
    """The last day the store has data for: the end of the newest billed month."""
    with engine.connect() as conn:
        month = conn.execute(select(func.max(Billing.month))).scalar()
    if month is None:
        return None
    return _month_end(month)


def customer_id_chunks(engine: Engine, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """Inclusive (first id, last id) ranges of at most ``size`` customers."""
    with engine.connect() as conn:
        ids = np.fromiter(conn.execute(select(Customer.id).order_by(Customer.id)).scalars(), int)
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield int(part[0]), int(part[-1])


def revenue_thresholds(engine: Engine, cutoff: dt.date) -> tuple[float, float]:
    """ABC boundaries over the whole base: 12 months of billed revenue to the cutoff."""
    first, last = _months_back(cutoff, 12), _last_complete_month(cutoff)
    with engine.connect() as conn:
        totals = conn.execute(
            select(func.sum(Billing.amount))
            .where(Billing.month >= first, Billing.month <= last)
            .group_by(Billing.customer_id)
        ).scalars()
        revenue = np.fromiter((float(t or 0.0) for t in totals), float)
    return abc_thresholds(revenue)


class FeatureBuilder:
    """Builds feature frames chunk by chunk for one window."""

    def __init__(self, engine: Engine, window: Window, export_end: dt.date | None = None):
        self.engine = engine
        self.window = window
        self.export_end = export_end or data_end(engine) or window.cutoff
        self.thresholds = revenue_thresholds(engine, window.cutoff)
        self.targets = _targeted_products(engine)

    def chunks(self, size: int = CHUNK, *, labels: bool = False) -> Iterator[pd.DataFrame]:
        for lo, hi in customer_id_chunks(self.engine, size):
            yield self.frame(lo, hi, labels=labels)

    def frame(self, lo: int, hi: int, *, labels: bool = False) -> pd.DataFrame:
        """Features of customers with lo <= id <= hi, indexed by customer id."""
        cutoff = self.window.cutoff
        with self.engine.connect() as conn:
            customers = pd.DataFrame(
                conn.execute(
                    select(
                        Customer.id,
                        Customer.external_id,
                        Segment.code.label("segment"),
                        Customer.customer_type,
                        Customer.signup_date,
                        Customer.contract_end,
                    )
                    .outerjoin(Segment, Segment.id == Customer.segment_id)
                    .where(Customer.id.between(lo, hi))
                    .order_by(Customer.id)
                ).all(),
                columns=[
                    "id",
                    "external_id",
                    "segment",
                    "customer_type",
                    "signup_date",
                    "contract_end",
                ],
            ).set_index("id")
            holdings = _frame(
                conn.execute(
                    select(
                        Holding.customer_id,
                        Holding.product_id,
                        Holding.start_date,
                        Holding.end_date,
                        Holding.monthly_revenue,
                    ).where(
                        Holding.customer_id.between(lo, hi),
                        Holding.start_date <= (self.window.label_end if labels else cutoff),
                    )
                ).all(),
                ["customer_id", "product_id", "start_date", "end_date", "monthly_revenue"],
            )
            bills = _frame(
                conn.execute(
                    select(
                        Billing.customer_id, Billing.month, Billing.amount, Billing.days_late
                    ).where(
                        Billing.customer_id.between(lo, hi),
                        Billing.month <= _last_complete_month(cutoff),
                    )
                ).all(),
                ["customer_id", "month", "amount", "days_late"],
            )
            end_of_cutoff = dt.datetime.combine(cutoff, dt.time.max, tzinfo=dt.UTC)
            since = end_of_cutoff - dt.timedelta(days=366)
            events = _frame(
                conn.execute(
                    select(
                        Interaction.customer_id,
                        Interaction.kind,
                        Interaction.occurred_at,
                        Interaction.score,
                        Interaction.scale,
                        Interaction.closed_at,
                    ).where(
                        Interaction.customer_id.between(lo, hi),
                        Interaction.occurred_at <= end_of_cutoff,
                        or_(
                            Interaction.occurred_at > since,
                            Interaction.kind == InteractionKind.SURVEY,
                            and_(
                                Interaction.kind == InteractionKind.COMPLAINT,
                                or_(
                                    Interaction.closed_at.is_(None),
                                    Interaction.closed_at > end_of_cutoff,
                                ),
                            ),
                        ),
                    )
                ).all(),
                ["customer_id", "kind", "occurred_at", "score", "scale", "closed_at"],
            )
            contacts = _frame(
                conn.execute(
                    select(Attempt.customer_id, func.max(Attempt.created_at))
                    .where(Attempt.customer_id.between(lo, hi), Attempt.created_at <= end_of_cutoff)
                    .group_by(Attempt.customer_id)
                ).all(),
                ["customer_id", "last_attempt"],
            )
        out = pd.DataFrame(index=customers.index)
        out["external_id"] = customers["external_id"]
        out["segment"] = customers["segment"].fillna("none").astype(str)
        out["customer_type"] = customers["customer_type"].astype(str)
        self._billing(out, bills)
        self._holdings(out, customers, holdings)
        self._contract(out, customers)
        self._interactions(out, events, contacts, end_of_cutoff)
        out["tenure_months"] = _tenure(customers, out, cutoff)
        if labels:
            out[LABEL] = _churn_labels(out.index, holdings, self.window)
        # One dtype per column whatever a chunk happens to hold.
        out["satisfaction"] = out["satisfaction"].fillna("none")
        for column in [*CATEGORICAL, "satisfaction", "external_id"]:
            out[column] = out[column].astype(object)
        for column in NUMERIC:
            out[column] = out[column].astype(float)
        return out

    def _billing(self, out: pd.DataFrame, bills: pd.DataFrame) -> None:
        cutoff = self.window.cutoff
        top = _last_complete_month(cutoff)
        bills["back"] = _months_between(bills["month"], top)
        amounts = bills.pivot_table(
            index="customer_id", columns="back", values="amount", aggfunc="sum"
        ).reindex(index=out.index)

        def window_mean(first: int, last: int) -> pd.Series:
            cols = [c for c in amounts.columns if first <= int(c) <= last]
            return amounts[cols].mean(axis=1) if cols else pd.Series(np.nan, index=out.index)

        last3, prior3 = window_mean(0, 2), window_mean(3, 5)
        last6, prior6 = window_mean(0, 5), window_mean(6, 11)
        out["arpu"] = last3
        out["arpu_trend_3m"] = last3 / prior3 - 1.0
        out["arpu_trend_6m"] = last6 / prior6 - 1.0
        year = amounts[[c for c in amounts.columns if int(c) <= 11]]
        out["revenue_12m"] = year.sum(axis=1).fillna(0.0)
        filled = year.notna().sum(axis=1)
        cov = year.std(axis=1, ddof=0) / year.mean(axis=1)
        out["revenue_cov"] = cov.where(filled >= 3)
        out["abc_class"] = abc_class(out["revenue_12m"].to_numpy(), self.thresholds)
        out["xyz_class"] = xyz_class(out["revenue_cov"].to_numpy())
        out["xyz_class"] = out["xyz_class"].fillna("none")

        grouped = bills.groupby("customer_id")["back"]
        first = grouped.max().reindex(out.index)
        last = grouped.min().reindex(out.index)
        out["lifecycle"] = lifecycle_state(first, last, _run_start(bills).reindex(out.index))

        due = pd.to_datetime(bills["month"]) + pd.Timedelta(days=DUE_DAY - 1)
        limit = pd.Timestamp(cutoff)
        paid_on = due + pd.to_timedelta(bills["days_late"].fillna(0), unit="D")
        known = bills["days_late"].notna() & (paid_on <= limit)
        recent = bills["back"] <= 5
        late = known & recent & (bills["days_late"] > 0)
        out["late_bills_6m"] = late.groupby(bills["customer_id"]).sum().reindex(out.index).fillna(0)
        delays = bills["days_late"].where(known & recent)
        out["mean_days_late_6m"] = delays.groupby(bills["customer_id"]).mean().reindex(out.index)
        overdue = (due < limit) & ~known
        out["overdue_bills"] = (
            overdue.groupby(bills["customer_id"]).sum().reindex(out.index).fillna(0)
        )

    def _holdings(self, out: pd.DataFrame, customers: pd.DataFrame, holdings: pd.DataFrame) -> None:
        cutoff = self.window.cutoff
        started = holdings[holdings["start_date"] <= cutoff]
        active = started[started["end_date"].isna() | (started["end_date"] > cutoff)]
        out["products_held"] = active.groupby("customer_id").size().reindex(out.index).fillna(0)
        out["mrr"] = (
            active.groupby("customer_id")["monthly_revenue"].sum().reindex(out.index).fillna(0.0)
        )
        segments = out["segment"]
        out["products_targeted"] = segments.map(lambda s: len(self.targets.get(s, ()))).astype(
            float
        )
        seg_of = active["customer_id"].map(segments)
        on_target = [
            product in self.targets.get(seg, frozenset())
            for product, seg in zip(active["product_id"], seg_of, strict=True)
        ]
        held_targeted = active[on_target].groupby("customer_id").size().reindex(out.index)
        out["maturity"] = (held_targeted.fillna(0) / out["products_targeted"]).where(
            out["products_targeted"] > 0
        )
        out["active"] = out["products_held"] > 0

    def _contract(self, out: pd.DataFrame, customers: pd.DataFrame) -> None:
        cutoff = self.window.cutoff
        ends = [
            contract_end_as_of(end, cutoff, self.export_end) for end in customers["contract_end"]
        ]
        days = [np.nan if e is None else float((e - cutoff).days) for e in ends]
        out["contract_end_days"] = days
        out["month_to_month"] = customers["contract_end"].isna().astype(float)

    def _interactions(
        self,
        out: pd.DataFrame,
        events: pd.DataFrame,
        contacts: pd.DataFrame,
        end_of_cutoff: dt.datetime,
    ) -> None:
        at = pd.Timestamp(end_of_cutoff)
        occurred = pd.to_datetime(events["occurred_at"], utc=True)
        age_days = (at - occurred).dt.total_seconds() / 86400.0
        complaint = events["kind"] == InteractionKind.COMPLAINT
        by = events["customer_id"]
        for days in (30, 90, 365):
            hits = complaint & (age_days <= days)
            out[f"complaints_{days}d"] = hits.groupby(by).sum().reindex(out.index).fillna(0)
        closed = pd.to_datetime(events["closed_at"], utc=True)
        still_open = complaint & (closed.isna() | (closed > at))
        out["open_complaints"] = still_open.groupby(by).sum().reindex(out.index).fillna(0)
        tickets = (events["kind"] == InteractionKind.TICKET) & (age_days <= 90)
        out["tickets_90d"] = tickets.groupby(by).sum().reindex(out.index).fillna(0)

        surveys = events[events["kind"] == InteractionKind.SURVEY].assign(when=occurred)
        latest = surveys.sort_values("when").groupby("customer_id").tail(1).set_index("customer_id")
        score = latest["score"].reindex(out.index).astype(float)
        scale = latest["scale"].reindex(out.index).astype(float)
        out["last_score_10"] = np.where(scale == 5, 1.0 + (score - 1.0) * 9.0 / 4.0, score)
        out["last_score_scale"] = scale
        out["last_score"] = score
        out["satisfaction"] = satisfaction_category(score.to_numpy(), scale.to_numpy())
        out["dissatisfied"] = is_dissatisfied(score.to_numpy(), scale.to_numpy()).astype(float)

        last_event = occurred.groupby(by).max().reindex(out.index)
        last_attempt = (
            pd.to_datetime(contacts.set_index("customer_id")["last_attempt"], utc=True).reindex(
                out.index
            )
            if len(contacts)
            else pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
        )
        last = pd.concat([last_event, last_attempt], axis=1).max(axis=1)
        out["days_since_contact"] = (at - last).dt.total_seconds() / 86400.0


def contract_end_as_of(
    stored: dt.date | None, cutoff: dt.date, export_end: dt.date
) -> dt.date | None:
    """The contract end in force at ``cutoff``, from a snapshot taken at ``export_end``."""
    if stored is None or pd.isna(stored):
        return None
    end = stored
    while True:
        previous = _add_months(end, -12)
        # A renewal at ``previous`` happened after the cutoff and before the export.
        if previous > cutoff and previous <= export_end:
            end = previous
            continue
        return end


def _churn_labels(index: pd.Index, holdings: pd.DataFrame, window: Window) -> pd.Series:
    """True where a customer active at the cutoff held nothing some day in the window."""
    cutoff, horizon_end = window.cutoff, window.label_end
    labels = pd.Series(False, index=index)
    open_end = dt.date.max  # a holding with no end
    for customer, rows in holdings.groupby("customer_id"):
        spans = sorted(
            (s, open_end if pd.isna(e) else e)
            for s, e in zip(rows["start_date"], rows["end_date"], strict=True)
        )
        covered = None
        for start, end in spans:
            if start <= cutoff < end:
                covered = end if covered is None else max(covered, end)
        if covered is None:
            continue
        if covered == open_end:
            continue
        # Follow products that start by the day after the covered run ends.
        for start, end in spans:
            if covered == open_end:
                break
            if start <= covered + dt.timedelta(days=1) and end > covered:
                covered = end
        labels.at[customer] = covered < horizon_end
    return labels


def _tenure(customers: pd.DataFrame, out: pd.DataFrame, cutoff: dt.date) -> pd.Series:
    signup = pd.to_datetime(customers["signup_date"])
    months = (pd.Timestamp(cutoff) - signup).dt.days / 30.4375
    return months.where(signup <= pd.Timestamp(cutoff))


def _run_start(bills: pd.DataFrame) -> pd.Series:
    """Months back to the first bill of each customer's newest unbroken run of bills."""
    if bills.empty:
        return pd.Series(dtype=float)
    ordered = bills[["customer_id", "back"]].drop_duplicates().sort_values(["customer_id", "back"])
    step = ordered.groupby("customer_id")["back"].diff()
    broken = (step > 1).astype(int).groupby(ordered["customer_id"]).cumsum()
    newest = ordered[broken == 0]
    return newest.groupby("customer_id")["back"].max().astype(float)


def _targeted_products(engine: Engine) -> dict[str, frozenset[int]]:
    """Segment code -> product ids targeted by the matrix version in force."""
    with engine.connect() as conn:
        version = conn.execute(select(func.max(MatrixVersion.id))).scalar()
        if version is None:
            return {}
        rows = conn.execute(
            select(Segment.code, MatrixCell.product_id)
            .join(MatrixCell, MatrixCell.segment_id == Segment.id)
            .where(MatrixCell.matrix_version_id == version)
        ).all()
    targets: dict[str, set[int]] = {}
    for code, product in rows:
        targets.setdefault(code, set()).add(product)
    return {k: frozenset(v) for k, v in targets.items()}


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    # Plain tuples: pandas reads SQLAlchemy Row objects about ten times slower.
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def _months_between(months: pd.Series, top: dt.date) -> pd.Series:
    years = pd.to_datetime(months).dt.year
    numbers = pd.to_datetime(months).dt.month
    return (top.year - years) * 12 + (top.month - numbers)


def _month_end(month: dt.date) -> dt.date:
    return _add_months(month.replace(day=1), 1) - dt.timedelta(days=1)


def _last_complete_month(cutoff: dt.date) -> dt.date:
    """First day of the newest month that ended on or before the cutoff."""
    first = cutoff.replace(day=1)
    return first if _month_end(first) <= cutoff else _add_months(first, -1)


def _months_back(cutoff: dt.date, months: int) -> dt.date:
    return _add_months(_last_complete_month(cutoff), -(months - 1))


def _add_months(day: dt.date, months: int) -> dt.date:
    result: dt.date = day + relativedelta(months=months)
    return result


__all__ = [
    "CATEGORICAL",
    "DEFAULT_HORIZON_DAYS",
    "LABEL",
    "NUMERIC",
    "FeatureBuilder",
    "Window",
    "contract_end_as_of",
    "customer_id_chunks",
    "data_end",
    "revenue_thresholds",
]
