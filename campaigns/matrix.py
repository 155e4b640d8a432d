"""The segment x product matrix in force, and where each customer stands on its products.

The matrix says which products are targeted at each segment (``store.matrix_import``
keeps it, one version per change). Per customer and targeted product there is one
state, derived from holdings and call outcomes as of a day:

- signed: the customer holds the product (a holding started on or before the day and
  not ended by it); the date is the holding's start. A holding beats everything else.
- otherwise the latest event on a list entry for the product decides, up to the end of
  the day (UTC): a disposition ``accepted`` -> applied (taken up, not yet in the
  holdings feed), ``refused`` -> refused (with its reason), any other disposition, or
  a call answered by a person that has no disposition -> offered. The date is the
  event's. No answer, voicemail and wrong person are no conversation, so they are no
  event: a later unanswered call does not hide a refusal.
- a holding that ended clears what came before its end: without a later event the
  product is not offered again, rather than "applied" by the acceptance it fulfilled.
- not offered: none of the above.

Maturity = targeted products held / products targeted at the customer's segment
(NaN when the segment targets nothing): the churn model's feature of that name
(``scoring.features``), except that a product held twice at once counts once here.

Both work set-based on customer-id chunks (a few queries and pandas per chunk), so
the planner can run them over the whole base with bounded memory.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select

from campaigns.errors import CampaignError
from store.models import (
    AnsweredBy,
    Attempt,
    Channel,
    Customer,
    Disposition,
    DispositionCode,
    Holding,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    Product,
    Segment,
)

__all__ = [
    "CHUNK",
    "COLUMNS",
    "CustomerNotFoundError",
    "CustomerStates",
    "Matrix",
    "MatrixProduct",
    "MatrixSegment",
    "NoMatrixError",
    "ProductState",
    "TargetedProduct",
    "customer_states",
    "customers_by_segment",
    "iter_product_states",
    "load_matrix",
    "maturity",
    "product_states",
]

CHUNK = 50_000
COLUMNS = ["customer_id", "product_id", "state", "state_date", "refusal_reason"]
_IN_LIMIT = 900  # ids per IN (...) list; SQLite builds before 3.32 allow 999 variables
_NO_CONVERSATION = (
    DispositionCode.NO_ANSWER,
    DispositionCode.VOICEMAIL,
    DispositionCode.WRONG_PERSON,
)

Bind = Connection | Engine


class NoMatrixError(CampaignError):
    """No matrix was imported yet, or not the version asked for."""


class CustomerNotFoundError(CampaignError):
    """No customer has the external id given."""


class ProductState(enum.StrEnum):
    NOT_OFFERED = "not_offered"
    OFFERED = "offered"
    APPLIED = "applied"
    SIGNED = "signed"
    REFUSED = "refused"


_STATES = pd.CategoricalDtype([s.value for s in ProductState])
_CODE = {s: i for i, s in enumerate(ProductState)}


class MatrixSegment(NamedTuple):
    code: str
    name: str


class MatrixProduct(NamedTuple):
    code: str
    name: str
    family: str
    tier: int


@dataclass(frozen=True)
class Matrix:
    """One version of the matrix, over every segment and product the store knows."""

    version: int
    imported_at: dt.datetime
    source: str | None
    segments: tuple[MatrixSegment, ...]
    products: tuple[MatrixProduct, ...]
    cells: frozenset[tuple[str, str]]
    """(segment code, product code) where the product is targeted at the segment."""
    segment_ids: Mapping[str, int]
    product_ids: Mapping[str, int]

    def targeted(self, segment_code: str) -> list[str]:
        """Codes of the products targeted at the segment, in catalogue order."""
        return [p.code for p in self.products if (segment_code, p.code) in self.cells]

    def targeting(self, product_code: str) -> list[str]:
        """Codes of the segments the product is targeted at."""
        return [s.code for s in self.segments if (s.code, product_code) in self.cells]


@contextmanager
def _connected(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            yield conn
    else:
        yield bind


def _version_row(conn: Connection, version: int | None) -> Any:
    stmt = select(
        MatrixVersion.id, MatrixVersion.version, MatrixVersion.created_at, MatrixVersion.source
    )
    if version is None:
        stmt = stmt.order_by(MatrixVersion.version.desc()).limit(1)
    else:
        stmt = stmt.where(MatrixVersion.version == version)
    row = conn.execute(stmt).first()
    if row is not None:
        return row
    newest = conn.execute(select(func.max(MatrixVersion.version))).scalar()
    if newest is None:
        raise NoMatrixError(
            "no segment x product matrix yet: import one with `telecampaign import matrix FILE`"
        )
    raise NoMatrixError(f"no matrix version {version}: the versions are 1 to {newest}")


def load_matrix(bind: Bind, version: int | None = None) -> Matrix:
    """The matrix in force (the newest version), or the version given."""
    with _connected(bind) as conn:
        version_id, number, created_at, source = _version_row(conn, version)
        segments = conn.execute(select(Segment.id, Segment.code, Segment.name).order_by(Segment.id))
        segment_ids = {}
        segment_rows = []
        for sid, code, name in segments:
            segment_ids[code] = sid
            segment_rows.append(MatrixSegment(code, name))
        products = conn.execute(
            select(Product.id, Product.code, Product.name, Product.family, Product.tier).order_by(
                Product.id
            )
        )
        product_ids = {}
        product_rows = []
        for pid, code, name, family, tier in products:
            product_ids[code] = pid
            product_rows.append(MatrixProduct(code, name, family, tier))
        cells = conn.execute(
            select(Segment.code, Product.code)
            .join(MatrixCell, MatrixCell.segment_id == Segment.id)
            .join(Product, Product.id == MatrixCell.product_id)
            .where(MatrixCell.matrix_version_id == version_id)
        )
        return Matrix(
            version=number,
            imported_at=created_at,
            source=source,
            segments=tuple(segment_rows),
            products=tuple(product_rows),
            cells=frozenset((s, p) for s, p in cells),
            segment_ids=segment_ids,
            product_ids=product_ids,
        )


def customers_by_segment(bind: Bind) -> dict[str, int]:
    """How many customers each segment has (segments without customers left out)."""
    with _connected(bind) as conn:
        rows = conn.execute(
            select(Segment.code, func.count(Customer.id))
            .join(Customer, Customer.segment_id == Segment.id)
            .group_by(Segment.code)
        )
        return {code: int(n) for code, n in rows}


def product_states(
    bind: Bind,
    as_of: dt.date,
    customer_ids: Sequence[int] | None = None,
    *,
    version: int | None = None,
    chunk: int = CHUNK,
) -> pd.DataFrame:
    """Each customer's state on each product targeted at their segment (see the module).

    Columns: customer_id, product_id, state (categorical of ProductState values),
    state_date (day, NaT when not offered), refusal_reason (NaN unless refused); one
    row per customer and targeted product, by customer id. All customers when
    ``customer_ids`` is None. For the whole base prefer ``iter_product_states``.
    """
    parts = list(iter_product_states(bind, as_of, customer_ids, version=version, chunk=chunk))
    if not parts:
        return _empty_states()
    return pd.concat(parts, ignore_index=True)


def iter_product_states(
    bind: Bind,
    as_of: dt.date,
    customer_ids: Sequence[int] | None = None,
    *,
    version: int | None = None,
    chunk: int = CHUNK,
) -> Iterator[pd.DataFrame]:
    """``product_states`` one customer-id chunk at a time, so memory stays flat."""
    for _, states in _state_chunks(bind, as_of, customer_ids, version, chunk):
        yield states


def maturity(
    bind: Bind,
    as_of: dt.date,
    customer_ids: Sequence[int] | None = None,
    *,
    version: int | None = None,
    chunk: int = CHUNK,
) -> pd.Series:
    """Targeted products held / products targeted, per customer id; NaN when none targeted."""
    parts = []
    # Events never make a product held: only the holdings are read.
    chunks = _state_chunks(bind, as_of, customer_ids, version, chunk, events=False)
    for customers, states in chunks:
        held = (states["state"] == ProductState.SIGNED).groupby(states["customer_id"]).mean()
        parts.append(held.reindex(customers).astype(float))
    if not parts:
        return pd.Series(dtype=float, name="maturity", index=pd.Index([], name="customer_id"))
    out = pd.concat(parts)
    out.index.name = "customer_id"
    return out.rename("maturity")


@dataclass(frozen=True)
class TargetedProduct:
    code: str
    name: str
    state: ProductState
    date: dt.date | None
    refusal_reason: str | None


@dataclass(frozen=True)
class CustomerStates:
    """One customer's targeted products and maturity, as the console and CLI show them."""

    external_id: str
    name: str
    segment: MatrixSegment | None
    matrix: Matrix
    as_of: dt.date
    products: list[TargetedProduct]
    maturity: float | None


