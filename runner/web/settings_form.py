"""The settings form of the manager's pages: its fields, read back into a settings
change, and each refusal placed beside the field it names.

The form shows every key a manager sets, filled with the settings in force. A submit is
read whole, checked as the settings model checks a file (the same messages), and only
the keys that differ from what the page showed become the change, so a campaign keeps
following the site's defaults for everything its manager left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from multidict import MultiDictProxy
from pydantic import ValidationError

from campaigns.settings.model import RETRIED, CallerId, MachineAction, PacingMode
from campaigns.settings.profiles import PROFILES, Problem
from campaigns.settings.resolve import SITE_ONLY, validated
from campaigns.settings.windows import DAYS

__all__ = [
    "FIELD_GROUPS",
    "FORM_ERROR",
    "NEW_COUNTRY",
    "NO_CALLS",
    "PROFILE_NAMES",
    "WINDOW",
    "changes_from",
    "field_errors",
    "form_values",
    "new_caller_ids",
    "read_form",
]

WINDOW = "calling_window"
NO_CALLS = "no_calls"  # a checkbox per weekday, its value the day
NEW_COUNTRY = ("new_country", "new_profile")  # the site page's row to add a country
FORM_ERROR = "form"  # a problem no field of the form holds
PROFILE_NAMES = tuple(PROFILES)


@dataclass(frozen=True)
class Field:
    name: str  # the key's path in a settings file, e.g. "contact_cap.contacts"
    label: str
    kind: str = "number"  # number, decimal, check, select, text, list, textarea
    hint: str = ""
    options: tuple[str, ...] = ()


FIELD_GROUPS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "Holidays",
        (
            Field("holidays.public", "Skip the country's public holidays", "check"),
            Field("holidays.extra", "More dates without calls", "list", "YYYY-MM-DD, comma apart"),
        ),
    ),
    (
        "Contact limits",
        (
            Field("contact_cap.contacts", "Contacts per customer", hint="every campaign, channel"),
            Field("contact_cap.days", "... in any this many days"),
            Field("max_attempts.per_day", "Attempts per entry a day", hint="from local midnight"),
            Field("max_attempts.total", "Attempts per entry in all"),
            Field("exclude_open_complaints", "Leave out customers with an open complaint", "check"),
        ),
    ),
    (
        "Retry after (minutes)",
        tuple(Field(f"retry_minutes.{s.value}", s.value.replace("-", " ")) for s in RETRIED),
    ),
    (
        "Cooldowns",
        (
            Field("cooldowns.refusal_days", "Days after a refusal"),
            Field("cooldowns.abandon_hours", "Hours after an abandoned call"),
            Field("cooldowns.opt_out_days", "Days after an opt-out"),
        ),
    ),
    (
        "Dialing",
        (
            Field(
                "abandon_target", "Abandon target", "decimal", "share of live answers, e.g. 0.02"
            ),
            Field("abandon_window_hours", "Abandon measured over (hours)"),
            Field("pacing", "Pacing", "select", options=tuple(PacingMode)),
            Field("ring_timeout", "Ring timeout (seconds)"),
            Field("machine_detection.enabled", "Detect answering machines", "check"),
            Field(
                "machine_detection.action", "On a machine", "select", options=tuple(MachineAction)
            ),
            Field(
                "sms_after_failed_calls",
                "Text after this many calls reaching no one",
                hint="0: never",
            ),
        ),
    ),
    (
        "Texts",
        (
            Field("templates.voicemail", "Voicemail", "textarea", "empty: the product's own"),
            Field("templates.sms", "SMS", "textarea", 'must carry "Reply STOP to opt out."'),
        ),
    ),
    (
        "Caller ID",
        (
            Field("caller_id.numbers", "Numbers", "list", "E.164, comma apart; the account's own"),
            Field(
                "caller_id.local_presence",
                "Local presence: the customer's country and area",
                "check",
            ),
        ),
    ),
    (
        "Costs",
        (
            Field("costs.contact", "Per contact", "decimal"),
            Field("costs.offer", "Per accepted offer", "decimal"),
        ),
    ),
)
_FIELDS = {f.name: f for _, group in FIELD_GROUPS for f in group}


def form_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields filled from settings in a settings file's form."""
    values: dict[str, Any] = {}
    for name, spec in _FIELDS.items():
        value = _at(settings, name)
        if spec.kind == "list":
            value = ", ".join(str(v) for v in value or ())
        values[name] = "" if value is None else value
    days = _days(settings.get(WINDOW) or {})
    values.update({f"{WINDOW}.{day}": days.get(day) or "" for day in DAYS})
    values[NO_CALLS] = [day for day in DAYS if days.get(day) is None]
    if SITE_ONLY in settings:
        values[SITE_ONLY] = dict(settings[SITE_ONLY])
    return values


