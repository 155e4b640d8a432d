"""The settings API's bodies, derived from the settings model so that the document
cannot drift from what a settings file takes: a change names any keys of
``CampaignSettings`` (each optional, ``null`` back to the default), the calling window
in the file's form (``{"mon-fri": "09:00-20:00", "sun": null}``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from campaigns.settings.model import CampaignSettings
from campaigns.settings.profiles import PROFILES

__all__ = [
    "SettingsChange",
    "SettingsChanges",
    "SettingsRefused",
    "SettingsView",
    "SiteSettingsChanges",
]

_WINDOW = (
    dict[str, str | None] | None,
    Field(
        default=None,
        description='Weekdays one by one or as a range, "HH:MM-HH:MM" or null for no calls; '
        "given whole: a day left out has no calls.",
    ),
)


def _optional(annotation: Any) -> Any:
    return annotation | None


_CHANGE_FIELDS: dict[str, Any] = {
    name: (_optional(field.annotation), Field(default=None, description=field.description))
    for name, field in CampaignSettings.model_fields.items()
}
# the profile names a country may take, as a JSON schema enum
_PROFILE: Any = Literal.__getitem__(tuple(PROFILES))
_CHANGE_FIELDS["calling_window"] = _WINDOW
_FORBID = ConfigDict(extra="forbid")

SettingsChanges = create_model(
    "SettingsChanges",
    __config__=_FORBID,
    __doc__="A campaign's settings to change, in a settings file's form: only the keys "
    "given (a section merges key by key); null sends a key back to the default.",
    **_CHANGE_FIELDS,
)
SiteSettingsChanges = create_model(
    "SiteSettingsChanges",
    __config__=_FORBID,
    __doc__="The site-wide settings to change: a campaign's keys, and the regulatory "
    "profile of each country.",
    regulatory_profiles=(
        _optional(dict[str, _PROFILE]),
        Field(default=None, description="Country (ISO alpha-2) -> profile, e.g. {US: us}."),
    ),
    **_CHANGE_FIELDS,
)


class SettingsChange(BaseModel):
    version: int
    changed_by: str = Field(
        description='"web:NAME" or "cli:NAME"; "(site-wide)" after it '
        "when a change of the site's settings made it."
    )
    changed_at: str
    changed: dict[str, Any] = Field(
        description="Each key this version set to its new own value; null: back to the default."
    )


class SettingsView(BaseModel):
    campaign: str | None = Field(description="None: the site-wide settings.")
    version: int = Field(description="The version in force; 0: the defaults, never changed.")
    changed_by: str | None
    changed_at: str | None
    settings: dict[str, Any] = Field(description="Every key in force, in a settings file's form.")
    history: list[SettingsChange] = Field(description="Every version, newest first.")


class SettingsRefused(BaseModel):
    """A change refused whole: nothing was stored."""

    error: Literal["invalid"]
    message: str
    errors: dict[str, str] = Field(description="Each field at fault and the rule it breaks.")
