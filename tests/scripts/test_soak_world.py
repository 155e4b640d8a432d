"""The soak's lists run under settings drawn from its seed: the same seed, the same
settings; every draw one the product takes and the soak's first day can dial under."""

from __future__ import annotations

import datetime as dt
import random

from campaigns.settings.model import CampaignSettings
from campaigns.settings.resolve import resolve
from scripts.soak_checks import Rules
from scripts.soak_world import LISTS, ZONES, draw_settings

SUNDAY = dt.date(2026, 11, 1)


def _draws(seed: int, n: int = 50) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [draw_settings(rng, SUNDAY) for _ in range(n)]


def test_the_same_seed_draws_the_same_settings_and_another_seed_others() -> None:
    assert _draws(7) == _draws(7)
    assert _draws(7) != _draws(8)


def test_every_draw_is_within_its_bounds_and_the_first_day_dials() -> None:
    spacing = Rules().spacing
    closed_days = 0
    for own in _draws(7, 200):
        settings = CampaignSettings.model_validate(own)
        sunday = settings.calling_window.on(SUNDAY)
        assert sunday is not None
        for window in settings.calling_window.days:
            if window is None:
                closed_days += 1
                continue
            assert dt.time(8) <= window.start <= dt.time(11)
            assert dt.time(17) <= window.end <= dt.time(21)
        assert 2 <= settings.contact_cap.contacts <= 4
        assert 7 <= settings.contact_cap.days <= 30
        assert 1 <= settings.max_attempts.per_day <= 3
        assert settings.max_attempts.per_day <= settings.max_attempts.total <= 6
        assert min(settings.retry_minutes.values()) >= spacing.total_seconds() / 60
    assert closed_days > 0  # some lists rest on some days


def test_every_draw_passes_the_regulatory_profiles_of_the_soaks_countries() -> None:
    countries = {country for country, *_ in ZONES}
    for own in _draws(3, 30):
        for _, kind, pacing, target in LISTS:
            settings = resolve(
                kind, {}, {**own, "pacing": pacing, "abandon_target": target}, countries
            )
            assert settings.max_attempts.total == own["max_attempts"]["total"]  # type: ignore[index]
