"""A call and a text as the simulated carrier keeps them, and the small values they carry:
sids, whole-second timestamps in RFC 2822, the attempt id of a callback URL."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

from smsutil import split as sms_split

from simulation.carrier.config import Outcome

__all__ = [
    "API_VERSION",
    "FINAL_CALL",
    "SimCall",
    "SimMessage",
    "attempt_of",
    "format_rfc2822",
    "new_sid",
    "now",
    "rfc2822",
    "segments_of",
]

API_VERSION = "2010-04-01"
FINAL_CALL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass
class SimCall:
    sid: str
    to: str
    from_: str
    outcome: Outcome
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int
    amd_callback: str | None
    amd_callback_method: str
    created: dt.datetime
    status: str = "queued"
    updated: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    answered_loop_time: float | None = None
    duration: int | None = None
    sequence: int = 0
    # asked when the answer URL fails, as Twilio does: (url, method)
    fallback: tuple[str, str] | None = None
    # what an update asked for; the call's task picks it up when woken
    next_twiml: str | None = None
    next_url: tuple[str, str] | None = None
    hang_up: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    machine_hangup: asyncio.TimerHandle | None = None
    # for the ledger and the injected faults: our attempt id, wall-clock moments, the
    # callbacks posted so far (event, url, params, method) and one held back to reorder
    attempt: str | None = None
    answered_wall: float | None = None
    bridged_wall: float | None = None
    history: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)
    held: tuple[str, str, dict[str, str], str] | None = None

    @property
    def live(self) -> bool:
        return self.status not in FINAL_CALL


@dataclass
class SimMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    segments: int
    created: dt.datetime
    status: str = "queued"
    updated: dt.datetime | None = None
    sent: dt.datetime | None = None
    error_code: int | None = None
    attempt: str | None = None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc2822(moment: dt.datetime | None) -> str | None:
    return None if moment is None else format_rfc2822(moment)


@functools.lru_cache(maxsize=16)
def format_rfc2822(moment: dt.datetime) -> str:
    """Times here are whole seconds: a busy second formats its time once."""
    return format_datetime(moment)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def attempt_of(url: str | None) -> str | None:
    """Our attempt id, from the ``?attempt=`` of a callback URL."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("attempt")
    return values[0] if values else None


def segments_of(body: str) -> int:
    return max(len(sms_split(body).parts), 1)
