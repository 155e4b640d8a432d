"""A campaign's contact policy settings: the window, holidays, caps and cooldowns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from store.models import Campaign, CampaignKind

__all__ = ["ContactPolicy"]

Days = Annotated[int, Field(gt=0, le=3660)]
Count = Annotated[int, Field(gt=0, le=1000)]


class ContactPolicy(BaseModel):
    """How a campaign may contact customers; every field has a sane default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_start: dt.time = dt.time(8, 0)
    window_end: dt.time = dt.time(21, 0)
    skip_public_holidays: bool = True
    extra_holidays: tuple[dt.date, ...] = ()
    max_contacts: Count = 3
    contact_period_days: Days = 30
    refusal_cooldown_days: Days = 90
    abandon_cooldown_hours: Annotated[int, Field(gt=0, le=3660 * 24)] = 72
    max_attempts: Count = 6
    exclude_open_complaints: bool = True

    @field_validator("window_start", "window_end")
    @classmethod
    def _wall_clock(cls, value: dt.time, info: ValidationInfo) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError(f"{info.field_name}: a local wall-clock time, without a zone")
        return value

    @field_validator("extra_holidays")
    @classmethod
    def _sorted_dates(cls, value: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _window_order(self) -> ContactPolicy:
        if not self.window_start < self.window_end:
            raise ValueError(
                f"window_start ({self.window_start:%H:%M}) must be before "
                f"window_end ({self.window_end:%H:%M}); a window cannot span midnight"
            )
        return self

    @classmethod
    def for_kind(
        cls, kind: CampaignKind, overrides: Mapping[str, Any] | None = None
    ) -> ContactPolicy:
        """Defaults for a campaign kind, then the overrides; unknown names are refused."""
        base = {"exclude_open_complaints": CampaignKind(kind).excludes_open_complaints}
        return cls.model_validate({**base, **(overrides or {})})

    @classmethod
    def of(cls, campaign: Campaign) -> ContactPolicy:
        """The policy a campaign runs under: its stored overrides on its kind's defaults."""
        return cls.for_kind(campaign.kind, campaign.policy or {})

    def as_json(self) -> dict[str, Any]:
        """Every field, JSON-safe; stored whole so later default changes leave it alone."""
        return self.model_dump(mode="json")
