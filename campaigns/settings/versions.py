"""Settings versions in the store: who changed what and when, and the settings in force.

Each change adds a ``settings_versions`` row holding the scope's own values after it
(the site's, or one campaign's: only the keys set there). The settings a campaign runs
under are resolved at each change (its own, the site's, a change of the site's) and
kept whole on ``campaigns.settings`` with their version number, so the planner and the
dialer read them with the campaign, and a change is in force from the next decision.
Finished campaigns keep theirs: what they did is never judged again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.settings.model import CampaignSettings, merged
from campaigns.settings.resolve import (
    SITE_ONLY,
    SettingsError,
    check_site_profiles,
    resolve,
    validated,
)
from store.audit import Actor, AuditAction, record
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Customer,
    ListEntry,
    SettingsVersion,
)

__all__ = [
    "SITE",
    "apply_site",
    "change_settings",
    "countries_of",
    "history",
    "in_force",
    "own_values",
    "resolve_for",
    "set_campaign_settings",
    "set_site_settings",
    "settings_of",
    "site_values",
]

SITE = "site"
_LIVE = (CampaignStatus.PLANNED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def in_force(campaign: Campaign) -> CampaignSettings:
    """The settings a campaign runs under now (a campaign without any: the defaults)."""
    return settings_of(campaign.kind, campaign.settings_version, campaign.settings)


def settings_of(
    kind: CampaignKind, version: int, values: Mapping[str, Any] | None
) -> CampaignSettings:
    """``in_force`` from a campaign's columns, as read without loading the campaign."""
    if not values:
        return resolve(kind, {}, {})
    return _parsed(json.dumps(values, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _parsed(values: str) -> CampaignSettings:
    # the dialer reads a campaign's settings before every contact: parsed once a version
    return CampaignSettings.model_validate(json.loads(values))


def site_values(session: Session) -> dict[str, Any]:
    return _latest(session, SITE)


def own_values(session: Session, campaign: Campaign) -> dict[str, Any]:
    return _latest(session, _scope(campaign.id))


def countries_of(session: Session, campaign_id: int) -> set[str]:
    query = (
        select(Customer.country)
        .join(ListEntry, ListEntry.customer_id == Customer.id)
        .where(ListEntry.campaign_id == campaign_id)
        .distinct()
    )
    return {country.upper() for country in session.scalars(query)}


def resolve_for(
    session: Session,
    kind: CampaignKind,
    own: Mapping[str, Any],
    countries: Collection[str] = (),
    site: Mapping[str, Any] | None = None,
) -> CampaignSettings:
    return resolve(kind, site_values(session) if site is None else site, own, countries)


def set_campaign_settings(
    session: Session,
    campaign: Campaign,
    changes: Mapping[str, Any],
    actor: str,
    owned_numbers: Collection[str] | None = None,
) -> CampaignSettings:
    """Lay ``changes`` over the campaign's own settings (a key set to None goes back to
    the default); refused whole, naming each field, when the result cannot be used."""
    if SITE_ONLY in changes:
        raise SettingsError([(SITE_ONLY, "a site-wide setting: set it without a campaign")])
    own = _applied(own_values(session, campaign), changes)
    countries = countries_of(session, campaign.id)
    settings = resolve_for(session, campaign.kind, own, countries)
    _check_caller_ids(settings, owned_numbers)
    version = _record(session, _scope(campaign.id), campaign.id, own, actor)
    _put(campaign, settings, version)
    return settings


def set_site_settings(
    session: Session,
    changes: Mapping[str, Any],
    actor: str,
    owned_numbers: Collection[str] | None = None,
) -> CampaignSettings:
    """Change the site-wide settings; every campaign not finished is resolved again and
    the change is refused, naming the campaign, when one of them could not run under it."""
    site = _applied(site_values(session), changes)
    if SITE_ONLY in site:
        problems = check_site_profiles(site[SITE_ONLY])
        if problems:
            raise SettingsError(problems)
    validated({k: v for k, v in site.items() if k != SITE_ONLY})
    defaults = resolve(CampaignKind.CROSS_SELL, site, {})
    _check_caller_ids(defaults, owned_numbers)
    resolved = apply_site(session, site)
    _record(session, SITE, None, site, actor)
    for campaign, settings in resolved:
        # a version of its own too, so that an attempt's version names what it ran under
        own = own_values(session, campaign)
        scope = _scope(campaign.id)
        _put(campaign, settings, _record(session, scope, campaign.id, own, f"{actor} (site-wide)"))
    return defaults


def apply_site(
    session: Session, site: Mapping[str, Any]
) -> list[tuple[Campaign, CampaignSettings]]:
    """Every campaign not finished with its settings under ``site``; SettingsError names
    the first that cannot run under it."""
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.status.in_(_LIVE))):
        own = own_values(session, campaign)
        try:
            settings = resolve(campaign.kind, site, own, countries_of(session, campaign.id))
        except SettingsError as exc:
            raise SettingsError(exc.problems, where=f"campaign {campaign.name!r}: ") from None
        out.append((campaign, settings))
    return out


def change_settings(
    session: Session,
    campaign: Campaign | None,
    changes: Mapping[str, Any],
    actor: Actor,
    owned_numbers: Collection[str] | None = None,
) -> int:
    """A change by ``actor`` to a campaign's settings (None: the site's), on the audit
    trail in the same transaction; the version now in force. SettingsError when refused."""
    if campaign is None:
        set_site_settings(session, changes, actor.label, owned_numbers)
        version = history(session, None)[-1].version
        target: tuple[str, int | str] = ("settings", SITE)
    else:
        set_campaign_settings(session, campaign, changes, actor.label, owned_numbers)
        version, target = campaign.settings_version, ("campaign", campaign.id)
    detail = {"version": version, "keys": ",".join(sorted(changes))}
    record(session, actor, AuditAction.SETTINGS_CHANGE, target=target, detail=detail)
    return version


def history(session: Session, campaign: Campaign | None) -> list[SettingsVersion]:
    scope = SITE if campaign is None else _scope(campaign.id)
    query = select(SettingsVersion).where(SettingsVersion.scope == scope)
    return list(session.scalars(query.order_by(SettingsVersion.version)))


def _applied(own: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = merged(own, {k: v for k, v in changes.items() if v is not None})
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
    return out


def _check_caller_ids(settings: CampaignSettings, owned: Collection[str] | None) -> None:
    if owned is None:
        return
    foreign = [n for n in settings.caller_id.numbers if n not in set(owned)]
    if foreign:
        raise SettingsError(
            [("caller_id.numbers", f"{', '.join(foreign)}: not a number the account owns")]
        )


def _record(
    session: Session, scope: str, campaign_id: int | None, values: Mapping[str, Any], actor: str
) -> int:
    last = session.scalar(
        select(func.max(SettingsVersion.version)).where(SettingsVersion.scope == scope)
    )
    version = (last or 0) + 1
    session.add(
        SettingsVersion(
            scope=scope,
            campaign_id=campaign_id,
            version=version,
            values=dict(values),
            changed_by=actor,
        )
    )
    session.flush()
    return version


def _put(campaign: Campaign, settings: CampaignSettings, version: int) -> None:
    campaign.settings = settings.as_json()
    campaign.settings_version = version


def _latest(session: Session, scope: str) -> dict[str, Any]:
    row = session.scalar(
        select(SettingsVersion.values)
        .where(SettingsVersion.scope == scope)
        .order_by(SettingsVersion.version.desc())
        .limit(1)
    )
    return dict(row or {})


def _scope(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"
