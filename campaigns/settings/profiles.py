"""Regulatory profiles: the rules of the country a customer lives in, as defaults and
hard limits on a campaign's settings.

A site maps each country to a profile (``regulatory_profiles`` in its settings); a
campaign is held to the profile of every country its customers live in. A profile's
defaults apply when every customer falls under that one profile; its limits always, and
a setting looser than a limit is refused with the rule it breaks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from campaigns.settings.model import CampaignSettings
from campaigns.settings.windows import DAYS, DailyWindow

__all__ = ["DEFAULT_PROFILES", "PROFILES", "Problem", "RegulatoryProfile", "profile_problems"]

Problem = tuple[str, str]  # the field, and what is wrong with it
Check = Callable[[CampaignSettings], Iterable[Problem]]


@dataclass(frozen=True)
class RegulatoryProfile:
    name: str
    says: str  # the law or regulator, as a manager would look it up
    defaults: Mapping[str, Any] = field(default_factory=dict)
    limits: tuple[Check, ...] = ()

    def problems(self, settings: CampaignSettings) -> list[Problem]:
        return [
            (name, f"{reason} ({self.says}, the {self.name} profile)")
            for check in self.limits
            for name, reason in check(settings)
        ]


def _window_within(start: int, end: int) -> Check:
    allowed = DailyWindow(start=dt.time(start), end=dt.time(end))

    def check(settings: CampaignSettings) -> Iterable[Problem]:
        for day, window in zip(DAYS, settings.calling_window.days, strict=True):
            if window is not None and not window.within(allowed):
                yield "calling_window", f"{day} {window} goes beyond {allowed} local time"

    return check


def _abandon_at_most(target: float, hours: int) -> Check:
    def check(settings: CampaignSettings) -> Iterable[Problem]:
        if settings.abandon_target > target:
            yield "abandon_target", f"{settings.abandon_target:g} is above the limit of {target:g}"
        if settings.abandon_window_hours > hours:
            yield (
                "abandon_window_hours",
                f"{settings.abandon_window_hours} h is longer than the {hours} h the rate is "
                "measured over",
            )

    return check


def _abandon_cooldown_at_least(hours: int) -> Check:
    def check(settings: CampaignSettings) -> Iterable[Problem]:
        if settings.cooldowns.abandon_hours < hours:
            yield (
                "cooldowns.abandon_hours",
                f"{settings.cooldowns.abandon_hours} h: no repeat call within {hours} h of an "
                "abandoned call",
            )

    return check


def _machine_detection_answers() -> Check:
    # a machine-detected call that we hang up on without a word is a silent call
    def check(settings: CampaignSettings) -> Iterable[Problem]:
        detection = settings.machine_detection
        if detection.enabled and detection.action == "hang_up_retry":
            yield (
                "machine_detection.action",
                "hanging up on a detected machine leaves a silent call: leave a voicemail or "
                "send the text",
            )

    return check


PROFILES: dict[str, RegulatoryProfile] = {
    profile.name: profile
    for profile in (
        RegulatoryProfile(name="default", says="the product's own rules"),
        RegulatoryProfile(
            name="us",
            says="TCPA, 47 CFR 64.1200",
            limits=(_window_within(8, 21), _abandon_at_most(0.03, 30 * 24)),
        ),
        RegulatoryProfile(
            name="uk",
            says="Ofcom's persistent misuse policy",
            defaults={"calling_window": {"mon-sat": "08:00-21:00", "sun": "10:00-18:00"}},
            limits=(
                _abandon_at_most(0.03, 24),
                _abandon_cooldown_at_least(72),
                _machine_detection_answers(),
            ),
        ),
        RegulatoryProfile(
            # marketing calls need the customer's prior consent (telecommunications law,
            # art. 172): every list is screened for it, and no setting turns that off
            name="pl",
            says="Prawo telekomunikacyjne art. 172, prior consent",
            defaults={
                "calling_window": {"mon-fri": "09:00-20:00", "sat": "10:00-14:00", "sun": None}
            },
        ),
    )
}
# the site's choice until it makes its own: each country its regulator's profile
DEFAULT_PROFILES = {"US": "us", "GB": "uk", "PL": "pl"}


def profile_problems(
    settings: CampaignSettings, profiles: Iterable[RegulatoryProfile]
) -> list[Problem]:
    return [problem for profile in profiles for problem in profile.problems(settings)]
