"""Where the customers live: time zones, countries, NANP area codes and GB number plans."""

from __future__ import annotations

__all__ = ["AREAS", "COUNTRIES", "GB_PLANS", "ZONES"]


# IANA time zones; their UTC offsets come from zoneinfo (see UtcOffsets)
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Vancouver",
    "America/Edmonton",
    "Europe/London",
)
COUNTRIES = ("US", "CA", "GB")
# NANP area code, country, region, zone index, weight
AREAS: tuple[tuple[int, int, str, int, float], ...] = (
    (212, 0, "NY", 0, 3.0),
    (718, 0, "NY", 0, 3.0),
    (917, 0, "NY", 0, 2.0),
    (646, 0, "NY", 0, 1.5),
    (617, 0, "MA", 0, 1.5),
    (305, 0, "FL", 0, 2.0),
    (404, 0, "GA", 0, 1.5),
    (215, 0, "PA", 0, 1.5),
    (202, 0, "DC", 0, 1.0),
    (313, 0, "MI", 0, 1.0),
    (312, 0, "IL", 1, 2.0),
    (773, 0, "IL", 1, 1.5),
    (214, 0, "TX", 1, 2.0),
    (713, 0, "TX", 1, 2.0),
    (512, 0, "TX", 1, 1.0),
    (612, 0, "MN", 1, 1.0),
    (615, 0, "TN", 1, 1.0),
    (816, 0, "MO", 1, 0.8),
    (303, 0, "CO", 2, 1.2),
    (720, 0, "CO", 2, 1.0),
    (801, 0, "UT", 2, 1.0),
    (505, 0, "NM", 2, 0.6),
    (406, 0, "MT", 2, 0.4),
    (213, 0, "CA", 3, 2.0),
    (310, 0, "CA", 3, 2.0),
    (415, 0, "CA", 3, 1.5),
    (408, 0, "CA", 3, 1.2),
    (619, 0, "CA", 3, 1.2),
    (206, 0, "WA", 3, 1.2),
    (503, 0, "OR", 3, 1.0),
    (702, 0, "NV", 3, 1.0),
    (416, 1, "ON", 4, 2.0),
    (647, 1, "ON", 4, 1.5),
    (613, 1, "ON", 4, 1.0),
    (514, 1, "QC", 4, 1.5),
    (438, 1, "QC", 4, 0.8),
    (604, 1, "BC", 5, 1.5),
    (778, 1, "BC", 5, 1.0),
    (403, 1, "AB", 6, 1.2),
    (587, 1, "AB", 6, 0.8),
)
# GB number plans: national significant number prefix, digits after it, region, weight
GB_PLANS: tuple[tuple[int, int, str, float], ...] = (
    (20, 8, "ENG", 0.30),  # London 020 [378]xxx xxxx
    (161, 7, "ENG", 0.08),  # Manchester 0161 [2-9]xx xxxx
    (151, 7, "ENG", 0.06),  # Liverpool
    (191, 7, "ENG", 0.05),  # Newcastle
    (141, 7, "SCT", 0.06),  # Glasgow
    (7, 9, "", 0.45),  # mobile 07[458]xx xxxxxx
)
