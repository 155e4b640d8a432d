"""Campaign and site-wide settings as the manager's pages and the JSON API show and change
them: the settings in force with their version, who changed them last and when, and the
history, each version with the keys it changed.

The functions take a store session (they run on the store gateway's thread); the
settings themselves, their checks and their versions are ``campaigns.settings``'s.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.errors import CampaignNotFoundError
from campaigns.settings.resolve import SITE_ONLY, resolve, site_profiles
from campaigns.settings.versions import (
    change_settings as audited_change,
)
from campaigns.settings.versions import (
    history,
    in_force,
    site_values,
)
from store.audit import Actor
from store.models import Campaign, CampaignKind, SettingsVersion

__all__ = ["change_settings", "names_caller_ids", "settings_view"]

# the site's settings are shown as a campaign with no kind of its own would take them
_SITE_KIND = CampaignKind.CROSS_SELL


def settings_view(session: Session, name: str | None) -> dict[str, Any]:
    """The settings in force for campaign ``name`` (None: the site's), every key in the
    settings file's form, with the version, its author and time, and the history."""
    if name is None:
        site = site_values(session)
        values = resolve(_SITE_KIND, site, {}).as_json()
        values[SITE_ONLY] = site_profiles(site)
        versions = history(session, None)
        version = versions[-1].version if versions else 0
    else:
        campaign = _campaign(session, name)
        values, version = in_force(campaign).as_json(), campaign.settings_version
        versions = history(session, campaign)
    rows = _history_rows(versions)
    last = next((row for row in rows if row["version"] == version), None)
    return {
        "campaign": name,
        "version": version,
        "changed_by": last["changed_by"] if last else None,
        "changed_at": last["changed_at"] if last else None,
        "settings": values,
        "history": rows[::-1],  # newest first, as a manager reads it
    }


def change_settings(
    session: Session,
    name: str | None,
    changes: Mapping[str, Any],
    actor: Actor,
    owned_numbers: Collection[str] | None,
) -> int:
    """Apply ``changes`` to campaign ``name`` (None: the site); the version now in force.
    SettingsError names each field when the change is refused (nothing is stored)."""
    campaign = None if name is None else _campaign(session, name)
    return audited_change(session, campaign, changes, actor, owned_numbers)


def names_caller_ids(changes: Mapping[str, Any]) -> bool:
    """Whether a change sets caller ID numbers: those must be checked with the carrier."""
    caller = changes.get("caller_id")
    return isinstance(caller, Mapping) and bool(caller.get("numbers"))


def _campaign(session: Session, name: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if campaign is None:
        raise CampaignNotFoundError(name)
    return campaign


def _history_rows(versions: list[SettingsVersion]) -> list[dict[str, Any]]:
    """Each version with what it changed from the one before: each key's new own value,
    None where the key went back to the default."""
    rows: list[dict[str, Any]] = []
    before: dict[str, Any] = {}
    for row in versions:
        values = dict(row.values)
        changed = {
            key: values.get(key)
            for key in sorted(set(before) | set(values))
            if before.get(key) != values.get(key)
        }
        rows.append(
            {
                "version": row.version,
                "changed_by": row.changed_by,
                "changed_at": row.changed_at.isoformat(timespec="seconds"),
                "changed": changed,
            }
        )
        before = values
    return rows
