"""Faults the carrier simulator can inject, as a production floor meets them.

Twilio answers some REST requests with a 500 or a 429 (its error 20429, too many requests)
or only after a long stall; its callbacks come at least once and in no fixed order, some
late; and anybody who captured a signed callback can post it again (the signature carries
no timestamp), or post one with a made-up signature. ``FaultRates`` says how often each
happens; every draw comes from the simulator's seeded generator, so a run can be repeated.

A spec on the command line reads ``rest=0.02,duplicate=0.05,reorder=0.05,delay=0.02,
replay=0.01,forge=0.01``; names left out are 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["SOAK_FAULTS", "FaultRates"]


@dataclass(frozen=True)
class FaultRates:
    rest: float = 0.0  # REST creates answered 500, 429 or stalled, a third each
    duplicate: float = 0.0  # a status or AMD callback posted twice
    reorder: float = 0.0  # a status callback held back until after the call's next one
    delay: float = 0.0  # a status or AMD callback posted late
    replay: float = 0.0  # a call's earlier callback posted again after it ended
    forge: float = 0.0  # a callback also posted with a signature that does not hold
    stall_seconds: float = 10.0  # simulated seconds a stalled REST request waits
    delay_min_seconds: float = 30.0  # simulated
    delay_max_seconds: float = 120.0

    def __post_init__(self) -> None:
        for name in ("rest", "duplicate", "reorder", "delay", "replay", "forge"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"fault {name}: a share between 0 and 1, not {share}")
        if not 0 <= self.delay_min_seconds <= self.delay_max_seconds:
            raise ValueError("fault delay: the least delay must not exceed the most")

    @property
    def any(self) -> bool:
        return any((self.rest, self.duplicate, self.reorder, self.delay, self.replay, self.forge))

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """``name=share,...``; ValueError naming the part that is wrong."""
        known = {field.name for field in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, raw = part.partition("=")
            if not sep or name.strip() not in known:
                raise ValueError(f"{part!r}: write name=share with a name of {sorted(known)}")
            try:
                values[name.strip()] = float(raw)
            except ValueError:
                raise ValueError(f"{part!r}: {raw!r} is not a number") from None
        return cls(**values)


# the soak's mix: the rates its issue names
SOAK_FAULTS = FaultRates(
    rest=0.02, duplicate=0.05, reorder=0.05, delay=0.02, replay=0.01, forge=0.01
)
