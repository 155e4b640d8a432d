"""Campaign settings: the documented form, defaults, refusals naming the field and the
rule, kind defaults, regulatory profiles and their limits."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml

from campaigns.settings.model import CampaignSettings, MachineAction
from campaigns.settings.resolve import SettingsError, resolve
from campaigns.settings.windows import DailyWindow, WeeklyWindow
from store.models import CampaignKind

EXAMPLE = """
calling_window:
  mon-fri: "09:30-19:45"
  sat: "10:00-13:00"
  sun: null
contact_cap: {contacts: 2, days: 21}
max_attempts: {per_day: 2, total: 5}
abandon_target: 0.02
costs: {contact: 1.25, offer: 35}
"""


def settle(own: dict[str, Any], countries: tuple[str, ...] = ("LT",)) -> CampaignSettings:
    return resolve(CampaignKind.CROSS_SELL, {}, own, countries)


def problems(own: dict[str, Any], countries: tuple[str, ...] = ("LT",)) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        settle(own, countries)
    return caught.value.problems


def test_the_documented_example_is_taken_as_written() -> None:
    settings = settle(yaml.safe_load(EXAMPLE))
    window = settings.calling_window
    assert window.on(dt.date(2026, 12, 7)) == DailyWindow.parse("09:30-19:45")  # a Monday
    assert window.on(dt.date(2026, 12, 11)) == DailyWindow.parse("09:30-19:45")  # Friday
    assert window.on(dt.date(2026, 12, 12)) == DailyWindow.parse("10:00-13:00")
    assert window.on(dt.date(2026, 12, 13)) is None
    assert (settings.contact_cap.contacts, settings.contact_cap.days) == (2, 21)
    assert (settings.max_attempts.per_day, settings.max_attempts.total) == (2, 5)
    assert settings.abandon_target == 0.02
    assert (settings.costs.contact, settings.costs.offer) == (1.25, 35.0)
    # written back in the same short form, and read back the same
    assert settings.as_json()["calling_window"] == {
        "mon-fri": "09:30-19:45",
        "sat": "10:00-13:00",
        "sun": None,
    }
    assert CampaignSettings.model_validate(json.loads(json.dumps(settings.as_json()))) == settings


def test_defaults_are_the_documented_ones() -> None:
    s = CampaignSettings()
    assert s.calling_window == WeeklyWindow.every_day(dt.time(8), dt.time(21))
    assert (s.contact_cap.contacts, s.contact_cap.days) == (3, 30)
    assert (s.max_attempts.per_day, s.max_attempts.total) == (3, 6)
    cooldowns = s.cooldowns
    assert (cooldowns.refusal_days, cooldowns.abandon_hours, cooldowns.opt_out_days) == (90, 72, 30)
    assert (s.abandon_target, s.abandon_window_hours, s.ring_timeout) == (0.03, 24, 25)
    assert s.machine_detection.enabled
    assert s.machine_detection.action is MachineAction.VOICEMAIL
    assert (s.costs.contact, s.costs.offer) == (2.0, 40.0)
    assert s.caller_id.numbers == ()
    assert not s.caller_id.local_presence


@pytest.mark.parametrize(
    ("own", "field", "rule"),
    [
        ({"calling_window": {"mon": "19:00-09:00"}}, "calling_window", "ends (09:00) before"),
        ({"calling_window": {"mon": "09:00-09:00"}}, "calling_window", "before it starts"),
        ({"calling_window": {"mo": "09:00-17:00"}}, "calling_window", 'unknown weekday "mo"'),
        ({"calling_window": {"fri-mon": "09:00-17:00"}}, "calling_window", "runs backwards"),
        ({"calling_window": {"mon": "9-5"}}, "calling_window", "HH:MM-HH:MM"),
        ({"calling_window": {"mon": "25:00-26:00"}}, "calling_window", "hours run 00-23"),
        (
            {"calling_window": {"mon-fri": "09:00-17:00", "fri": "10:00-12:00"}},
            "calling_window",
            "fri is given twice",
        ),
        ({"contact_cap": {"contacts": 0}}, "contact_cap.contacts", "greater than 0"),
        ({"contact_cap": {"days": -1}}, "contact_cap.days", "greater than 0"),
        ({"max_attempts": {"per_day": 0}}, "max_attempts.per_day", "greater than 0"),
        ({"cooldowns": {"opt_out_days": 0}}, "cooldowns.opt_out_days", "greater than 0"),
        ({"retry_minutes": {"completed": 5}}, "retry_minutes", "no retry for completed"),
        ({"abandon_target": 0}, "abandon_target", "greater than 0"),
        ({"ring_timeout": 5}, "ring_timeout", "greater than or equal to 10"),
        ({"machine_detection": {"action": "shout"}}, "machine_detection.action", "voicemail"),
        ({"caller_id": {"numbers": ["12345"]}}, "caller_id.numbers.0", "E.164"),
        ({"costs": {"offer": -1}}, "costs.offer", "greater than or equal to 0"),
        ({"templates": {"sms": "Call {{ phone }}"}}, "templates.sms", "unknown name phone"),
        ({"templates": {"sms": "Call us on {{ callback_number }}"}}, "templates.sms", "STOP"),
        ({"templates": {"voicemail": "Hi {% if %}"}}, "templates.voicemail", "not a valid"),
        ({"max_calls": 2}, "max_calls", "not a setting"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field_and_the_rule(
    own: dict[str, Any], field: str, rule: str
) -> None:
    found = problems(own)
    assert any(name == field and rule in reason for name, reason in found), found


def test_kinds_bring_their_own_defaults_and_a_setting_overrides_them() -> None:
    for kind in CampaignKind:
        settings = resolve(kind, {}, {}, ("LT",))
        assert settings.exclude_open_complaints == kind.excludes_open_complaints
        assert settings.abandon_target == (0.01 if kind.is_save else 0.03)
    assert resolve(CampaignKind.ANTI_CHURN, {}, {"abandon_target": 0.02}).abandon_target == 0.02


def test_site_settings_lie_under_the_campaigns_own() -> None:
    site = {"contact_cap": {"contacts": 2}, "costs": {"offer": 30}}
    settings = resolve(CampaignKind.UP_SELL, site, {"contact_cap": {"days": 14}}, ("LT",))
    assert (settings.contact_cap.contacts, settings.contact_cap.days) == (2, 14)
    assert (settings.costs.contact, settings.costs.offer) == (2.0, 30.0)


# -- regulatory profiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "own", "field", "rule"),
    [
        ("US", {"calling_window": {"mon-sun": "07:30-20:00"}}, "calling_window", "TCPA"),
        ("US", {"calling_window": {"sat": "09:00-21:30"}}, "calling_window", "08:00-21:00"),
        ("US", {"abandon_target": 0.04}, "abandon_target", "limit of 0.03"),
        ("GB", {"abandon_target": 0.035}, "abandon_target", "Ofcom"),
        ("GB", {"abandon_window_hours": 48}, "abandon_window_hours", "24 h"),
        ("GB", {"cooldowns": {"abandon_hours": 24}}, "cooldowns.abandon_hours", "72 h"),
        (
            "GB",
            {"machine_detection": {"action": "hang_up_retry"}},
            "machine_detection.action",
            "silent call",
        ),
    ],
)
def test_a_setting_looser_than_its_profile_is_refused_with_the_reason(
    country: str, own: dict[str, Any], field: str, rule: str
) -> None:
    found = problems(own, (country,))
    assert any(name == field and rule in reason for name, reason in found), found
    settle(own, ("LT",))  # the plain default profile allows it


def test_the_us_window_may_be_as_wide_as_the_law_and_stricter_rules_pass() -> None:
    settings = settle(
        {"calling_window": {"mon-sun": "08:00-21:00"}, "abandon_window_hours": 720}, ("US",)
    )
    assert settings.abandon_window_hours == 720
    settle({"abandon_target": 0.01, "cooldowns": {"abandon_hours": 96}}, ("GB",))


def test_a_list_under_one_profile_takes_its_defaults() -> None:
    polish = settle({}, ("PL",))
    assert polish.calling_window.on(dt.date(2026, 12, 13)) is None  # Sunday
    assert str(polish.calling_window.on(dt.date(2026, 12, 7))) == "09:00-20:00"
    british = settle({}, ("GB",))
    assert str(british.calling_window.on(dt.date(2026, 12, 13))) == "10:00-18:00"
    # customers under two profiles: the product's defaults, which both profiles allow
    mixed = settle({}, ("GB", "PL"))
    assert mixed.calling_window == CampaignSettings().calling_window
    # a campaign's own window wins over a profile's default
    own = settle({"calling_window": {"mon-fri": "10:00-16:00"}}, ("PL",))
    assert own.calling_window.on(dt.date(2026, 12, 12)) is None


def test_a_site_chooses_the_profile_per_country() -> None:
    site = {"regulatory_profiles": {"LT": "uk"}}
    with pytest.raises(SettingsError, match="Ofcom"):
        resolve(CampaignKind.CROSS_SELL, site, {"abandon_window_hours": 48}, ("LT",))
    # and an unplanned campaign is held to every profile the site uses
    with pytest.raises(SettingsError, match="TCPA"):
        resolve(CampaignKind.CROSS_SELL, {}, {"abandon_target": 0.04})
