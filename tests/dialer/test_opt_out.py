"""STOP, START and HELP by SMS, and what the contact policy makes of them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from campaigns.policy.check import check_contact
from campaigns.settings.model import CampaignSettings
from dialer.opt_out import Keyword, apply_keyword, keyword_of
from store.db import transaction
from store.models import (
    CampaignKind,
    Channel,
    Customer,
    CustomerType,
    DncChannel,
    DncEntry,
    ExclusionReason,
)

PHONE = "+12125550142"
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop. ", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("STOPALL", Keyword.STOP),
        ("quit!", Keyword.STOP),
        ("start", Keyword.START),
        ("UNSTOP", Keyword.START),
        ("yes", Keyword.START),
        ("Help", Keyword.HELP),
        ("please stop calling me", None),
        ("", None),
    ],
)
def test_keywords_are_whole_messages(body: str, keyword: Keyword | None) -> None:
    assert keyword_of(body) is keyword


def _customer(engine: Engine) -> int:
    with transaction(engine) as session:
        customer = Customer(
            external_id="C1",
            name="Jo Bloggs",
            phone=PHONE,
            country="US",
            timezone="America/New_York",
            customer_type=CustomerType.B2C,
            sms_consent=True,
        )
        session.add(customer)
        session.flush()
        return customer.id


def _reply(engine: Engine, body: str, now: dt.datetime = NOW) -> tuple[bool, str | None]:
    with transaction(engine) as session:
        reply = apply_keyword(
            session, PHONE, body, now=now, company="Telco", care_phone="+1 800 555 0100"
        )
    return reply.changed, reply.text


def _sms_verdict(engine: Engine, customer_id: int) -> ExclusionReason | None:
    with transaction(engine) as session:
        verdict = check_contact(
            session,
            CampaignSettings.for_kind(CampaignKind.ANTI_CHURN),
            customer_id=customer_id,
            channel=Channel.SMS,
            kind=CampaignKind.ANTI_CHURN,
            now=NOW,
        )
    return verdict.reason


def test_stop_opts_out_at_once_and_start_opts_back_in(engine: Engine) -> None:
    cid = _customer(engine)
    assert _sms_verdict(engine, cid) is None
    changed, text = _reply(engine, "Stop")
    assert changed
    assert text is not None
    assert "START" in text
    assert _sms_verdict(engine, cid) is ExclusionReason.OPTED_OUT
    assert _reply(engine, "STOP")[0] is False  # already out
    changed, text = _reply(engine, "start", NOW + dt.timedelta(minutes=5))
    assert changed
    assert _sms_verdict(engine, cid) is None
    with engine.connect() as conn:
        row = conn.execute(select(DncEntry.source, DncEntry.revoked_at)).one()
    assert row.source == "sms_reply"
    assert row.revoked_at == NOW + dt.timedelta(minutes=5)
    assert _reply(engine, "STOPALL")[0] is True  # out again, on the same row
    assert _sms_verdict(engine, cid) is ExclusionReason.OPTED_OUT


def test_help_answers_and_changes_nothing(engine: Engine) -> None:
    _customer(engine)
    changed, text = _reply(engine, "HELP")
    assert not changed
    assert (
        text == "Telco: customer care +1 800 555 0100. Reply STOP to stop texts, START to restart."
    )
    assert _reply(engine, "when is my bill due?") == (False, None)
    with engine.connect() as conn:
        assert conn.execute(select(DncEntry.id)).first() is None


def test_start_does_not_reopen_a_number_blocked_on_every_channel(engine: Engine) -> None:
    cid = _customer(engine)
    with transaction(engine) as session:
        session.add(DncEntry(phone=PHONE, channel=DncChannel.ALL, source="registry"))
    changed, _ = _reply(engine, "START")
    assert not changed
    assert _sms_verdict(engine, cid) is ExclusionReason.OPTED_OUT
