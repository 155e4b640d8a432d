"""The calling window per weekday, in the customer's local time.

A manager writes it as a mapping whose keys are weekdays one by one (``sat``) or as a
range (``mon-fri``), and whose values are ``"HH:MM-HH:MM"`` or ``null`` for no calls that
day. It is kept as seven entries, Monday first, so nothing later has to parse keys.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["DAYS", "DailyWindow", "WeeklyWindow"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class DailyWindow(BaseModel):
    """[start, end) on one local day; a window cannot span midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _ordered(self) -> DailyWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a local wall-clock time, without a zone")
        _check_order(self.start, self.end)
        return self

    @classmethod
    def parse(cls, text: str) -> DailyWindow:
        match = _SPAN.match(text)
        if match is None:
            raise ValueError(f'"{text}" is not a window: write "HH:MM-HH:MM", e.g. "09:00-20:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError:
            raise ValueError(f'"{text}": hours run 00-23 and minutes 00-59') from None
        _check_order(start, end)
        return cls(start=start, end=end)

    def contains(self, local: dt.time) -> bool:
        return self.start <= local < self.end

    def within(self, outer: DailyWindow) -> bool:
        return outer.start <= self.start and self.end <= outer.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class WeeklyWindow(BaseModel):
    """Seven days, Monday first; None is a day without calls."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[DailyWindow | None, ...]

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "days" not in value:
            return {"days": _days_of(value)}
        if isinstance(value, str):
            return {"days": _days_of({"mon-sun": value})}
        return value

    @model_validator(mode="after")
    def _seven(self) -> WeeklyWindow:
        if len(self.days) != len(DAYS):
            raise ValueError(f"seven days, Monday first; {len(self.days)} given")
        return self

    @classmethod
    def every_day(cls, start: dt.time, end: dt.time) -> WeeklyWindow:
        return cls(days=(DailyWindow(start=start, end=end),) * len(DAYS))

    def on(self, day: dt.date) -> DailyWindow | None:
        """The window on this local date's weekday; None: no calls that day."""
        return self.days[day.weekday()]

    def as_mapping(self) -> dict[str, str | None]:
        """The shortest form a manager would write: equal neighbouring days as a range."""
        out: dict[str, str | None] = {}
        i = 0
        while i < len(DAYS):
            j = i
            while j + 1 < len(DAYS) and self.days[j + 1] == self.days[i]:
                j += 1
            key = DAYS[i] if i == j else f"{DAYS[i]}-{DAYS[j]}"
            out[key] = None if self.days[i] is None else str(self.days[i])
            i = j + 1
        return out


def _check_order(start: dt.time, end: dt.time) -> None:
    if not start < end:
        raise ValueError(
            f"the window ends ({end:%H:%M}) before it starts ({start:%H:%M}); "
            "a window cannot span midnight"
        )


def _days_of(mapping: Mapping[Any, Any]) -> list[DailyWindow | None]:
    """Seven days from ``{"mon-fri": "09:00-20:00", "sun": null}``; unnamed days: none."""
    days: list[DailyWindow | None] = [None] * len(DAYS)
    named: dict[int, str] = {}
    for key, value in mapping.items():
        for index in _day_indices(str(key)):
            if index in named:
                raise ValueError(f"{DAYS[index]} is given twice ({named[index]} and {key})")
            named[index] = str(key)
            days[index] = _window_of(str(key), value)
    return days


def _day_indices(key: str) -> range:
    first, _, last = key.strip().lower().partition("-")
    for name in (first, last) if last else (first,):
        if name not in DAYS:
            raise ValueError(
                f'unknown weekday "{name}" in "{key}": use {", ".join(DAYS)} or a range "mon-fri"'
            )
    start, stop = DAYS.index(first), DAYS.index(last or first)
    if stop < start:
        raise ValueError(f'the range "{key}" runs backwards: write it Monday first, e.g. "mon-fri"')
    return range(start, stop + 1)


def _window_of(key: str, value: Any) -> DailyWindow | None:
    if value is None:
        return None
    if isinstance(value, DailyWindow):
        return value
    if isinstance(value, Mapping):
        return DailyWindow.model_validate(value)
    if not isinstance(value, str):
        raise ValueError(f'{key}: a window "HH:MM-HH:MM" or null for no calls, not {value!r}')
    try:
        return DailyWindow.parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
