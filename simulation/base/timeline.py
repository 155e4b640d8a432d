"""The generator's calendar: the 24 billed months up to ``as_of``, month arithmetic on day
numbers, and the UTC offsets of the customers' time zones from zoneinfo."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulation.base.numeric import I64, Bool
from simulation.base.places import ZONES

__all__ = [
    "CAMPAIGN_MONTHS_BEFORE",
    "CLV_CAP_MONTHS",
    "DAY_S",
    "HISTORY_MONTHS",
    "MONTH_DAYS",
    "Calendar",
    "UtcOffsets",
    "add_months",
    "epoch_day",
    "month_index",
]

HISTORY_MONTHS = 24
CAMPAIGN_MONTHS_BEFORE = 6
MONTH_DAYS = 30.4375
DAY_S = 86_400
CLV_CAP_MONTHS = 60


def epoch_day(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def add_months(days: I64, months: I64 | int) -> I64:
    """Same day of month ``months`` later (clipped to the month's length)."""
    d = days.astype("datetime64[D]")
    first = d.astype("datetime64[M]")
    dom = (d - first.astype("datetime64[D]")).astype(np.int64)
    target = first + np.asarray(months, dtype=np.int64)
    t_first = target.astype("datetime64[D]")
    t_len = ((target + 1).astype("datetime64[D]") - t_first).astype(np.int64)
    out: I64 = (t_first.astype(np.int64) + np.minimum(dom, t_len - 1)).astype(np.int64)
    return out


def month_index(days: I64) -> I64:
    """Months since 1970-01 of each day."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


class Calendar:
    """Month m = 0 .. 23 are the billed months; m = 23 contains as_of."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self.as_of_day = epoch_day(as_of)
        self.as_of_end_s = (self.as_of_day + 1) * DAY_S - 1
        last = int(np.datetime64(as_of, "M").astype(np.int64))
        self.m0 = last - (HISTORY_MONTHS - 1)  # months since 1970-01 of month 0
        ms = np.arange(self.m0 - 100, self.m0 + HISTORY_MONTHS + 100, dtype=np.int64)
        self._first = ms.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        self._offset = 100
        self.w0 = self.first_day(0)
        self.labels = [str(np.datetime64(int(self.m0 + m), "M")) for m in range(HISTORY_MONTHS)]
        # every interaction falls within a day of the window
        self.offsets = UtcOffsets((self.w0 - 2) * DAY_S, self.as_of_end_s + 2 * DAY_S)

    def first_day(self, m: int) -> int:
        return int(self._first[m + self._offset])

    def last_day(self, m: int) -> int:
        """Last day of month m, never after as_of."""
        return min(int(self._first[m + self._offset + 1]) - 1, self.as_of_day)

    def month_length(self, m: int) -> int:
        return int(self._first[m + self._offset + 1] - self._first[m + self._offset])

    def month_of(self, days: I64) -> I64:
        return month_index(days) - self.m0


_EPOCH = datetime(1970, 1, 1)


def _offset_s(moment: datetime) -> int:
    off = moment.utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _offset_at_utc(zone: ZoneInfo, utc_s: int) -> int:
    """zoneinfo's UTC offset of ``zone`` at a UTC instant (seconds since the epoch)."""
    return _offset_s(datetime.fromtimestamp(utc_s, zone))


def _offset_at_wall(zone: ZoneInfo, local_s: int) -> int:
    """zoneinfo's UTC offset of ``zone`` at a local wall-clock time (seconds since
    1970-01-01 00:00 local; a skipped or repeated time resolves as zoneinfo's fold=0)."""
    return _offset_s((_EPOCH + timedelta(seconds=local_s)).replace(tzinfo=zone))


class UtcOffsets:
    """UTC offsets of the ``ZONES`` from zoneinfo (the IANA time zone database).

    zoneinfo is asked once per zone and hour of [start_s, end_s], for the offset at each
    UTC hour and at each local wall-clock hour; lookups then index these tables with
    numpy. These zones change offset on whole hours, so an entry holds for its whole hour;
    an hour in which the offset changes at another moment (zoneinfo is asked about the
    second before each change) and any time outside the span are asked of zoneinfo
    directly, so lookups always agree with zoneinfo.
    """

    def __init__(self, start_s: int, end_s: int) -> None:
        self._zones = [ZoneInfo(name) for name in ZONES]
        self._h0 = start_s // 3600
        hours = np.arange(self._h0, end_s // 3600 + 2, dtype=np.int64) * 3600
        self._at_utc = self._tabulate(_offset_at_utc, hours)
        self._at_wall = self._tabulate(_offset_at_wall, hours)

    def _tabulate(self, ask: Callable[[ZoneInfo, int], int], hours: I64) -> tuple[I64, Bool]:
        table = np.array([[ask(z, int(t)) for t in hours] for z in self._zones], dtype=np.int64)
        # an hour is "mixed" when the offset changes inside it rather than at its end
        mixed = np.zeros(table.shape, dtype=np.bool_)
        for zi, h in zip(*np.nonzero(table[:, 1:] != table[:, :-1]), strict=True):
            mixed[zi, h] = ask(self._zones[zi], int(hours[h + 1]) - 1) != table[zi, h]
        mixed[:, -1] = True  # its end is not checked
        return table, mixed

    def _lookup(
        self,
        tables: tuple[I64, Bool],
        ask: Callable[[ZoneInfo, int], int],
        zone: I64,
        seconds: I64,
    ) -> I64:
        table, mixed = tables
        h = seconds // 3600 - self._h0
        inside = (h >= 0) & (h < table.shape[1])
        hc = np.where(inside, h, 0)
        out: I64 = table[zone, hc]
        for i in np.flatnonzero(~inside | mixed[zone, hc]):
            out[i] = ask(self._zones[int(zone[i])], int(seconds[i]))
        return out

    def at_utc(self, zone: I64, utc_s: I64) -> I64:
        """UTC offset in seconds of each zone (index into ZONES) at each UTC instant."""
        return self._lookup(self._at_utc, _offset_at_utc, zone, utc_s)

    def at_wall(self, zone: I64, local_s: I64) -> I64:
        """UTC offset in seconds of each zone at each local wall-clock time."""
        return self._lookup(self._at_wall, _offset_at_wall, zone, local_s)