def customer_states(
    bind: Bind, external_id: str, as_of: dt.date, *, version: int | None = None
) -> CustomerStates:
    """Where one customer, known by their external id, stands on their targeted products."""
    with _connected(bind) as conn:
        matrix = load_matrix(conn, version)
        found = conn.execute(
            select(Customer.id, Customer.name, Segment.code, Segment.name)
            .outerjoin(Segment, Segment.id == Customer.segment_id)
            .where(Customer.external_id == external_id)
        ).first()
        if found is None:
            raise CustomerNotFoundError(f"no customer with id {external_id!r}")
        customer_id, name, segment_code, segment_name = found
        states = product_states(conn, as_of, [customer_id], version=matrix.version)
    codes = {pid: code for code, pid in matrix.product_ids.items()}
    names = {p.code: p.name for p in matrix.products}
    by_code = {}
    for pid, state, day, reason in zip(
        states["product_id"].tolist(),
        states["state"].tolist(),
        states["state_date"].tolist(),
        states["refusal_reason"].tolist(),
        strict=True,
    ):
        code = codes[pid]
        by_code[code] = TargetedProduct(
            code=code,
            name=names[code],
            state=ProductState(state),
            date=None if pd.isna(day) else pd.Timestamp(day).date(),
            refusal_reason=None if pd.isna(reason) else str(reason),
        )
    segment = None if segment_code is None else MatrixSegment(segment_code, segment_name)
    targeted = [] if segment is None else matrix.targeted(segment.code)
    products = [by_code[c] for c in targeted if c in by_code]
    held = sum(p.state == ProductState.SIGNED for p in products)
    return CustomerStates(
        external_id=external_id,
        name=name,
        segment=segment,
        matrix=matrix,
        as_of=as_of,
        products=products,
        maturity=held / len(products) if products else None,
    )


