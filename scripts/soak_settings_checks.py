"""The soak's reconciliation, each contact against the settings of the campaign that made it.

A contact is a carrier create in the ledger (a call placed, a text handed over), at its
clock time, made for an attempt of one campaign; that campaign's settings say when and how
often it could be made (README "Campaign settings"):

- ``window``: inside the campaign's calling window for the weekday, in the customer's
  local time, on a day that is no holiday there (or up to the tolerance earlier: the
  dialer's check came first);
- ``contact_cap``: fewer than the cap's contacts to the number in its period before it,
  counting every campaign's calls that rang and texts, as the product does;
- ``tries_per_day`` and ``tries_total``: the list entry's tries (every attempt the carrier
  took but a canceled call) on the customer's local day, and in all;
- ``retry_spacing``: a call after one of the entry's calls no sooner than the delay for that
  call's outcome (``retry_minutes``; after an abandoned call, the abandon cooldown),
  counted from the end of the earlier call at the carrier.

A contact breaking any of them counts once in ``contacts_outside_settings``; ``by_rule``
says which rules were broken how often.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from campaigns.settings.model import CampaignSettings
from store.models import AttemptStatus

__all__ = ["SETTINGS_RULES", "Contact", "SettingsBreaches", "breaches", "inside_window"]

SETTINGS_RULES = ("window", "contact_cap", "tries_per_day", "tries_total", "retry_spacing")
CONTACTED_CALL = frozenset({"completed", "busy", "no-answer"})  # the phone rang
DEFAULT = CampaignSettings()  # a contact no campaign claims is held to the product's defaults
# rules with a count of their own in the verdict, which takes their examples too
COUNTED_APART = {"window": "contacts_outside_window", "contact_cap": "over_cap_contacts"}
Note = Callable[[str, Any], None]


@dataclass(frozen=True)
class Contact:
    """One carrier create, at the dialer's clock time."""

    moment: dt.datetime
    record: Mapping[str, Any]  # the ledger's create: sid, to, resource, attempt, at
    attempt: Mapping[str, Any] | None  # the store's attempt it names; None: no such attempt
    settings: CampaignSettings  # those of the attempt's campaign

    @property
    def entry(self) -> int | None:
        entry = None if self.attempt is None else self.attempt.get("list_entry_id")
        return None if entry is None else int(entry)

    @property
    def is_call(self) -> bool:
        return bool(self.record["resource"] == "call")


@dataclass
class SettingsBreaches:
    contacts: int = 0  # contacts breaking at least one rule
    by_rule: Counter[str] = field(default_factory=Counter)


@functools.cache
def _holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def inside_window(
    settings: CampaignSettings,
    customer: Mapping[str, Any],
    moment: dt.datetime,
    tolerance: dt.timedelta,
) -> bool:
    """Whether ``moment`` (or a moment up to ``tolerance`` earlier) is inside the
    campaign's window for the customer's local weekday, on no holiday there."""
    zone = ZoneInfo(customer["timezone"])
    for probe in (moment, moment - tolerance):
        local = probe.astimezone(zone)
        day = local.date()
        public = settings.holidays.public and day in _holidays(customer["country"])
        if public or day in settings.holidays.extra:
            continue
        window = settings.calling_window.on(day)
        if window is not None and window.contains(local.time()):
            return True
    return False


def breaches(
    contacts: Sequence[Contact],
    customers: Mapping[str, Mapping[str, Any]],
    finals: Mapping[str, Mapping[str, Any]],
    clock_at: Callable[[float], dt.datetime],
    tolerance: dt.timedelta,
    note: Note,
) -> SettingsBreaches:
    """Every contact against its campaign's settings; an example per broken contact."""
    broken: dict[str, set[str]] = defaultdict(set)  # sid -> the rules it broke
    for contact in contacts:
        customer = customers.get(contact.record["to"])
        if customer is not None and not inside_window(
            contact.settings, customer, contact.moment, tolerance
        ):
            broken[contact.record["sid"]].add("window")
    for sid in _over_cap(contacts, finals):
        broken[sid].add("contact_cap")
    for entry_contacts in _by_entry(contacts, finals).values():
        zone = _zone(customers.get(entry_contacts[0].record["to"]))
        for rule, sid in _over_tries(entry_contacts, zone):
            broken[sid].add(rule)
        for sid in _too_soon(entry_contacts, finals, clock_at, tolerance):
            broken[sid].add("retry_spacing")
    out = SettingsBreaches(contacts=len(broken))
    for contact in contacts:
        rules = broken.get(contact.record["sid"])
        if rules:
            out.by_rule.update(rules)
            example = {
                "sid": contact.record["sid"],
                "attempt": contact.record["attempt"],
                "clock": contact.moment.isoformat(),
                "rules": sorted(rules),
            }
            note("contacts_outside_settings", example)
            for rule in rules & COUNTED_APART.keys():
                note(COUNTED_APART[rule], example)
            broken.pop(contact.record["sid"])  # one example per contact
    return out


