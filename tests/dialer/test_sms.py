"""SMS texts: encoding and segment counts at the boundaries, and the per-kind templates."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from dialer.sms import OPT_OUT_LINE, SMS_KINDS, SmsBody, measure, render_sms
from store.models import CampaignKind


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 153 * 2, "GSM-7", 2),
        ("a" * (154 + 153), "GSM-7", 3),
        ("a" * 159 + "€", "GSM-7", 2),  # € is an extension character: two units
        ("a" * 158 + "{", "GSM-7", 1),
        ("a" * 159 + "{", "GSM-7", 2),
        ("a" * 152 + "[" + "a" * 153, "GSM-7", 3),  # an escape pair is never split
        ("é" * 160, "GSM-7", 1),  # in the basic table
        ("ж" * 70, "UCS-2", 1),
        ("ж" * 71, "UCS-2", 2),
        ("ж" * 67 * 2, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
        ("a" * 68 + "🙂", "UCS-2", 1),  # a surrogate pair: two units
        ("a" * 69 + "🙂", "UCS-2", 2),
        ("ok 🙂", "UCS-2", 1),
        ("ê", "UCS-2", 1),  # not in the GSM alphabet
    ],
)
def test_segments_at_the_boundaries(text: str, encoding: str, segments: int) -> None:
    body = measure(text)
    assert (body.encoding, body.segments) == (encoding, segments)
    assert body.text == text
    assert body.characters == len(text)


def test_extension_characters_count_double() -> None:
    assert measure("€" * 80) == SmsBody("€" * 80, "GSM-7", 1, 80)
    assert measure("€" * 81).segments == 2
    assert measure("{" * 80).segments == 1


def test_an_empty_text_is_nothing_to_send() -> None:
    assert measure("") == SmsBody("", "GSM-7", 0, 0)


def test_there_is_a_template_per_campaign_kind() -> None:
    assert set(SMS_KINDS) == {kind.value for kind in CampaignKind}


OFFERS = [
    None,
    "Loyalty discount: 15% for 6 months",
    "Fresh start: priority support and three months at half price",
    "Three-month service check: is everything working?",
]


@pytest.mark.parametrize("kind", SMS_KINDS)
@pytest.mark.parametrize("offer", OFFERS)
def test_every_template_renders_as_a_short_plain_text(kind: str, offer: str | None) -> None:
    body = render_sms(
        kind,
        company="Northwind Communications",
        first_name="Alexandra",
        callback_number="+44 20 7946 0958",
        offer=offer,
        opt_out=OPT_OUT_LINE,
    )
    assert body.encoding == "GSM-7"
    assert body.segments <= 2
    assert body.text.endswith(OPT_OUT_LINE)
    assert "Alexandra" in body.text
    assert "+44 20 7946 0958" in body.text
    assert "\n" not in body.text
    assert "  " not in body.text
    assert ".." not in body.text
    assert "?." not in body.text
    if offer is not None:
        assert offer in body.text
    assert body == measure(body.text)


@pytest.mark.parametrize("kind", SMS_KINDS)
def test_a_missing_field_raises(kind: str) -> None:
    with pytest.raises(UndefinedError, match="callback_number"):
        render_sms(kind, company="Northwind", first_name="Sam", offer=None, opt_out=OPT_OUT_LINE)


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known kinds: anti-churn, cross-sell") as raised:
        render_sms("newsletter", company="Northwind")
    assert all(kind in str(raised.value) for kind in SMS_KINDS)


def test_fields_are_not_escaped() -> None:
    body = render_sms(
        "cross-sell",
        company="Smith & Sons",
        first_name="Sam",
        callback_number="0800 000 000",
        offer="TV <HD> pack",
        opt_out=OPT_OUT_LINE,
    )
    assert "Smith & Sons" in body.text
    assert "TV <HD> pack." in body.text


@pytest.mark.parametrize("kind", SMS_KINDS)
@pytest.mark.parametrize("first_name", [None, ""])
def test_a_customer_without_a_first_name_gets_a_plain_greeting(
    kind: str, first_name: str | None
) -> None:
    body = render_sms(
        kind,
        company="Northwind",
        first_name=first_name,
        callback_number="0800 000 000",
        offer=None,
        opt_out=OPT_OUT_LINE,
    )
    assert body.text.startswith("Northwind: Hi, we tried to call you")
    assert "None" not in body.text
