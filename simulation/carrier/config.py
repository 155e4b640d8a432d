"""What a simulator run is told (rates, time scale, faults, ledger) and what it counts."""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from simulation.carrier.faults import FaultRates

__all__ = ["DEFAULT_RATES", "Outcome", "SimulatorConfig", "SimulatorStats"]


class Outcome(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


DEFAULT_RATES: Mapping[Outcome, float] = MappingProxyType(
    {
        Outcome.HUMAN: 0.30,
        Outcome.MACHINE: 0.15,
        Outcome.BUSY: 0.08,
        Outcome.NO_ANSWER: 0.40,
        Outcome.FAILED: 0.07,
    }
)


@dataclass(frozen=True)
class SimulatorConfig:
    account_sid: str = "AC00000000000000000000000000000000"
    # checks Basic auth and signs callbacks; the demo's well-known default, not a secret
    auth_token: str = "simulator-token"  # noqa: S105
    rates: Mapping[Outcome, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    time_scale: float = 1.0  # simulated seconds per real second
    mean_talk_seconds: float = 180.0
    mean_ring_seconds: float = 8.0
    machine_greeting_seconds: float = 12.0
    sms_delivery_rate: float = 0.97
    seed: int | None = None
    forced: Mapping[str, Outcome] = field(default_factory=dict)  # To number -> outcome
    inbound_sms_url: str | None = None
    faults: FaultRates = field(default_factory=FaultRates)
    ledger_path: Path | None = None  # where the carrier's ledger is appended (see ledger.py)
    # the account's numbers, the only caller IDs a campaign may show: the default one and
    # a local number in each market the demo base covers
    owned_numbers: tuple[str, ...] = (
        "+15005550006",
        "+12125550100",
        "+13125550100",
        "+14155550100",
        "+442079460000",
        "+48221234567",
        "+37052000000",
    )

    def __post_init__(self) -> None:
        if set(self.rates) != set(Outcome):
            raise ValueError("rates must give a share for every outcome")
        if any(share < 0 for share in self.rates.values()):
            raise ValueError("rates must not be negative")
        if not math.isclose(sum(self.rates.values()), 1.0, abs_tol=1e-6):
            raise ValueError("rates must sum to 1")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not 0.0 <= self.sms_delivery_rate <= 1.0:
            raise ValueError("sms_delivery_rate must be between 0 and 1")


@dataclass
class SimulatorStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    messages: int = 0
    messages_by_status: Counter[str] = field(default_factory=Counter)
    inbound_messages: int = 0
    callbacks_posted: int = 0
    callbacks_failed: int = 0

    def as_json(self, calls_live: int) -> dict[str, Any]:
        return {
            "outcomes": {outcome.value: self.outcomes[outcome.value] for outcome in Outcome},
            "calls": self.calls,
            "calls_live": calls_live,
            "messages": self.messages,
            "messages_by_status": dict(self.messages_by_status),
            "inbound_messages": self.inbound_messages,
            "callbacks_posted": self.callbacks_posted,
            "callbacks_failed": self.callbacks_failed,
        }
