"""The campaign settings the dialer's pacing reads, in the form ``dialer.pacing`` takes."""

from __future__ import annotations

from campaigns.settings.model import CampaignSettings
from dialer.pacing import PacingSettings

__all__ = ["pacing_settings"]


def pacing_settings(settings: CampaignSettings) -> PacingSettings:
    return PacingSettings(
        mode=settings.pacing,
        abandon_target=settings.abandon_target,
        ring_timeout=float(settings.ring_timeout),
        measuring_window_seconds=settings.abandon_window_hours * 3600.0,
    )
