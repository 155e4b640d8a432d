"""The carrier simulator: the part of Twilio's REST API we use, on a local aiohttp server.

It answers Calls create/update/fetch and Messages create in Twilio's JSON shapes and
error bodies, then plays each call and text out in an asyncio task: it draws an outcome
(human, machine, busy, no answer, failed), posts Twilio-signed status callbacks, fetches
the answer webhook and obeys the TwiML it returns (``<Dial><Client>``, ``<Say>``,
``<Pause>``, ``<Hangup/>``, ``<Redirect>``), posts the async AMD result, and lets a call
update replace what the call is doing. ``/simulator/sms/inbound`` plays a customer texting
us. Everything lives in memory under ``SIMULATOR_STATE``.

Timestamps are wall clock; durations are simulated seconds: with ``time_scale=60`` a
three-minute conversation lasts three real seconds and is reported as 180 s.

This module only serves it; the rest of the package holds one concern each: ``config``
(rates, faults, counters), ``resources`` (a call and a text as the carrier keeps them),
``shapes`` (Twilio's JSON), ``rest`` (the handlers), ``callbacks`` (signed requests and
their faults), ``calls`` and ``texts`` (how each plays out), ``state`` (all of it for one
app), ``ledger`` and ``faults``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from simulation.carrier import rest
from simulation.carrier.config import SimulatorConfig
from simulation.carrier.resources import API_VERSION
from simulation.carrier.state import SIMULATOR_STATE, SimulatorState

__all__ = ["create_simulator_app", "run_simulator"]

log = logging.getLogger(__name__)


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    state = app[SIMULATOR_STATE]
    state.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    yield
    await state.shut_down()


def create_simulator_app(config: SimulatorConfig) -> web.Application:
    app = web.Application(middlewares=[rest.twilio_auth])
    app[SIMULATOR_STATE] = SimulatorState(config)
    app.cleanup_ctx.append(_http_session)
    account = f"/{API_VERSION}/Accounts/{{AccountSid}}"
    app.router.add_post(f"{account}/Calls.json", rest.create_call, name="calls")
    app.router.add_get(f"{account}/Calls.json", rest.list_calls, name="calls_list")
    app.router.add_get(f"{account}/Calls/{{Sid}}.json", rest.fetch_call, name="call")
    app.router.add_post(f"{account}/Calls/{{Sid}}.json", rest.update_call, name="call_update")
    app.router.add_post(f"{account}/Messages.json", rest.create_message, name="messages")
    app.router.add_get(f"{account}/Messages.json", rest.list_messages, name="messages_list")
    app.router.add_get(f"{account}/Messages/{{Sid}}.json", rest.fetch_message, name="message")
    numbers = f"{account}/IncomingPhoneNumbers.json"
    app.router.add_get(numbers, rest.list_numbers, name="numbers_list")
    app.router.add_post("/simulator/sms/inbound", rest.inbound_sms, name="sms_inbound")
    app.router.add_get("/simulator/stats", rest.stats, name="stats")
    app.router.add_get("/simulator/ledger", rest.ledger, name="ledger")
    return app


async def run_simulator(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve the simulator on ``host:port`` until cancelled."""
    runner = web.AppRunner(create_simulator_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("carrier simulator listening on http://%s:%d", host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
