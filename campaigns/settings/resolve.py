"""Settings in force: the defaults, the campaign kind's, the regulatory profile's, the
site's and the campaign's own, laid over one another and checked as one."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from campaigns.errors import CampaignError
from campaigns.settings.model import CampaignSettings, merged
from campaigns.settings.profiles import (
    DEFAULT_PROFILES,
    PROFILES,
    Problem,
    RegulatoryProfile,
    profile_problems,
)
from store.models import CampaignKind

__all__ = ["SITE_ONLY", "SettingsError", "profiles_for", "resolve", "site_profiles"]

# keys only the site-wide settings take: which profile each country's customers fall under
SITE_ONLY = "regulatory_profiles"


class SettingsError(CampaignError):
    """Settings that cannot be used; ``problems`` names each field and the rule."""

    def __init__(self, problems: Iterable[Problem], where: str = "") -> None:
        self.problems = list(problems)
        self.where = where  # whose settings could not run, e.g. "campaign 'x': "
        said = "; ".join(f"{name}: {reason}" for name, reason in self.problems)
        super().__init__(f"{where}{said}" if where else said)


def resolve(
    kind: CampaignKind,
    site: Mapping[str, Any],
    own: Mapping[str, Any],
    countries: Collection[str] = (),
) -> CampaignSettings:
    """The settings a campaign of ``kind`` runs under; ``countries`` are those of its
    customers (none known yet: every country the site maps to a profile)."""
    profiles = profiles_for(site, countries)
    layers: list[Mapping[str, Any]] = [CampaignSettings.kind_defaults(kind)]
    if len(profiles) == 1:
        layers.append(profiles[0].defaults)
    layers += [{k: v for k, v in site.items() if k != SITE_ONLY}, own]
    values: dict[str, Any] = {}
    for layer in layers:
        values = merged(values, layer)
    settings = validated(values)
    problems = profile_problems(settings, profiles)
    if problems:
        raise SettingsError(problems)
    return settings


def validated(values: Mapping[str, Any]) -> CampaignSettings:
    try:
        return CampaignSettings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_said(error) for error in exc.errors()) from None


def site_profiles(site: Mapping[str, Any]) -> dict[str, str]:
    """Country (ISO 3166 alpha-2) -> profile name, as the site chose."""
    # a site names the countries it maps otherwise; the others keep their regulator's
    return {**DEFAULT_PROFILES, **(site.get(SITE_ONLY) or {})}


def profiles_for(site: Mapping[str, Any], countries: Collection[str]) -> list[RegulatoryProfile]:
    chosen = site_profiles(site)
    names = (
        {chosen.get(c.upper(), "default") for c in countries} if countries else set(chosen.values())
    )
    return [PROFILES[name] for name in sorted(names or {"default"})]


def check_site_profiles(value: Any) -> list[Problem]:
    """Problems with a site's ``regulatory_profiles`` mapping."""
    if not isinstance(value, Mapping):
        return [(SITE_ONLY, "a mapping of country code to profile, e.g. {US: us, GB: uk}")]
    problems = []
    for country, name in value.items():
        if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
            problems.append((f"{SITE_ONLY}.{country}", "a two-letter country code, e.g. PL"))
        elif name not in PROFILES:
            problems.append(
                (f"{SITE_ONLY}.{country}", f"no profile {name!r}: choose {', '.join(PROFILES)}")
            )
    return problems


def _said(error: Any) -> Problem:
    """One of pydantic's errors, as a field path and the rule broken."""
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    name = ".".join(loc) or "settings"
    if error["type"] == "extra_forbidden":
        return name, 'not a setting: README "Campaign settings" lists every key'
    message = str(error["msg"]).removeprefix("Value error, ")
    return name, message
