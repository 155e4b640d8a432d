"""The attempt state machine: a call's or a text's status only moves forward.

Twilio posts status callbacks at least once and in no guaranteed order, and our own
worker marks an answered call abandoned when no agent took it within 2 s. Every
update goes through ``advance``, which keeps the furthest state reached, so a
duplicated or late callback never takes an attempt back (a late "ringing" after
"completed" changes nothing) and replaying the progress callbacks in any order ends in
the same state as receiving them in order.

Calls:  scheduled -> queued -> initiated -> ringing -> in-progress -> an outcome
        (completed, busy, no-answer, failed, canceled, abandoned, machine). We mark
        abandoned and machine while the carrier still says the call is up (no agent
        within 2 s; answering-machine detection heard a machine), so the carrier's
        "completed" that follows finds the call final and changes nothing.
Texts:  scheduled -> queued -> sent -> delivered or undelivered (or failed).

An outcome is final: no other outcome ever replaces it. Twilio's signature carries no
timestamp, so a captured callback can be sent again at any time; were a later outcome
to win, a replayed "answer" could turn a call that rang out into an abandoned one.
"""

from __future__ import annotations

from store.models import AttemptStatus, Channel

__all__ = ["FINAL", "advance", "behind", "from_twilio", "is_final", "rank"]

S = AttemptStatus

_CALL_RANK = {
    S.SCHEDULED: 0,
    S.QUEUED: 1,
    S.INITIATED: 2,
    S.RINGING: 3,
    S.IN_PROGRESS: 4,
    S.COMPLETED: 5,
    S.BUSY: 5,
    S.NO_ANSWER: 5,
    S.FAILED: 5,
    S.CANCELED: 5,
    S.ABANDONED: 6,
    S.MACHINE: 6,
}
_SMS_RANK = {
    S.SCHEDULED: 0,
    S.QUEUED: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.CANCELED: 3,
}
FINAL = frozenset(
    {S.COMPLETED, S.BUSY, S.NO_ANSWER, S.FAILED, S.CANCELED, S.ABANDONED, S.MACHINE}
    | {S.DELIVERED, S.UNDELIVERED}
)

# Twilio's status words (Call and Message resources) in our terms
_TWILIO_CALL = {
    "queued": S.QUEUED,
    "initiated": S.INITIATED,
    "ringing": S.RINGING,
    "in-progress": S.IN_PROGRESS,
    "answered": S.IN_PROGRESS,  # the StatusCallbackEvent name for in-progress
    "completed": S.COMPLETED,
    "busy": S.BUSY,
    "no-answer": S.NO_ANSWER,
    "failed": S.FAILED,
    "canceled": S.CANCELED,
}
_TWILIO_SMS = {
    "accepted": S.QUEUED,
    "scheduled": S.QUEUED,
    "queued": S.QUEUED,
    "sending": S.QUEUED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.CANCELED,
}


def rank(channel: Channel, status: AttemptStatus) -> int:
    """How far along an attempt on ``channel`` is; KeyError for a status it cannot have."""
    ranks = _CALL_RANK if channel is Channel.CALL else _SMS_RANK
    if status not in ranks:
        raise KeyError(f"a {channel.value} attempt cannot be {status.value}")
    return ranks[status]


def is_final(status: AttemptStatus) -> bool:
    return status in FINAL


def advance(channel: Channel, current: AttemptStatus, incoming: AttemptStatus) -> AttemptStatus:
    """The state after ``incoming`` arrives for an attempt that is ``current``: a final
    one stays as it is."""
    if is_final(current):
        return current
    if rank(channel, incoming) > rank(channel, current):
        return incoming
    return current


def from_twilio(channel: Channel, word: str) -> AttemptStatus:
    """Our status for a Twilio ``CallStatus``/``MessageStatus``; ValueError if unknown."""
    table = _TWILIO_CALL if channel is Channel.CALL else _TWILIO_SMS
    try:
        return table[word.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown Twilio {channel.value} status {word!r}") from None


def behind(incoming: AttemptStatus) -> tuple[tuple[Channel, ...], tuple[AttemptStatus, ...]]:
    """The channels that have ``incoming`` and, on all of them, the statuses it moves on
    from: an attempt of those channels in one of those statuses becomes ``incoming``."""
    channels = tuple(
        channel
        for channel, ranks in ((Channel.CALL, _CALL_RANK), (Channel.SMS, _SMS_RANK))
        if incoming in ranks
    )
    lower = [
        status
        for status in AttemptStatus
        if all(
            status in ranks and ranks[status] < ranks[incoming]
            for ranks in (_CALL_RANK if c is Channel.CALL else _SMS_RANK for c in channels)
        )
    ]
    return channels, tuple(lower)
