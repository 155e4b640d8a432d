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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Float,
    String,
    cast,
    func,
    or_,
    select,
    type_coerce,
)

from scoring.bill_features import bill_features
from scoring.driver_rows import as_date, columns_of, fetch, objects, records_frame
from scoring.interaction_features import interaction_features
from scoring.months import add_months, last_complete_month, month_end, months_back
from scoring.value import (
    abc_class,
    abc_thresholds,
)
from store.db import make_engine
from store.models import (
    Billing,
    Customer,
    Holding,
    MatrixCell,
    MatrixVersion,
    Segment,
)

DEFAULT_HORIZON_DAYS = 90
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
    return month_end(month)


def customer_id_chunks(engine: Engine, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """Inclusive (first id, last id) ranges of at most ``size`` customers."""
    with engine.connect() as conn:
        ids = np.fromiter(conn.execute(select(Customer.id).order_by(Customer.id)).scalars(), int)
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield int(part[0]), int(part[-1])


def revenue_thresholds(engine: Engine, cutoff: dt.date) -> tuple[float, float]:
    """ABC boundaries over the whole base: 12 months of billed revenue to the cutoff."""
    first, last = months_back(cutoff, 12), last_complete_month(cutoff)
    with engine.connect() as conn:
        totals = fetch(
            conn,
            select(func.sum(Billing.amount))
            .where(Billing.month >= first, Billing.month <= last)
            .group_by(Billing.customer_id),
        )
    revenue = np.fromiter((float(t or 0.0) for (t,) in totals), float, len(totals))
    return abc_thresholds(revenue)


class FeatureBuilder:
    """Builds feature frames chunk by chunk for one window."""

    def __init__(
        self,
        engine: Engine,
        window: Window,
        export_end: dt.date | None = None,
        *,
        thresholds: Future[tuple[float, float]] | None = None,
        abc: bool = True,
    ):
        """``thresholds``: the window's ABC boundaries (``revenue_thresholds``) being
        computed elsewhere meanwhile; by default they are computed here. Without
        ``abc`` frames leave ``abc_class`` out, for the caller to add (``with_abc``)."""
        self.engine = engine
        self.window = window
        self.export_end = export_end or data_end(engine) or window.cutoff
        self._thresholds = thresholds
        if thresholds is None and abc:
            self._thresholds = Future()
            self._thresholds.set_result(revenue_thresholds(engine, window.cutoff))
        self.targets = _targeted_products(engine)

    @property
    def thresholds(self) -> tuple[float, float]:
        assert self._thresholds is not None
        return self._thresholds.result()

    def chunks(self, size: int = CHUNK, *, labels: bool = False) -> Iterator[pd.DataFrame]:
        for lo, hi in customer_id_chunks(self.engine, size):
            yield self.frame(lo, hi, labels=labels)

    def frame(self, lo: int, hi: int, *, labels: bool = False) -> pd.DataFrame:
        """Features of customers with lo <= id <= hi, indexed by customer id.

        The database does the counting: bills, holdings and interactions come back as
        one row per customer (per held product for holdings), never one per fact, so a
        chunk costs about the same whatever the history behind it.
        """
        cutoff = self.window.cutoff
        end_of_cutoff = dt.datetime.combine(cutoff, dt.time.max, tzinfo=dt.UTC)
        with self.engine.connect() as conn:
            people = _read_customers(conn, lo, hi)
            ids = np.asarray(people[0], dtype=np.int64)
            bills = bill_features(conn, lo, hi, ids, cutoff)
            held = self._held(conn, lo, hi, ids, people[2])
            events = interaction_features(conn, lo, hi, ids, end_of_cutoff)
            holdings = (
                records_frame(
                    conn.execute(
                        select(
                            Holding.customer_id,
                            Holding.product_id,
                            Holding.start_date,
                            Holding.end_date,
                            Holding.monthly_revenue,
                        ).where(
                            Holding.customer_id.between(lo, hi),
                            Holding.start_date <= self.window.label_end,
                        )
                    ).all(),
                    ["customer_id", "product_id", "start_date", "end_date", "monthly_revenue"],
                )
                if labels
                else None
            )
        index = pd.Index(ids, name="id")
        customers = pd.DataFrame(
            {"signup_date": pd.Series(people[4], dtype=object, index=index)}, index=index
        )
        columns: dict[str, Any] = {
            "external_id": objects(people[1]),
            "segment": objects(["none" if s is None else str(s) for s in people[2]]),
            "customer_type": objects([str(t) for t in people[3]]),
        }
        columns.update(bills)
        columns.update(held)
        columns.update(self._contract(people[5]))
        columns.update(events)
        out = pd.DataFrame(columns, index=index)
        out["tenure_months"] = _tenure(customers, out, cutoff)
        if self._thresholds is not None:
            with_abc(out, self.thresholds)
        if labels:
            assert holdings is not None
            out[LABEL] = _churn_labels(out.index, holdings, self.window)
        # One dtype per column whatever a chunk happens to hold.
        out["satisfaction"] = out["satisfaction"].fillna("none")
        for column in [*CATEGORICAL, "satisfaction", "external_id"]:
            if column in out:
                out[column] = out[column].astype(object)
        for column in NUMERIC:
            out[column] = out[column].astype(float)
        return out

    def _held(
        self,
        conn: Connection,
        lo: int,
        hi: int,
        ids: npt.NDArray[np.int64],
        segments: Sequence[str | None],
    ) -> dict[str, Any]:
        """Products held at the cutoff, what they bring in, and how many are targeted."""
        cutoff = self.window.cutoff
        active = records_frame(
            fetch(
                conn,
                select(
                    Holding.customer_id, Holding.product_id, cast(Holding.monthly_revenue, Float)
                ).where(
                    Holding.customer_id.between(lo, hi),
                    Holding.start_date <= cutoff,
                    or_(Holding.end_date.is_(None), Holding.end_date > cutoff),
                ),
            ),
            ["customer_id", "product_id", "monthly_revenue"],
        )
        index = pd.Index(ids, name="id")
        held = active.groupby("customer_id").size().reindex(index).fillna(0).to_numpy(float)
        mrr = active.groupby("customer_id")["monthly_revenue"].sum().reindex(index).fillna(0.0)
        codes = ["none" if s is None else str(s) for s in segments]
        names = sorted(set(codes))
        position = {name: i for i, name in enumerate(names)}
        segment_of = np.asarray([position[c] for c in codes], dtype=np.int64)
        products = active["product_id"].to_numpy(np.int64)
        wide = max([0, *[max(t, default=0) for t in self.targets.values()], *products]) + 1
        targeted_by = np.zeros((len(names), wide), dtype=np.bool_)
        for row, name in enumerate(names):
            targeted_by[row, list(self.targets.get(name, ()))] = True
        where = np.searchsorted(ids, active["customer_id"].to_numpy(np.int64))
        on_target = targeted_by[segment_of[where], products]
        held_targeted = np.bincount(where, on_target.astype(float), minlength=len(ids))
        targeted = targeted_by.sum(axis=1).astype(float)[segment_of]
        with np.errstate(divide="ignore", invalid="ignore"):
            maturity = np.where(targeted > 0, held_targeted / targeted, np.nan)
        return {
            "products_held": held,
            "mrr": mrr.to_numpy(float),
            "products_targeted": targeted,
            "maturity": maturity,
            "active": held > 0,
        }

    def _contract(self, stored: Sequence[Any]) -> dict[str, Any]:
        cutoff = self.window.cutoff
        days: dict[Any, float] = {}
        for raw in set(stored):
            now = contract_end_as_of(as_date(raw), cutoff, self.export_end)
            days[raw] = np.nan if now is None else float((now - cutoff).days)
        return {
            "contract_end_days": np.asarray([days[e] for e in stored], dtype=float),
            "month_to_month": np.asarray([e is None for e in stored], dtype=float),
        }


def with_abc(frame: pd.DataFrame, thresholds: tuple[float, float]) -> pd.DataFrame:
    """A frame read without ABC classes (``FeatureBuilder(abc=False)``) with them."""
    frame["abc_class"] = abc_class(frame["revenue_12m"].to_numpy(float), thresholds)
    return frame


# The feature reader of a process set up by ``start_process_reader``.
_PROCESS_BUILDER: FeatureBuilder | None = None


def start_process_reader(url: str, cutoff: dt.date, export_end: dt.date) -> None:
    """Initialise a reading process: its own engine and builder, without ABC classes
    (the boundaries are the caller's, ``with_abc``)."""
    global _PROCESS_BUILDER
    _PROCESS_BUILDER = FeatureBuilder(make_engine(url), Window(cutoff), export_end, abc=False)


def read_in_process(lo: int, hi: int) -> pd.DataFrame:
    """``FeatureBuilder.frame`` in a process set up by ``start_process_reader``."""
    assert _PROCESS_BUILDER is not None, "start_process_reader first"
    return _PROCESS_BUILDER.frame(lo, hi)


def _read_customers(conn: Connection, lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Id, external id, segment code, type, signup and contract end, as columns (the
    dates as the driver gives them: see ``driver_rows.fetch``)."""
    rows = fetch(
        conn,
        select(
            Customer.id,
            Customer.external_id,
            Segment.code,
            type_coerce(Customer.customer_type, String),
            Customer.signup_date,
            Customer.contract_end,
        )
        .outerjoin(Segment, Segment.id == Customer.segment_id)
        .where(Customer.id.between(lo, hi))
        .order_by(Customer.id),
    )
    return columns_of(rows, 6)


def contract_end_as_of(
    stored: dt.date | None, cutoff: dt.date, export_end: dt.date
) -> dt.date | None:
    """The contract end in force at ``cutoff``, from a snapshot taken at ``export_end``."""
    if stored is None or pd.isna(stored):
        return None
    end = stored
    while True:
        previous = add_months(end, -12)
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
    "read_in_process",
    "revenue_thresholds",
    "start_process_reader",
    "with_abc",
]
