"""The dialer's clock: the wall clock live, a shifted and accelerated one in demos.

Every process of the dialer (workers, the web app with its webhooks, simulated agents)
must read the same time, so a non-wall clock is described by three numbers kept in
Redis under ``{prefix}:clock``: the simulated instant ``origin`` at the real instant
``anchor``, and ``scale`` simulated seconds per real second. ``now()`` is then
``origin + (time.time() - anchor) * scale``. A demo that starts a working morning in the
customers' zone at 60x sets it once; the contact policy, pacing and timestamps all
follow it, while the carrier simulator draws its durations in the same scale.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass

from redis.asyncio import Redis

__all__ = ["DialerClock", "load_clock", "save_clock"]


@dataclass(frozen=True)
class DialerClock:
    """Seconds since the epoch, simulated; satisfies ``dialer.pacing.Clock``."""

    origin: float | None = None  # None: the wall clock
    anchor: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"clock scale must be positive, got {self.scale}")

    @classmethod
    def starting(cls, at: dt.datetime, scale: float = 1.0) -> DialerClock:
        """A clock that reads ``at`` now and runs ``scale`` times faster than real time."""
        if at.tzinfo is None:
            raise ValueError("the clock's start must carry a time zone")
        return cls(origin=at.timestamp(), anchor=time.time(), scale=scale)

    @property
    def is_wall(self) -> bool:
        return self.origin is None

    def now(self) -> float:
        if self.origin is None:
            return time.time()
        return self.origin + (time.time() - self.anchor) * self.scale

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def at(self, seconds: float) -> dt.datetime:
        """The aware UTC instant of a clock reading."""
        return dt.datetime.fromtimestamp(seconds, dt.UTC)

    def real(self, seconds: float) -> float:
        """Real seconds that ``seconds`` of clock time take."""
        return seconds / self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of clock time."""
        await asyncio.sleep(max(0.0, self.real(seconds)))

    def as_json(self) -> str:
        return json.dumps({"origin": self.origin, "anchor": self.anchor, "scale": self.scale})


def _key(prefix: str) -> str:
    return f"{prefix}:clock"


async def save_clock(redis: Redis, clock: DialerClock, *, prefix: str = "tc") -> None:
    """Make every dialer process on this Redis read ``clock`` (wall clock: forget it)."""
    if clock.is_wall:
        await redis.delete(_key(prefix))
    else:
        await redis.set(_key(prefix), clock.as_json())


async def load_clock(redis: Redis, *, prefix: str = "tc") -> DialerClock:
    """The clock set on this Redis, or the wall clock."""
    raw = await redis.get(_key(prefix))
    if raw is None:
        return DialerClock()
    data = json.loads(raw)
    return DialerClock(origin=data["origin"], anchor=data["anchor"], scale=data["scale"])
