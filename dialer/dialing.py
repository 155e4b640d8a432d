"""How the dialer works a campaign's list: pacing, retries, voicemail and SMS fallback.

One pydantic object per campaign, stored whole on ``campaigns.dialing`` (like the contact
policy on ``campaigns.policy``), with defaults per kind. The contact policy decides
whether a contact may be made at all; these settings decide how hard to try.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dialer.pacing import PacingMode, PacingSettings
from store.models import AttemptStatus, Campaign, CampaignKind

__all__ = ["RETRIED", "DialingSettings"]

S = AttemptStatus
Minutes = Annotated[int, Field(gt=0, le=60 * 24 * 30)]
# call outcomes worth another try, after the campaign's delay for that outcome
RETRIED = (S.BUSY, S.NO_ANSWER, S.MACHINE, S.FAILED, S.CANCELED)
_RETRY_MINUTES = {
    S.BUSY.value: 20,
    S.NO_ANSWER.value: 120,
    S.MACHINE.value: 240,
    S.FAILED.value: 60,
    S.CANCELED.value: 30,
}


class DialingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: PacingMode = PacingMode.PROGRESSIVE
    abandon_target: Annotated[float, Field(gt=0.0, le=0.03)] = 0.03
    ring_timeout: Annotated[int, Field(ge=10, le=60)] = 25
    machine_detection: bool = True
    voicemail: bool = True
    retry_minutes: dict[str, Minutes] = Field(default_factory=lambda: dict(_RETRY_MINUTES))
    # after this many calls that reached no one, a text instead (0: never)
    sms_after_failed_calls: Annotated[int, Field(ge=0, le=20)] = 3

    @field_validator("retry_minutes")
    @classmethod
    def _known_outcomes(cls, value: dict[str, int]) -> dict[str, int]:
        known = {s.value for s in RETRIED}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"retry_minutes: no retry for {', '.join(unknown)}; "
                f"outcomes that can be retried: {', '.join(sorted(known))}"
            )
        return value

    @classmethod
    def for_kind(
        cls, kind: CampaignKind, overrides: Mapping[str, Any] | None = None
    ) -> DialingSettings:
        base: dict[str, Any] = {}
        if CampaignKind(kind).is_save:  # a dropped call to one about to leave does harm
            base["abandon_target"] = 0.01
        return cls.model_validate({**base, **(overrides or {})})

    @classmethod
    def of(cls, campaign: Campaign) -> DialingSettings:
        """The campaign's stored settings; its ``pacing`` column names the mode."""
        return cls.of_values(campaign.kind, campaign.pacing, campaign.dialing)

    @classmethod
    def of_values(
        cls, kind: CampaignKind, pacing: str | None, dialing: Mapping[str, Any] | None
    ) -> DialingSettings:
        """``of`` from the campaign's columns, as read without loading the campaign."""
        stored = {"mode": pacing or PacingMode.PROGRESSIVE.value}
        return cls.for_kind(kind, {**stored, **(dialing or {})})

    def retry_delay_minutes(self, outcome: AttemptStatus) -> int | None:
        """Minutes before the next try after ``outcome``; None when it is not retried."""
        if outcome not in RETRIED:
            return None
        return self.retry_minutes.get(outcome.value, _RETRY_MINUTES[outcome.value])

    def pacing(self) -> PacingSettings:
        return PacingSettings(
            mode=self.mode,
            abandon_target=self.abandon_target,
            ring_timeout=float(self.ring_timeout),
        )

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
