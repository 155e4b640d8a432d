"""Query results read straight from the driver, for the feature readers (see ``fetch``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Executable

__all__ = [
    "as_date",
    "columns_of",
    "fetch",
    "months_before",
    "objects",
    "records_frame",
    "utc_times",
]


def fetch(conn: Connection, stmt: Executable) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples, straight from the driver.

    SQLAlchemy's per-value result conversion costs more than the query here, so the
    queries ask for numbers the drivers hand back as Python numbers (amounts cast to
    float) and the few dates and times are read by ``as_date``, ``months_before`` and
    ``utc_times``, which take both what SQLite gives (ISO text) and what PostgreSQL
    gives (date and datetime objects).
    """
    result = conn.execute(stmt)
    try:
        rows: list[tuple[Any, ...]] = list(result.cursor.fetchall())
    finally:
        result.close()
    return rows


def records_frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    # Plain tuples: pandas reads SQLAlchemy Row objects about ten times slower.
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def months_before(values: Sequence[Any], top: dt.date) -> npt.NDArray[np.float64]:
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


def utc_times(keys: Sequence[Any], values: Sequence[Any]) -> pd.Series:
    """Times (aware datetimes, or SQLite's UTC text) as a UTC series keyed by ``keys``."""
    times = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")
    return pd.Series(
        times.astype("datetime64[us, UTC]").to_numpy(), index=pd.Index(list(keys), dtype=np.int64)
    ).astype("datetime64[us, UTC]")


def columns_of(rows: Sequence[Any], n: int) -> list[tuple[Any, ...]]:
    """The n columns of a result, also when it has no rows."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(n)]


def objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