# --- the derivation, one chunk of customers at a time ----------------------------------


def _state_chunks(
    bind: Bind,
    as_of: dt.date,
    customer_ids: Sequence[int] | None,
    version: int | None,
    chunk: int,
    *,
    events: bool = True,
) -> Iterator[tuple[pd.Index, pd.DataFrame]]:
    """(the chunk's customer ids, their states) per chunk, in customer-id order."""
    with _connected(bind) as conn:
        version_id = _version_row(conn, version)[0]
        cells = _frame(
            conn.execute(
                select(MatrixCell.segment_id, MatrixCell.product_id).where(
                    MatrixCell.matrix_version_id == version_id
                )
            ).all(),
            ["segment_id", "product_id"],
            keys=2,
        )
        deriving = _Derivation(conn, as_of, cells, events=events)
        if customer_ids is None:
            ids = np.fromiter(
                conn.execute(select(Customer.id).order_by(Customer.id)).scalars(), np.int64
            )
        else:
            ids = np.unique(np.asarray(customer_ids, dtype=np.int64))
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            if customer_ids is None:
                yield deriving.chunk(_id_range(int(part[0]), int(part[-1])), None)
            elif len(part) <= _IN_LIMIT:
                yield deriving.chunk(_id_list([int(i) for i in part]), None)
            else:
                # A long list reads its id range and drops the customers not asked for.
                yield deriving.chunk(_id_range(int(part[0]), int(part[-1])), part)


