"""One campaign's settings: when and how often customers may be contacted, how the
dialer works the list, the caller ID it shows and what contacts and offers cost.

The keys are those a manager writes in a settings file (README "Campaign settings").
Every field has its default here and nowhere else; a campaign kind, the site's regulatory
profiles, the site-wide settings and the campaign's own changes are laid over them in
that order (``resolve``). The contact policy and the dialer read one resolved object.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from campaigns.settings.templates import check_sms_template, check_voicemail_template
from campaigns.settings.windows import WeeklyWindow
from store.models import AttemptStatus, CampaignKind

__all__ = [
    "RETRIED",
    "CallerId",
    "CampaignSettings",
    "ContactCap",
    "Cooldowns",
    "Costs",
    "Holidays",
    "MachineAction",
    "MachineDetection",
    "MaxAttempts",
    "PacingMode",
    "Templates",
]

S = AttemptStatus
Days = Annotated[int, Field(gt=0, le=3660)]
Hours = Annotated[int, Field(gt=0, le=3660 * 24)]
Count = Annotated[int, Field(gt=0, le=1000)]
Minutes = Annotated[int, Field(gt=0, le=60 * 24 * 30)]
Money = Annotated[float, Field(ge=0, le=1_000_000)]
# call outcomes worth another try, after the campaign's delay for that outcome
RETRIED = (S.BUSY, S.NO_ANSWER, S.MACHINE, S.FAILED, S.CANCELED)
_RETRY_MINUTES = {"busy": 20, "no-answer": 120, "machine": 240, "failed": 60, "canceled": 30}


class PacingMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class MachineAction(enum.StrEnum):
    """What to do when an answering machine picks up."""

    VOICEMAIL = "voicemail"  # leave the voicemail after the beep
    SMS = "sms"  # hang up and send the text instead
    HANG_UP = "hang_up_retry"  # hang up; the entry is retried after retry_minutes.machine


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Holidays(_Part):
    public: bool = True  # the country's (and region's) public holidays are skipped
    extra: tuple[dt.date, ...] = ()  # more dates with no calls, in every country

    @field_validator("extra")
    @classmethod
    def _sorted(cls, value: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        return tuple(sorted(set(value)))


class ContactCap(_Part):
    """At most ``contacts`` per customer in any ``days``, all campaigns and channels."""

    contacts: Count = 3
    days: Days = 30


class MaxAttempts(_Part):
    """Tries per list entry: on one local calendar day, and in all."""

    per_day: Count = 3
    total: Count = 6


class Cooldowns(_Part):
    refusal_days: Days = 90  # after the customer refused the same offer
    abandon_hours: Hours = 72  # after a call of ours was abandoned (calls only)
    opt_out_days: Days = 30  # every channel, after an opt-out on any one of them


class MachineDetection(_Part):
    enabled: bool = True
    action: MachineAction = MachineAction.VOICEMAIL


def _sms(text: str | None) -> str | None:
    return None if text is None else check_sms_template(text)


def _voicemail(text: str | None) -> str | None:
    return None if text is None else check_voicemail_template(text)


class Templates(_Part):
    """Texts spoken or sent; None: the product's own for the campaign kind."""

    voicemail: Annotated[str | None, AfterValidator(_voicemail)] = None
    sms: Annotated[str | None, AfterValidator(_sms)] = None


def _e164(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError(f'"{number}" is not a valid number in E.164 form, e.g. "+14155550100"')
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class CallerId(_Part):
    """The number the customer sees: one, or a pool from which the one sharing the
    customer's country (and area code, where there is one) is chosen. Empty: the site's
    ``TWILIO_FROM_NUMBER``."""

    numbers: tuple[Annotated[str, AfterValidator(_e164)], ...] = ()
    local_presence: bool = False


class Costs(_Part):
    """What a campaign spends: per contact (a call that rang or a text handed over:
    carrier and agent minutes) and per accepted offer (the discount or free month)."""

    contact: Money = 2.0
    offer: Money = 40.0


class CampaignSettings(_Part):
    calling_window: WeeklyWindow = WeeklyWindow.every_day(dt.time(8), dt.time(21))
    holidays: Holidays = Holidays()
    contact_cap: ContactCap = ContactCap()
    max_attempts: MaxAttempts = MaxAttempts()
    retry_minutes: dict[str, Minutes] = Field(default_factory=lambda: dict(_RETRY_MINUTES))
    cooldowns: Cooldowns = Cooldowns()
    exclude_open_complaints: bool = True
    abandon_target: Annotated[float, Field(gt=0.0, le=0.05)] = 0.03
    # the abandon rate is kept in windows of this length, one after another from the launch
    abandon_window_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24
    pacing: PacingMode = PacingMode.PROGRESSIVE
    ring_timeout: Annotated[int, Field(ge=10, le=60)] = 25
    machine_detection: MachineDetection = MachineDetection()
    # after this many calls that reached no one, a text instead (0: never)
    sms_after_failed_calls: Annotated[int, Field(ge=0, le=20)] = 3
    templates: Templates = Templates()
    caller_id: CallerId = CallerId()
    costs: Costs = Costs()

    @field_validator("retry_minutes")
    @classmethod
    def _known_outcomes(cls, value: dict[str, int]) -> dict[str, int]:
        known = {s.value for s in RETRIED}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"no retry for {', '.join(unknown)}; outcomes that can be retried: "
                f"{', '.join(sorted(known))}"
            )
        return value

    @classmethod
    def kind_defaults(cls, kind: CampaignKind) -> dict[str, Any]:
        """What a campaign kind changes from the defaults, and why (on CampaignKind)."""
        kind = CampaignKind(kind)
        out: dict[str, Any] = {"exclude_open_complaints": kind.excludes_open_complaints}
        if kind.is_save:  # a dropped call to one about to leave does harm
            out["abandon_target"] = 0.01
        return out

    @classmethod
    def for_kind(cls, kind: CampaignKind, own: Mapping[str, Any] | None = None) -> CampaignSettings:
        """The product's defaults for a kind with ``own`` laid over them: no site, no
        profile (``resolve`` adds those)."""
        return cls.model_validate(merged(cls.kind_defaults(kind), own or {}))

    def retry_delay_minutes(self, outcome: AttemptStatus) -> int | None:
        """Minutes before the next try after ``outcome``; None when it is not retried."""
        if outcome not in RETRIED:
            return None
        return self.retry_minutes.get(outcome.value, _RETRY_MINUTES[outcome.value])

    def as_json(self) -> dict[str, Any]:
        """Every field, JSON-safe, in the form a settings file takes."""
        out = self.model_dump(mode="json")
        out["calling_window"] = self.calling_window.as_mapping()
        return out


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` laid over ``base``: sections merge key by key, except the calling
    window, which a change names whole (a day it leaves out has no calls)."""
    out = dict(base)
    for key, value in changes.items():
        if (
            key != "calling_window"
            and isinstance(value, Mapping)
            and isinstance(out.get(key), Mapping)
        ):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
