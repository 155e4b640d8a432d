"""Which number a customer sees: the campaign's one caller ID, or from its pool the
number that shares the customer's country and, where the plan has them, area code."""

from __future__ import annotations

import functools

import phonenumbers

from campaigns.settings.model import CallerId

__all__ = ["caller_id_for"]


def caller_id_for(caller: CallerId, to: str, default: str | None) -> str | None:
    """The number to call or text ``to`` from; ``default`` (the site's) with no pool."""
    if not caller.numbers:
        return default
    if not caller.local_presence:
        return caller.numbers[0]
    country, area = _place(to)
    same_country = [n for n in caller.numbers if _place(n)[0] == country]
    local = [n for n in same_country if area and _place(n)[1] == area]
    return (local or same_country or list(caller.numbers))[0]


@functools.lru_cache(maxsize=1 << 14)
def _place(number: str) -> tuple[int | None, str]:
    """The number's country calling code and geographic area code ("" where it has
    none). By calling code, not region: a UK mobile may be told as Guernsey's."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, ""
    length = phonenumbers.length_of_geographical_area_code(parsed)
    national = phonenumbers.national_significant_number(parsed)
    return parsed.country_code, national[:length]
