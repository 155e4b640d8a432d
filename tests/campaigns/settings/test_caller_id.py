"""The caller ID a customer sees: one number, or the local one from a pool."""

from __future__ import annotations

import pytest

from campaigns.settings.caller_id import caller_id_for
from campaigns.settings.model import CallerId

POOL = ("+12125550100", "+13125550100", "+442079460000", "+48221234567")


@pytest.mark.parametrize(
    ("to", "shown"),
    [
        ("+12125550199", "+12125550100"),  # New York: the 212 number
        ("+13125550142", "+13125550100"),  # Chicago: the 312 number
        ("+14155550142", "+12125550100"),  # San Francisco: no 415 in the pool, a US one
        ("+442079460123", "+442079460000"),  # London
        ("+447911123456", "+442079460000"),  # a UK mobile: no area, a UK number
        ("+48601234567", "+48221234567"),  # a Polish mobile
        ("+37061234567", "+12125550100"),  # Lithuania: none there, the pool's first
    ],
)
def test_local_presence_shows_the_pool_number_nearest_the_customer(to: str, shown: str) -> None:
    assert caller_id_for(CallerId(numbers=POOL, local_presence=True), to, "+15005550006") == shown


def test_without_local_presence_the_first_number_and_without_a_pool_the_sites() -> None:
    assert caller_id_for(CallerId(numbers=POOL), "+442079460123", "+15005550006") == POOL[0]
    assert caller_id_for(CallerId(), "+442079460123", "+15005550006") == "+15005550006"
    # numbers are kept in E.164 whatever the spacing they were written with
    assert CallerId(numbers=("+44 20 7946 0000",)).numbers == ("+442079460000",)
