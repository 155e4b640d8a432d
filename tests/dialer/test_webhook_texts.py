"""The text webhooks: a text's delivery status, and texts in: STOP opts out of texts at
once, START opts back in, HELP answers."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.policy.check import check_contact
from campaigns.settings.model import CampaignSettings
from store.models import (
    Attempt,
    CampaignKind,
    Channel,
    DncChannel,
    DncEntry,
    InboundMessage,
    ListEntry,
)
from tests.dialer.webhook_client import NOON, Hooks, S, Scenario, _attempt


def test_a_text_status_for_another_message_or_after_the_outcome_changes_nothing(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        call_id = h.store(lambda s: _attempt(s, h.campaign_id))
        sid = "SM" + "5" * 32

        def text(session: Session) -> int:
            call = session.get(Attempt, call_id)
            assert call is not None
            attempt = Attempt(
                campaign_id=call.campaign_id,
                list_entry_id=call.list_entry_id,
                customer_id=call.customer_id,
                channel=Channel.SMS,
                phone=call.phone,
                status=S.QUEUED,
                provider_sid=sid,
                created_at=NOON,
                started_at=NOON,
            )
            session.add(attempt)
            session.flush()
            return attempt.id

        text_id = h.store(text)
        path = f"/twilio/sms/status?attempt={text_id}"
        other = {"MessageSid": "SM" + "6" * 32, "MessageStatus": "undelivered", "ErrorCode": "1"}
        assert (await h.post(path, other))[0] == 204
        assert h.store(lambda s: s.get(Attempt, text_id)).status is S.QUEUED
        assert (await h.post(path, {"MessageSid": sid, "MessageStatus": "delivered"}))[0] == 204
        replay = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30003"}
        assert (await h.post(path, replay))[0] == 204
        attempt = h.store(lambda s: s.get(Attempt, text_id))
        assert (attempt.status, attempt.error_code) == (S.DELIVERED, None)

    run_hooks(scenario)


def test_stop_opts_out_of_texts_at_once_start_opts_back_in_help_answers(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        customer, phone = (
            attempt.customer_id,
            h.store(
                lambda s: s.scalar(
                    select(ListEntry.customer_id).where(ListEntry.id == attempt.list_entry_id)
                )
            ),
        )
        from store.models import Customer

        phone = h.store(lambda s: s.get(Customer, customer)).phone

        async def text(sid: str, body: str) -> str:
            code, reply = await h.post(
                "/twilio/sms/inbound", {"MessageSid": sid, "From": phone, "Body": body}
            )
            assert code == 200
            return reply

        def sms_verdict() -> str | None:
            verdict = h.store(
                lambda s: check_contact(
                    s,
                    CampaignSettings.for_kind(CampaignKind.ANTI_CHURN),
                    customer_id=customer,
                    channel=Channel.SMS,
                    kind=CampaignKind.ANTI_CHURN,
                    now=NOON,
                )
            )
            return verdict.reason.value if verdict.reason else None

        assert sms_verdict() is None
        reply = await text("SM" + "a" * 32, " stop! ")
        assert "no more texts" in reply
        assert sms_verdict() == "opted_out"
        assert await text("SM" + "a" * 32, " stop! ") == reply, "a retried delivery: same answer"
        rows = h.store(lambda s: s.scalar(select(func.count()).select_from(InboundMessage)))
        assert rows == 1
        dnc = h.store(lambda s: s.scalars(select(DncEntry).where(DncEntry.phone == phone)).one())
        assert dnc.channel is DncChannel.SMS
        assert "customer care" in await text("SM" + "b" * 32, "HELP")
        assert "restarted" in await text("SM" + "c" * 32, "unstop")
        assert sms_verdict() is None
        assert "<Message" not in await text("SM" + "d" * 32, "thanks, call me tomorrow")
        keywords = h.store(
            lambda s: s.scalars(select(InboundMessage.keyword).order_by(InboundMessage.id)).all()
        )
        assert keywords == ["stop", "help", "start", None]

    run_hooks(scenario)
