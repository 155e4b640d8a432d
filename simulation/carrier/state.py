"""The simulated carrier of one app: its calls and texts, played out, and what an earlier
run of it left in the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from simulation.carrier.calls import CallPlayer
from simulation.carrier.config import Outcome, SimulatorConfig
from simulation.carrier.resources import SimCall, SimMessage, now
from simulation.carrier.texts import TextPlayer

__all__ = ["SIMULATOR_STATE", "SimulatorState"]


class SimulatorState(CallPlayer, TextPlayer):
    """Calls, messages and counters of one simulator app, and its running tasks.

    Each concern is a layer of its own module: ``CarrierCore`` (what they share),
    ``CallbackSender`` (signed callbacks and their faults), ``CallPlayer`` and
    ``TextPlayer`` (how a call and a text play out); this class restores what an earlier
    run left in the ledger and shuts the carrier down.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        # calls an earlier run of this simulator finished: fetching one still answers
        for record in self.ledger.records():
            if record["kind"] == "call":
                self.calls[record["sid"]] = _ended_call(record)
            elif record["kind"] == "message":
                self.messages[record["sid"]] = _ended_message(record)

    async def shut_down(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        # calls cut short by the shutdown end here, with no callback: the carrier's word
        # on them is what a later fetch answers
        for call in self.calls.values():
            if call.live:
                call.status = "completed" if call.answered_wall is not None else "canceled"
                call.end_time = now()
                self.record_call(call, restart=True)
        for message in self.messages.values():
            if message.status not in ("delivered", "undelivered"):
                message.status, message.error_code = "undelivered", 30008  # unknown error
                self.ledger.record(
                    "message",
                    sid=message.sid,
                    to=message.to,
                    attempt=message.attempt,
                    status=message.status,
                    restart=True,
                    **{"from": message.from_},
                )
        self.ledger.close()
        if self.session is not None:
            await self.session.close()


SIMULATOR_STATE = web.AppKey("simulator_state", SimulatorState)


def _ended_message(record: Mapping[str, Any]) -> SimMessage:
    """A text an earlier run of the simulator finished, as its ledger record tells it."""
    message = SimMessage(
        sid=record["sid"],
        to=record["to"],
        from_=record.get("from", ""),
        body="",
        status_callback=None,
        segments=1,
        created=dt.datetime.fromtimestamp(record["at"], dt.UTC).replace(microsecond=0),
        status=record["status"],
        attempt=record.get("attempt"),
    )
    if message.status == "undelivered":
        message.error_code = 30008
    return message


def _ended_call(record: Mapping[str, Any]) -> SimCall:
    """A call an earlier run of the simulator finished, as its ledger record tells it."""
    answered = {"human": Outcome.HUMAN, "machine": Outcome.MACHINE}.get(record["answered_by"])
    unanswered = {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER}.get(record["status"])
    call = SimCall(
        sid=record["sid"],
        to=record["to"],
        from_=record["from"],
        outcome=answered or unanswered or Outcome.FAILED,
        url=None,
        method="POST",
        twiml=None,
        status_callback=None,
        status_callback_method="POST",
        events=frozenset(),
        timeout=0,
        amd_callback=None,
        amd_callback_method="POST",
        created=dt.datetime.fromtimestamp(record["created"], dt.UTC).replace(microsecond=0),
        status=record["status"],
    )
    call.end_time = dt.datetime.fromtimestamp(record["ended"], dt.UTC).replace(microsecond=0)
    if record.get("answered") is not None:
        call.start_time = dt.datetime.fromtimestamp(record["answered"], dt.UTC).replace(
            microsecond=0
        )
    call.duration = int(record.get("duration") or 0)
    call.attempt = record.get("attempt")
    return call
