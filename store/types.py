"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time-zone-aware timestamp and no decimal type; these decorators make
both databases hand back the same Python values, so no code above the store needs to
know which one it runs on.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, Numeric, TypeDecorator

from store.dialect import is_sqlite


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned time-zone aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give timestamps a time zone")
        value = value.astimezone(dt.UTC)
        # SQLite stores text; dropping the offset keeps values sortable as strings.
        return value.replace(tzinfo=None) if is_sqlite(dialect) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def Money() -> Numeric[float]:
    """An amount of money: exact in PostgreSQL, a float in Python everywhere."""
    return Numeric(14, 2, asdecimal=False)


def StrEnumType(enum_cls: type[enum.StrEnum], length: int = 24) -> Enum:
    """A string column limited to an enum's values, checked by the database too."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=f"ck_{enum_cls.__name__.lower()}",
    )
