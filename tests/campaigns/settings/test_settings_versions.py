"""Settings versions in the store: who changed what and when, the settings in force on
the campaign, refusals that change nothing, and site-wide changes reaching campaigns."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from campaigns.settings.resolve import SettingsError
from campaigns.settings.versions import (
    history,
    in_force,
    set_campaign_settings,
    set_site_settings,
    site_values,
)
from store.db import transaction
from store.models import Campaign, CampaignKind, CampaignStatus
from tests.dialer.dial_base import build_running_campaign

OWNED = ("+15005550006", "+12125550100", "+442079460000")


def _campaign(engine: Engine, zones: tuple[str, ...] = ("America/New_York",)) -> int:
    campaign_id, _ = build_running_campaign(engine, 2, zones=zones, name=f"c{len(zones)}")
    return campaign_id


def test_a_change_is_a_new_version_with_who_and_is_in_force_at_once(engine: Engine) -> None:
    campaign_id = _campaign(engine)
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        set_campaign_settings(session, campaign, {"contact_cap": {"contacts": 2}}, "web:ana")
        set_campaign_settings(session, campaign, {"abandon_target": 0.02}, "cli:ops")
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        settings = in_force(campaign)
        assert (settings.contact_cap.contacts, settings.abandon_target) == (2, 0.02)
        versions = history(session, campaign)
        assert [(v.version, v.changed_by) for v in versions] == [(1, "web:ana"), (2, "cli:ops")]
        # each version holds the campaign's own values after it, not the whole settings
        assert versions[-1].values == {"contact_cap": {"contacts": 2}, "abandon_target": 0.02}
        assert campaign.settings_version == 2
        # a key set to null goes back to the default
        set_campaign_settings(session, campaign, {"abandon_target": None}, "cli:ops")
        assert in_force(campaign).abandon_target == 0.03


def test_a_refused_change_leaves_everything_as_it_was(engine: Engine) -> None:
    campaign_id = _campaign(engine, ("Europe/London",))  # a UK list: Ofcom's limits
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        set_campaign_settings(session, campaign, {"contact_cap": {"contacts": 2}}, "web:ana")
    for bad, field in (
        ({"abandon_window_hours": 48}, "abandon_window_hours"),
        ({"calling_window": {"mon": "21:00-08:00"}}, "calling_window"),
        ({"contact_cap": {"contacts": 0}}, "contact_cap.contacts"),
        ({"calling_window": {"monday": "09:00-17:00"}}, "calling_window"),
        ({"caller_id": {"numbers": ["+13125550100"]}}, "caller_id.numbers"),
    ):
        with pytest.raises(SettingsError) as refused:
            _set_own(engine, campaign_id, bad)
        assert field in [name for name, _ in refused.value.problems]
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        assert campaign.settings_version == 1
        assert len(history(session, campaign)) == 1
        assert in_force(campaign).contact_cap.contacts == 2


def _set_own(engine: Engine, campaign_id: int, changes: dict[str, object]) -> None:
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        set_campaign_settings(session, campaign, changes, "web:ana", owned_numbers=OWNED)


def test_an_owned_caller_id_is_taken(engine: Engine) -> None:
    campaign_id = _campaign(engine)
    pool = {"caller_id": {"numbers": ["+12125550100"], "local_presence": True}}
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        settings = set_campaign_settings(session, campaign, pool, "web:ana", owned_numbers=OWNED)
    assert settings.caller_id.numbers == ("+12125550100",)


def test_a_site_change_reaches_every_live_campaign_as_a_version_of_its_own(
    engine: Engine,
) -> None:
    live = _campaign(engine)
    done, _ = build_running_campaign(engine, 1, name="done list", first=50)
    with transaction(engine) as session:
        session.get_one(Campaign, done).status = CampaignStatus.COMPLETED
        before_done = dict(session.get_one(Campaign, done).settings)
        set_site_settings(session, {"costs": {"contact": 1.5}, "contact_cap": {"days": 14}}, "ops")
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, live)
        assert (in_force(campaign).costs.contact, in_force(campaign).contact_cap.days) == (1.5, 14)
        assert [v.changed_by for v in history(session, campaign)] == ["ops (site-wide)"]
        # a finished campaign keeps what it ran under
        assert session.get_one(Campaign, done).settings == before_done
        assert [v.changed_by for v in history(session, None)] == ["ops"]
        assert site_values(session) == {"costs": {"contact": 1.5}, "contact_cap": {"days": 14}}


def test_a_site_change_a_campaign_could_not_run_under_is_refused_naming_it(
    engine: Engine,
) -> None:
    us = _campaign(engine)
    early = {"calling_window": {"mon-sun": "07:30-20:00"}}
    with transaction(engine) as session:
        set_site_settings(session, {"regulatory_profiles": {"US": "default"}}, "ops")
        campaign = session.get_one(Campaign, us)
        set_campaign_settings(session, campaign, early, "web:ana")
        name = campaign.name
    tcpa = {"regulatory_profiles": {"US": "us"}}
    with pytest.raises(SettingsError, match=f"campaign '{name}': calling_window.*TCPA"):
        _set_site(engine, tcpa)
    with transaction(engine) as session:
        assert len(history(session, None)) == 1
        assert in_force(session.get_one(Campaign, us)).calling_window.days[0] is not None
    # site defaults must suit every profile the site uses, an unplanned campaign's case
    with pytest.raises(SettingsError, match="Ofcom"):
        _set_site(engine, {"abandon_window_hours": 72})


def _set_site(engine: Engine, changes: dict[str, object]) -> None:
    with transaction(engine) as session:
        set_site_settings(session, changes, "ops")


def test_an_unknown_profile_or_country_is_refused(engine: Engine) -> None:
    with pytest.raises(SettingsError) as refused:
        _set_site(engine, {"regulatory_profiles": {"GB": "ofcom", "usa": "us"}})
    fields = dict(refused.value.problems)
    assert "no profile 'ofcom'" in fields["regulatory_profiles.GB"]
    assert "two-letter" in fields["regulatory_profiles.usa"]
    with transaction(engine) as session:
        assert not session.scalars(
            select(Campaign).where(Campaign.kind == CampaignKind.UP_SELL)
        ).all()