Where = Callable[[Any], ColumnElement[bool]]
"""Restricts a customer-id column to the customers of one chunk."""


def _id_range(lo: int, hi: int) -> Where:
    def where(column: Any) -> ColumnElement[bool]:
        return and_(column >= lo, column <= hi)

    return where


def _id_list(ids: list[int]) -> Where:
    def where(column: Any) -> ColumnElement[bool]:
        return and_(column.in_(ids))

    return where


class _Derivation:
    """The queries and pandas steps that turn one chunk of customers into states."""

    def __init__(
        self, conn: Connection, as_of: dt.date, cells: pd.DataFrame, *, events: bool
    ) -> None:
        self.conn = conn
        self.events = events
        self.as_of = as_of
        self.cells = cells
        self.product_ids = sorted({int(p) for p in cells["product_id"]})
        self.product_rank = {p: i for i, p in enumerate(self.product_ids)}
        # Events count up to the end of the day, in UTC like every stored timestamp.
        self.end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def chunk(
        self, where: Where, wanted: np.ndarray[Any, Any] | None
    ) -> tuple[pd.Index, pd.DataFrame]:
        customers = _frame(
            self.conn.execute(
                select(Customer.id, Customer.segment_id).where(where(Customer.id))
            ).all(),
            ["customer_id", "segment_id"],
            keys=1,
        )
        if wanted is not None:
            customers = customers[customers["customer_id"].isin(wanted)]
        index = pd.Index(customers["customer_id"].sort_values().to_numpy(), name="customer_id")
        segmented = customers.dropna(subset=["segment_id"]).astype({"segment_id": np.int64})
        targets = segmented.merge(self.cells, on="segment_id")[["customer_id", "product_id"]]
        if targets.empty or not self.product_ids:
            return index, _empty_states()
        targets = targets.assign(rank=targets["product_id"].map(self.product_rank))
        targets = targets.sort_values(["customer_id", "rank"], ignore_index=True)
        keys = ["customer_id", "product_id"]
        signed_from, lapsed_on = self._holdings(where, targets)
        latest = self._latest_events(where) if self.events else _no_events()
        out = targets[keys].merge(signed_from, on=keys, how="left")
        out = out.merge(lapsed_on, on=keys, how="left").merge(latest, on=keys, how="left")
        # An ended holding clears the events before its end.
        cleared = out["event_day"] < out["lapsed_on"]
        signed = out["signed_from"].notna()
        code = np.where(
            signed,
            _CODE[ProductState.SIGNED],
            out["event_code"].where(~cleared).fillna(_CODE[ProductState.NOT_OFFERED]),
        ).astype(np.int8)
        day = out["signed_from"].where(signed, out["event_day"].where(~cleared))
        reason = out["reason"].where(code == _CODE[ProductState.REFUSED])
        states = pd.DataFrame(
            {
                "customer_id": out["customer_id"].astype(np.int64),
                "product_id": out["product_id"].astype(np.int64),
                "state": pd.Categorical.from_codes(code, dtype=_STATES),
                "state_date": day.astype("datetime64[s]"),
                "refusal_reason": pd.Series(reason, dtype="str"),
            }
        )
        return index, states

    def _holdings(self, where: Where, targets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per targeted pair: start of the holding in force, and end of the last one ended."""
        rows = self.conn.execute(
            select(Holding.customer_id, Holding.product_id, Holding.start_date, Holding.end_date)
            .where(where(Holding.customer_id))
            .where(Holding.start_date <= self.as_of)
        ).all()
        held = _frame(rows, ["customer_id", "product_id", "start_date", "end_date"], keys=2)
        held = held.merge(targets[["customer_id", "product_id"]], on=["customer_id", "product_id"])
        held["start_date"] = pd.to_datetime(held["start_date"])
        held["end_date"] = pd.to_datetime(held["end_date"])
        ended = held["end_date"] <= pd.Timestamp(self.as_of)
        keys = ["customer_id", "product_id"]
        # Overlapping holdings of one product: held since the earliest start.
        signed_from = held[~ended].groupby(keys)["start_date"].min().rename("signed_from")
        lapsed_on = held[ended].groupby(keys)["end_date"].max().rename("lapsed_on")
        return signed_from.reset_index(), lapsed_on.reset_index()

    def _latest_events(self, where: Where) -> pd.DataFrame:
        """The latest disposition or answered call per (customer, product) by the day's end."""
        on_product = (
            where(ListEntry.customer_id),
            ListEntry.product_id.in_(self.product_ids),
        )
        dispositions = self.conn.execute(
            select(
                ListEntry.customer_id,
                ListEntry.product_id,
                Disposition.created_at,
                Disposition.id,
                Disposition.code,
                Disposition.refusal_reason,
            )
            .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
            .where(
                *on_product,
                Disposition.created_at < self.end,
                Disposition.code.not_in([c.value for c in _NO_CONVERSATION]),
            )
        ).all()
        # A call with a disposition is told by its disposition (a wrong person is no offer).
        answered = self.conn.execute(
            select(ListEntry.customer_id, ListEntry.product_id, Attempt.answered_at, Attempt.id)
            .join(ListEntry, ListEntry.id == Attempt.list_entry_id)
            .outerjoin(
                Disposition,
                and_(Disposition.attempt_id == Attempt.id, Disposition.created_at < self.end),
            )
            .where(
                *on_product,
                Attempt.channel == Channel.CALL,
                Attempt.answered_at < self.end,
                _by_a_person(),
                Disposition.id.is_(None),
            )
        ).all()
        events = pd.concat(
            [
                _frame(
                    dispositions,
                    ["customer_id", "product_id", "at", "seq", "code", "reason"],
                    keys=2,
                ).assign(kind=1),
                _frame(answered, ["customer_id", "product_id", "at", "seq"], keys=2).assign(
                    kind=0, code=None, reason=None
                ),
            ],
            ignore_index=True,
        )
        if events.empty:
            return _no_events()
        events["at"] = pd.to_datetime(events["at"], utc=True)
        # Latest wins; at the same instant a disposition after the call it closes.
        latest = (
            events.sort_values(["at", "kind", "seq"])
            .groupby(["customer_id", "product_id"], as_index=False)
            .tail(1)
        )
        code = latest["code"]
        state = np.select(
            [code == DispositionCode.ACCEPTED.value, code == DispositionCode.REFUSED.value],
            [_CODE[ProductState.APPLIED], _CODE[ProductState.REFUSED]],
            _CODE[ProductState.OFFERED],
        ).astype(np.int8)
        return pd.DataFrame(
            {
                "customer_id": latest["customer_id"].astype(np.int64),
                "product_id": latest["product_id"].astype(np.int64),
                "event_code": state,
                "event_day": latest["at"].dt.tz_localize(None).dt.normalize(),
                "reason": latest["reason"],
            }
        )


def _by_a_person() -> ColumnElement[bool]:
    machine = [AnsweredBy.MACHINE, AnsweredBy.FAX]
    return or_(Attempt.answered_by.is_(None), Attempt.answered_by.not_in(machine))


def _no_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=np.int64),
            "product_id": pd.Series(dtype=np.int64),
            "event_code": pd.Series(dtype=np.int8),
            "event_day": pd.Series(dtype="datetime64[s]"),
            "reason": pd.Series(dtype=object),
        }
    )


def _empty_states() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=np.int64),
            "product_id": pd.Series(dtype=np.int64),
            "state": pd.Series([], dtype=_STATES),
            "state_date": pd.Series(dtype="datetime64[s]"),
            "refusal_reason": pd.Series(dtype="str"),
        }
    )


def _frame(rows: Sequence[Any], columns: list[str], keys: int = 0) -> pd.DataFrame:
    """Rows as a frame whose first ``keys`` columns are ids, typed even when empty."""
    # Plain tuples: pandas reads SQLAlchemy Row objects about ten times slower.
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)
    if frame.empty:
        frame = frame.astype(dict.fromkeys(columns[:keys], np.int64))
    return frame
