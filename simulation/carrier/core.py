"""What every part of the simulated carrier shares: its configuration, its seeded draws,
the calls and texts it keeps, its counters, its ledger and its running tasks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]

from simulation.carrier.config import SimulatorConfig, SimulatorStats
from simulation.carrier.ledger import CarrierLedger
from simulation.carrier.resources import SimCall, SimMessage

__all__ = ["CarrierCore"]

_REST_FAULTS = ("500", "429", "stall", "lost")


class CarrierCore:
    """Calls, messages and counters of one simulator app, its seeded draws and its running
    tasks: what the callback sender, the call and the text players share."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.validator = RequestValidator(config.auth_token)
        self.token = config.auth_token.encode()
        self.calls: dict[str, SimCall] = {}
        self.messages: dict[str, SimMessage] = {}
        self.stats = SimulatorStats()
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ledger = CarrierLedger(config.ledger_path)
        self.faults = config.faults
        self._rest_faults = 0

    @property
    def calls_live(self) -> int:
        return sum(call.live for call in self.calls.values())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every call and message has played out and its callbacks are posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(max(simulated, 0.0) / self.config.time_scale)

    def rest_fault(self) -> str | None:
        """The fault a REST create meets: "500", "429", "stall", "lost" (the call or text
        is made, and the answer is a 500 all the same) or None. Whether a create meets one
        is drawn (seeded); the kinds take turns, so a short run with a handful of faults
        still meets each kind."""
        if not self.faults.rest or self.rng.random() >= self.faults.rest:
            return None
        kind = _REST_FAULTS[self._rest_faults % len(_REST_FAULTS)]
        self._rest_faults += 1
        return kind
