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
from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Float,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import InstrumentedAttribute

from scoring.value import (
    abc_class,
    abc_thresholds,
    is_dissatisfied,
    lifecycle_state,
    satisfaction_category,
    xyz_class,
)
from store.db import make_engine
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
        totals = _fetch(
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
            bills = self._bills(conn, lo, hi, ids)
            held = self._held(conn, lo, hi, ids, people[2])
            events = _interactions(conn, lo, hi, ids, end_of_cutoff)
            holdings = (
                _frame(
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
            "external_id": _objects(people[1]),
            "segment": _objects(["none" if s is None else str(s) for s in people[2]]),
            "customer_type": _objects([str(t) for t in people[3]]),
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

    def _bills(
        self, conn: Connection, lo: int, hi: int, ids: npt.NDArray[np.int64]
    ) -> dict[str, Any]:
        """Revenue, classes, lifecycle and payment features from the complete months.

        The database hands back one row per customer: for the last 12 months their
        amounts, which of the newest four were billed and the payment counts; for older
        months the oldest one billed and the counts of unpaid and possibly late bills.
        A bill counts as paid once its due date (the 15th) plus its days late is on or
        before the cutoff. Months are stored as their first day (the importer does so).
        """
        cutoff = self.window.cutoff
        top = _last_complete_month(cutoff)
        months = [_add_months(top, -k) for k in range(12)]  # months[k]: k months back
        slack = [(cutoff - (m + dt.timedelta(days=DUE_DAY - 1))).days for m in months]
        month, late = Billing.month, Billing.days_late
        in_range = Billing.customer_id.between(lo, hi)

        year = _fetch(
            conn,
            select(
                Billing.customer_id,
                cast(func.sum(_payments(month, late, months, slack)), BigInteger),
                *[func.max(case((month == m, cast(Billing.amount, Float)))) for m in months],
            )
            .where(in_range, month >= months[-1], month <= top)
            .group_by(Billing.customer_id),
        )
        cid, payments, *amounts = _columns(year, 2 + len(months))
        where = np.searchsorted(ids, np.asarray(cid, dtype=np.int64))

        def put(values: Sequence[Any], fill: float = np.nan) -> npt.NDArray[np.float64]:
            out = np.full(len(ids), fill)
            out[where] = np.asarray(values, dtype=float)
            return out

        packed = np.zeros(len(ids), dtype=np.int64)
        packed[where] = np.asarray(payments, dtype=np.int64)
        counted, late6, delay6, overdue = _unpack_payments(packed)
        billed = [put(a) for a in amounts]  # billed[k]: the amount k months back
        billed_at = np.column_stack([~np.isnan(b) for b in billed])
        any_bill = billed_at.any(axis=1)
        first = np.where(any_bill, len(months) - 1 - np.argmax(billed_at[:, ::-1], axis=1), np.nan)
        last = np.where(any_bill, np.argmax(billed_at, axis=1), np.nan)
        seen = (billed_at[:, :4] * (1 << np.arange(4))).sum(axis=1)

        older = _fetch(
            conn,
            select(
                Billing.customer_id,
                func.min(month),
                func.max(month),
                func.count(),
                func.count(late),
                func.max(late),
            )
            .where(in_range, month < months[-1])
            .group_by(Billing.customer_id),
        )
        oid, old_oldest, old_newest, bills, paid, latest = _columns(older, 6)
        at = np.searchsorted(ids, np.asarray(oid, dtype=np.int64))
        first[at] = _months_before(old_oldest, top)
        last[at] = np.fmin(last[at], _months_before(old_newest, top))
        overdue[at] += np.asarray(bills, dtype=np.int64) - np.asarray(paid, dtype=np.int64)
        if any(d is not None and d > slack[-1] for d in latest):
            self._late_old_bills(conn, lo, hi, months[-1], slack[-1], ids, overdue)

        index = pd.Index(ids, name="id")
        # the months billed in this chunk as columns of months back, as a pivot has them
        table = pd.DataFrame(
            {k: v for k, v in enumerate(billed) if not np.isnan(v).all()}, index=index
        )

        def window_mean(first: int, last: int) -> pd.Series:
            cols = [c for c in table.columns if first <= int(c) <= last]
            return table[cols].mean(axis=1) if cols else pd.Series(np.nan, index=index)

        last3, prior3 = window_mean(0, 2), window_mean(3, 5)
        last6, prior6 = window_mean(0, 5), window_mean(6, 11)
        revenue = table.sum(axis=1).fillna(0.0)
        filled = table.notna().sum(axis=1)
        cov = (table.std(axis=1, ddof=0) / table.mean(axis=1)).where(filled >= 3)
        xyz = xyz_class(cov.to_numpy())
        xyz[pd.isna(xyz)] = "none"
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_late = np.where(counted > 0, delay6 / counted, np.nan)
        return {
            "arpu": last3.to_numpy(),
            "arpu_trend_3m": (last3 / prior3 - 1.0).to_numpy(),
            "arpu_trend_6m": (last6 / prior6 - 1.0).to_numpy(),
            "revenue_12m": revenue.to_numpy(),
            "revenue_cov": cov.to_numpy(),
            "xyz_class": xyz,
            "lifecycle": lifecycle_state(first, last, _newest_run_start(last, seen)),
            "late_bills_6m": late6.astype(float),
            "mean_days_late_6m": mean_late,
            "overdue_bills": overdue.astype(float),
        }

    def _late_old_bills(
        self,
        conn: Connection,
        lo: int,
        hi: int,
        before: dt.date,
        bound: int,
        ids: npt.NDArray[np.int64],
        overdue: npt.NDArray[np.int64],
    ) -> None:
        """Count bills older than the year that were paid after the cutoff as overdue."""
        cutoff = self.window.cutoff
        rows = conn.execute(
            select(Billing.customer_id, Billing.month, Billing.days_late).where(
                Billing.customer_id.between(lo, hi),
                Billing.month < before,
                Billing.days_late > bound,
            )
        ).all()
        for customer, month, late in rows:
            if late is not None and month + dt.timedelta(days=DUE_DAY - 1 + late) > cutoff:
                overdue[np.searchsorted(ids, customer)] += 1

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
        active = _frame(
            _fetch(
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
            now = contract_end_as_of(_date(raw), cutoff, self.export_end)
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
    dates as the driver gives them: see ``_fetch``)."""
    rows = _fetch(
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
    return _columns(rows, 6)


def _interactions(
    conn: Connection,
    lo: int,
    hi: int,
    ids: npt.NDArray[np.int64],
    end_of_cutoff: dt.datetime,
) -> dict[str, Any]:
    """Complaints, tickets, the latest survey and the latest contact, per customer.

    Counted are interactions that occurred by the end of the cutoff day: complaints and
    tickets within 30/90/365 days of it, complaints still open at it (closed later or
    never), the newest survey ever, and the newest of these or of a call attempt.
    """
    at = end_of_cutoff
    occurred, kind = Interaction.occurred_at, Interaction.kind
    complaint = kind == InteractionKind.COMPLAINT
    still_open = complaint & or_(Interaction.closed_at.is_(None), Interaction.closed_at > at)

    def within(days: int) -> ColumnElement[bool]:
        return occurred >= at - dt.timedelta(days=days)

    in_range = Interaction.customer_id.between(lo, hi)
    rows = _fetch(
        conn,
        select(
            Interaction.customer_id,
            *[func.count().filter(complaint & within(d)) for d in (30, 90, 365)],
            func.count().filter(still_open),
            func.count().filter((kind == InteractionKind.TICKET) & within(90)),
            func.max(occurred),
        )
        .where(
            in_range,
            occurred <= at,
            or_(occurred > at - dt.timedelta(days=366), kind == InteractionKind.SURVEY, still_open),
        )
        .group_by(Interaction.customer_id),
    )
    cid, c30, c90, c365, opened, tickets, newest = _columns(rows, 7)
    where = np.searchsorted(ids, np.asarray(cid, dtype=np.int64))

    def put(values: Sequence[Any], fill: float) -> npt.NDArray[np.float64]:
        out = np.full(len(ids), fill)
        out[where] = np.asarray(values, dtype=float)
        return out

    latest = (
        select(Interaction.customer_id, func.max(occurred).label("at"))
        .where(in_range, kind == InteractionKind.SURVEY, occurred <= at)
        .group_by(Interaction.customer_id)
        .subquery()
    )
    surveys = _fetch(
        conn,
        select(Interaction.customer_id, Interaction.score, Interaction.scale).join(
            latest,
            and_(
                Interaction.customer_id == latest.c.customer_id,
                Interaction.kind == InteractionKind.SURVEY,
                Interaction.occurred_at == latest.c.at,
            ),
        ),
    )
    sid, scores, scales = _columns(surveys, 3)
    placed = np.searchsorted(ids, np.asarray(sid, dtype=np.int64))
    score, scale = np.full(len(ids), np.nan), np.full(len(ids), np.nan)
    score[placed] = np.asarray(scores, dtype=float)
    scale[placed] = np.asarray(scales, dtype=float)

    contacts = _fetch(
        conn,
        select(Attempt.customer_id, func.max(Attempt.created_at))
        .where(Attempt.customer_id.between(lo, hi), Attempt.created_at <= at)
        .group_by(Attempt.customer_id),
    )
    index = pd.Index(ids, name="id")
    last_event = _utc_times(cid, newest).reindex(index)
    last_attempt = (
        _utc_times(*_columns(contacts, 2)).reindex(index)
        if contacts
        else pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    )
    last = pd.concat([last_event, last_attempt], axis=1).max(axis=1)
    category = satisfaction_category(score, scale)
    category[pd.isna(category)] = "none"
    return {
        "complaints_30d": put(c30, 0),
        "complaints_90d": put(c90, 0),
        "complaints_365d": put(c365, 0),
        "open_complaints": put(opened, 0),
        "tickets_90d": put(tickets, 0),
        "last_score_10": np.where(scale == 5, 1.0 + (score - 1.0) * 9.0 / 4.0, score),
        "last_score_scale": scale,
        "last_score": score,
        "satisfaction": category,
        "dissatisfied": is_dissatisfied(score, scale).astype(float),
        "days_since_contact": ((pd.Timestamp(at) - last).dt.total_seconds() / 86400.0).to_numpy(),
    }


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


# One bill's payment facts packed into one number, so the database sums them in one
# pass: bits 0-7 count the bills of the last 6 months known paid by the cutoff, bits
# 8-15 those of them paid late, bits 16-39 their days late, bits 40-47 the bills of the
# year not known paid by the cutoff. A year holds at most 12 bills of at most 3650 days
# late (the importer's limit), so no field overflows into the next.
_PAID, _LATE, _DAYS, _UNPAID = 0, 8, 16, 40


def _payments(
    month: InstrumentedAttribute[dt.date],
    late: InstrumentedAttribute[int | None],
    months: Sequence[dt.date],
    slack: Sequence[int],
) -> ColumnElement[int]:
    """A bill's packed payment facts (see above); ``slack[k]`` is the days a bill of
    ``months[k]`` may be late and still be paid by the cutoff."""
    allowed = case(dict(zip(months, slack, strict=True)), value=month)
    return case(
        (late.is_(None) | (late > allowed), literal(1 << _UNPAID, BigInteger)),
        (
            month >= months[5],
            literal(1 << _PAID, BigInteger)
            + case((late > 0, 1 << _LATE), else_=0)
            + late * literal(1 << _DAYS, BigInteger),
        ),
        else_=0,
    )


Ints = npt.NDArray[np.int64]


def _unpack_payments(packed: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    """Known-paid bills of 6 months, how many were late, their days late, unpaid bills."""

    def field(shift: int, bits: int) -> Ints:
        return (packed >> shift) & ((1 << bits) - 1)

    return field(_PAID, 8), field(_LATE, 8), field(_DAYS, 24), field(_UNPAID, 8)


def _fetch(conn: Connection, stmt: Executable) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples, straight from the driver.

    SQLAlchemy's per-value result conversion costs more than the query here, so the
    queries ask for numbers the drivers hand back as Python numbers (amounts cast to
    float) and the few dates and times are read by ``_date``, ``_months_before`` and
    ``_utc_times``, which take both what SQLite gives (ISO text) and what PostgreSQL
    gives (date and datetime objects).
    """
    result = conn.execute(stmt)
    try:
        rows: list[tuple[Any, ...]] = list(result.cursor.fetchall())
    finally:
        result.close()
    return rows


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _months_before(values: Sequence[Any], top: dt.date) -> npt.NDArray[np.float64]:
    """How many months each month (a date, or its ISO text) lies before ``top``."""
    out = np.empty(len(values))
    for i, value in enumerate(values):
        year, month = (
            (int(value[:4]), int(value[5:7]))
            if isinstance(value, str)
            else (value.year, value.month)
        )
        out[i] = (top.year - year) * 12 + top.month - month
    return out


def _utc_times(keys: Sequence[Any], values: Sequence[Any]) -> pd.Series:
    """Times (aware datetimes, or SQLite's UTC text) as a UTC series keyed by ``keys``."""
    times = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")
    return pd.Series(
        times.astype("datetime64[us, UTC]").to_numpy(), index=pd.Index(list(keys), dtype=np.int64)
    ).astype("datetime64[us, UTC]")


def _columns(rows: Sequence[Any], n: int) -> list[tuple[Any, ...]]:
    """The n columns of a result, also when it has no rows."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(n)]


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _newest_run_start(
    last: npt.NDArray[np.float64], seen: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Months back to the first bill of the newest unbroken run, as the lifecycle reads it.

    ``seen`` has bit k set where the customer was billed k months back (k <= 3). The
    lifecycle looks at the run only when the newest bill is at most 2 months back, and
    then only at whether the run reaches further back than 2 months: the start is exact
    up to 2 and 3 for any run that reaches 3 months back or further; NaN otherwise.
    """
    recent = last <= 2
    run = np.where(recent, last, 0).astype(np.int64)
    bits = seen
    for _ in range(3):
        step = recent & (run <= 2) & (((bits >> np.minimum(run + 1, 3)) & 1) == 1)
        run = np.where(step, run + 1, run)
    return np.where(recent, run.astype(float), np.nan)


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
    "read_in_process",
    "revenue_thresholds",
    "start_process_reader",
    "with_abc",
]