def read_form(form: MultiDictProxy[Any], site: bool) -> dict[str, Any]:
    """The fields as the page showed them (for showing again) and as settings."""
    values: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in _FIELDS}
    for name, spec in _FIELDS.items():
        if spec.kind == "check":
            values[name] = name in form
    # any calling_window.* field counts: a day the form does not know is refused by name
    for key in form:
        if key.startswith(f"{WINDOW}."):
            values[key] = str(form[key]).strip()
    values[NO_CALLS] = [str(day) for day in form.getall(NO_CALLS, [])]
    if site:
        profiles = {
            key.removeprefix(f"{SITE_ONLY}."): str(form[key])
            for key in form
            if key.startswith(f"{SITE_ONLY}.")
        }
        country, profile = (str(form.get(key, "")).strip() for key in NEW_COUNTRY)
        if country:
            profiles[country.upper()] = profile
        values[SITE_ONLY] = profiles
    return values


def changes_from(values: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """The change a submitted form asks for: the keys that differ from ``shown`` (the
    settings the page showed). SettingsError names each field that cannot be used."""
    wanted = _settings(values)
    checked = validated({k: v for k, v in wanted.items() if k != SITE_ONLY}).as_json()
    if SITE_ONLY in wanted:
        checked[SITE_ONLY] = wanted[SITE_ONLY]
    changes: dict[str, Any] = {}
    for key, value in checked.items():
        before = shown.get(key)
        # the window and the profiles are given whole: the site's mapping replaces the
        # product's, so a country left out of it would lose its profile
        if key not in (WINDOW, SITE_ONLY) and isinstance(value, dict) and isinstance(before, dict):
            section = {k: v for k, v in value.items() if before.get(k) != v}
            if section:
                changes[key] = section
        elif value != before:
            changes[key] = value
    return changes


def field_errors(problems: Iterable[Problem], where: str = "") -> dict[str, str]:
    """Each problem under the form field it names (``caller_id.numbers.1``: the numbers
    field), or under the whole form; two problems of one field are said together."""
    known = set(_FIELDS) | {WINDOW, SITE_ONLY}
    errors: dict[str, str] = {}
    for path, reason in problems:
        parts = path.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        name = ".".join(parts) if parts else FORM_ERROR
        said = f"{where}{reason}" if name != FORM_ERROR else f"{where}{path}: {reason}"
        errors[name] = f"{errors[name]}; {said}" if name in errors else said
    return errors


def new_caller_ids(values: Mapping[str, Any], shown: Mapping[str, Any]) -> list[str]:
    """The caller ID numbers the form names that the page did not show (E.164); those
    the settings model cannot read are left to its own error."""
    try:
        numbers = CallerId.model_validate({"numbers": _settings(values)["caller_id"]["numbers"]})
    except ValidationError:
        return []
    before = set((shown.get("caller_id") or {}).get("numbers") or ())
    return [number for number in numbers.numbers if number not in before]


def _settings(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in _FIELDS.items():
        value = values.get(name)
        if spec.kind == "list":
            value = [part.strip() for part in str(value).replace("\n", ",").split(",")]
            value = [part for part in value if part]
        elif spec.kind == "textarea" and not value:
            value = None
        section, _, key = name.rpartition(".")
        (out.setdefault(section, {}) if section else out)[key] = value
    off = set(values.get(NO_CALLS, ()))
    out[WINDOW] = {
        key.removeprefix(f"{WINDOW}."): None if key.removeprefix(f"{WINDOW}.") in off else text
        for key, text in values.items()
        if key.startswith(f"{WINDOW}.")
    }
    if SITE_ONLY in values:
        out[SITE_ONLY] = dict(values[SITE_ONLY])
    return out


def _at(settings: Mapping[str, Any], name: str) -> Any:
    value: Any = settings
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _days(window: Mapping[str, Any]) -> dict[str, Any]:
    """Each weekday's window from the shortest form (``mon-fri``) settings are shown in."""
    out: dict[str, Any] = {}
    for key, text in window.items():
        first, _, last = key.partition("-")
        for day in DAYS[DAYS.index(first) : DAYS.index(last or first) + 1]:
            out[day] = text
    return out
