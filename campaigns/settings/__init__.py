"""Campaign settings: what a manager controls, per campaign and site-wide (``model``),
the regulatory profiles that bound them (``profiles``), how they resolve (``resolve``)
and their versions in the store (``versions``)."""

from campaigns.settings.model import CampaignSettings, Costs, MachineAction, PacingMode
from campaigns.settings.resolve import SettingsError

__all__ = ["CampaignSettings", "Costs", "MachineAction", "PacingMode", "SettingsError"]
