"""How a simulated text plays out: sent, then delivered or not at the configured rate,
with a status callback for each step."""

from __future__ import annotations

import asyncio
import logging

from simulation.carrier.callbacks import CallbackSender
from simulation.carrier.resources import API_VERSION, SimMessage, now

__all__ = ["TextPlayer"]

log = logging.getLogger(__name__)


class TextPlayer(CallbackSender):
    """Plays an outbound text out: sent, then delivered or undelivered."""

    async def run_message(self, message: SimMessage) -> None:
        try:
            await self.sleep(self.rng.uniform(0.5, 1.5))
            await self.message_status(message, "sent")
            await self.sleep(self.rng.uniform(1.0, 4.0))
            if self.rng.random() < self.config.sms_delivery_rate:
                await self.message_status(message, "delivered")
            else:
                message.error_code = 30003
                await self.message_status(message, "undelivered")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated message %s broke off", message.sid)

    async def message_status(self, message: SimMessage, status: str) -> None:
        message.status = status
        message.updated = now()
        if status == "sent":
            message.sent = message.updated
        self.stats.messages_by_status[status] += 1
        if status in ("delivered", "undelivered"):
            self.ledger.record(
                "message",
                sid=message.sid,
                to=message.to,
                attempt=message.attempt,
                status=status,
                **{"from": message.from_},
            )
        if message.status_callback is None:
            return
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": self.config.account_sid,
            "From": message.from_,
            "To": message.to,
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": API_VERSION,
        }
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        await self.deliver(None, "sms-status", message.status_callback, params)