def _reached(contact: Contact, finals: Mapping[str, Mapping[str, Any]]) -> bool:
    """A text handed over, or a call that rang: what the cap counts."""
    final = finals.get(contact.record["sid"], {})
    return not contact.is_call or final.get("status") in CONTACTED_CALL


def _over_cap(
    contacts: Sequence[Contact], finals: Mapping[str, Mapping[str, Any]]
) -> Iterable[str]:
    """Contacts with the cap of their campaign already reached, by any campaign's contacts
    to the number in the cap's period."""
    by_number: dict[str, list[Contact]] = defaultdict(list)
    for contact in contacts:
        if _reached(contact, finals):
            by_number[contact.record["to"]].append(contact)
    for seen in by_number.values():
        seen.sort(key=lambda c: c.moment)
        for i, contact in enumerate(seen):
            cap = contact.settings.contact_cap
            period = dt.timedelta(days=cap.days)
            if sum(contact.moment - c.moment < period for c in seen[:i]) >= cap.contacts:
                yield contact.record["sid"]


def _by_entry(
    contacts: Sequence[Contact], finals: Mapping[str, Mapping[str, Any]]
) -> dict[int, list[Contact]]:
    """Per list entry, its tries in order: one per attempt (a second create for one attempt
    is a duplicate dial, counted apart), a canceled call none, as the product counts."""
    out: dict[int, list[Contact]] = defaultdict(list)
    seen: set[str] = set()
    for contact in sorted(contacts, key=lambda c: c.moment):
        attempt = contact.record["attempt"]
        if contact.entry is None or attempt in seen:
            continue
        seen.add(attempt)
        if finals.get(contact.record["sid"], {}).get("status") != "canceled":
            out[contact.entry].append(contact)
    return out


def _zone(customer: Mapping[str, Any] | None) -> dt.tzinfo:
    return dt.UTC if customer is None else ZoneInfo(customer["timezone"])


def _over_tries(tries: Sequence[Contact], zone: dt.tzinfo) -> Iterable[tuple[str, str]]:
    """Tries beyond the campaign's per day (the customer's local day) and in all."""
    per_day: Counter[dt.date] = Counter()
    for n, contact in enumerate(tries, start=1):
        limits = contact.settings.max_attempts
        day = contact.moment.astimezone(zone).date()
        per_day[day] += 1
        if per_day[day] > limits.per_day:
            yield "tries_per_day", contact.record["sid"]
        if n > limits.total:
            yield "tries_total", contact.record["sid"]


def _too_soon(
    tries: Sequence[Contact],
    finals: Mapping[str, Mapping[str, Any]],
    clock_at: Callable[[float], dt.datetime],
    tolerance: dt.timedelta,
) -> Iterable[str]:
    """Calls sooner after the entry's previous call than its outcome's delay allows."""
    calls = [c for c in tries if c.is_call]
    for before, after in itertools.pairwise(calls):
        delay = _delay_after(before)
        if delay is None:
            continue
        final = finals.get(before.record["sid"])
        ended = clock_at(final["at"]) if final and "at" in final else before.moment
        if after.moment < ended + delay - tolerance:
            yield after.record["sid"]


def _delay_after(call: Contact) -> dt.timedelta | None:
    """The wait the campaign sets after this call's outcome in the store; None: none."""
    if call.attempt is None:
        return None
    status = call.attempt["status"]
    if status == AttemptStatus.ABANDONED:
        return dt.timedelta(hours=call.settings.cooldowns.abandon_hours)
    try:
        minutes = call.settings.retry_delay_minutes(AttemptStatus(status))
    except ValueError:
        return None
    return None if minutes is None else dt.timedelta(minutes=minutes)
