"""Callbacks in any order, repeated, late or replayed end where the same calls' callbacks
in order do: the webhooks against the store and the agent board, as they run.

Each example is a few calls, each with what its carrier really sends (status callbacks,
the answer request, answering-machine detection's verdict) and the worker keeping the
CallSid the dial returned. The calls are placed twice, each time in a campaign of their
own with an agent ready or none: once with every callback delivered once and in order,
once with the calls' callbacks interleaved, shuffled within what a call's life allows,
repeated at any later time, with replays of requests the call never made after it ended
and with callbacks naming another call anywhere once the attempt knows its own. Both
must end in the same stored state; and once an attempt is final, nothing more changes.

What a call's life allows: the answer request is the carrier waiting for our TwiML, so
it comes before the call can end, and answering-machine detection's verdict after it
(detection listens to the greeting the answer starts); the verdict comes before the
carrier's end of the call, as a machine's call ends when we leave the voicemail. A
callback that came after its call's end anyway is one a replay could copy: it changes
nothing, so a call's decisions are made by what comes before its end. Progress callbacks
(initiated, ringing, in-progress) and the worker's storing of the SID may come at any
time. A call has one verdict of detection: a second one for it cannot be signed.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dialer.jobs import _keep_sid
from dialer.states import is_final
from simulation.agents import ensure_agents
from store.models import AgentEvent, Attempt, AttemptStatus, Channel, EntryStatus, ListEntry
from tests.dialer.dial_base import build_running_campaign
from tests.dialer.webhook_client import NOON, Hooks, call_sid, hooks

S = AttemptStatus
# the answered calls wait up to 2 clock seconds for an agent: at 100x, 20 ms
SCALE = 100.0
ORPHAN_SID = "CA" + "f" * 32  # a call the carrier placed for no attempt of ours


class Via(Enum):
    DIALED = "the worker keeps the SID the dial returned"
    STATUS = "/twilio/voice/status"
    ANSWER = "/twilio/voice/answer"
    AMD = "/twilio/voice/amd"


@dataclass(frozen=True)
class Callback:
    via: Via
    word: str = ""  # the CallStatus, or the AnsweredBy verdict
    duration: str | None = None
    other_call: bool = False  # names another call's CallSid

    def __str__(self) -> str:
        named = " (another call)" if self.other_call else ""
        return f"{self.via.name.lower()} {self.word}{named}".strip()


DIALED = Callback(Via.DIALED)
INITIATED = Callback(Via.STATUS, "initiated")
RINGING = Callback(Via.STATUS, "ringing")
ANSWERED = Callback(Via.STATUS, "in-progress")
ANSWER = Callback(Via.ANSWER)
HUMAN = Callback(Via.AMD, "human")
MACHINE = Callback(Via.AMD, "machine_end_beep")
PROGRESS = (DIALED, INITIATED, RINGING, ANSWERED)


def _end(word: str, duration: str = "0") -> Callback:
    return Callback(Via.STATUS, word, duration)


# what the carrier sends for each kind of call, in the order it happens
LIVES: dict[str, tuple[Callback, ...]] = {
    "a person": (*PROGRESS, ANSWER, HUMAN, _end("completed", "61")),
    "a person, no detection": (*PROGRESS, ANSWER, _end("completed", "47")),
    "a machine": (*PROGRESS, ANSWER, MACHINE, _end("completed", "18")),
    "busy": (DIALED, INITIATED, RINGING, _end("busy")),
    "no answer": (DIALED, INITIATED, RINGING, _end("no-answer")),
    "failed": (DIALED, _end("failed")),
    "canceled": (DIALED, INITIATED, RINGING, _end("canceled")),
}
# requests a call never made, replayed once it has ended (a captured answer request
# is valid for ever); after the end of a call that was answered, its own verdict is the
# only one there can be
STRAYS = (ANSWER, ANSWERED, *(_end(w, "5") for w in ("completed", "busy", "no-answer")))
UNANSWERED_STRAYS = (*STRAYS, HUMAN, MACHINE)


def _ordered(event: Callback) -> bool:
    """Whether the event is one of a call's decisions, which keep their order before
    the call's end; progress may come at any time."""
    return event.via is not Via.DIALED and event not in PROGRESS


def _decisive(life: Sequence[Callback], agent: bool) -> Callback:
    """The callback that makes the attempt final: the answer when no agent is there to
    take the call (it is abandoned), a machine's verdict, else the carrier's end."""
    if ANSWER in life and not agent:
        return ANSWER
    if MACHINE in life:
        return MACHINE
    return life[-1]


@dataclass(frozen=True)
class Call:
    life: str
    agent: bool  # an agent is ready on the call's campaign


@st.composite
def deliveries(draw: st.DrawFn, call: Call) -> list[Callback]:
    """One call's callbacks as they may arrive: its life shuffled within what it allows,
    with repeats, stray replays after its end and callbacks naming another call."""
    life = LIVES[call.life]
    shuffled = list(draw(st.permutations(life)))
    # the decisions take the places they drew, in the order they happen
    decisions = iter([event for event in life if _ordered(event)])
    sequence = [next(decisions) if _ordered(event) else event for event in shuffled]

    def insert_after(event: Callback, first: int) -> None:
        sequence.insert(draw(st.integers(first + 1, len(sequence))), event)

    for event in draw(st.lists(st.sampled_from(life), max_size=3)):
        insert_after(event, sequence.index(event))  # a repeat, at any later time
    answered = ANSWER in life
    strays = draw(st.lists(st.sampled_from(STRAYS if answered else UNANSWERED_STRAYS), max_size=3))
    for event in strays:
        insert_after(event, sequence.index(_decisive(life, call.agent)))
    for event in draw(st.lists(st.sampled_from(life + STRAYS), max_size=3)):
        if event.via is not Via.DIALED:
            insert_after(replace(event, other_call=True), 0)
    return sequence


@st.composite
def examples(draw: st.DrawFn) -> tuple[list[Call], list[int], list[list[Callback]]]:
    """Calls, each call's deliveries, and the order the calls' deliveries interleave in."""
    calls = draw(
        st.lists(
            st.builds(Call, st.sampled_from(sorted(LIVES)), st.booleans()), min_size=1, max_size=3
        )
    )
    each = [draw(deliveries(call)) for call in calls]
    turns = [n for n, events in enumerate(each) for _ in events]
    return calls, list(draw(st.permutations(turns))), each


@dataclass(frozen=True)
class Placed:
    """One call placed: its attempt and the agent ready on its campaign, if any."""

    attempt_id: int
    agent_id: int | None


def _place(session: Session, campaign_id: int) -> int:
    """An attempt for the campaign's one customer, initiated as the worker leaves it
    before the carrier answers the dial (no SID yet)."""
    entry = session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id)).one()
    entry.status = EntryStatus.IN_PROGRESS
    attempt = Attempt(
        campaign_id=campaign_id,
        list_entry_id=entry.id,
        customer_id=entry.customer_id,
        channel=Channel.CALL,
        phone=f"+1212555{entry.customer_id % 10_000:04d}",
        status=S.INITIATED,
        created_at=NOON,
        queued_at=NOON,
        started_at=NOON,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


async def _open_calls(h: Hooks, calls: list[Call], agents: list[int]) -> list[Placed]:
    """Each call in a campaign of its own, its agent (when it has one) ready there."""
    placed = []
    for call, agent in zip(calls, agents, strict=False):
        campaign_id, _ = build_running_campaign(
            h.dialer.engine, 1, name=f"order {uuid.uuid4().hex[:8]}"
        )
        attempt_id = h.store(functools.partial(_place, campaign_id=campaign_id))
        if call.agent:
            await h.dialer.board.login(agent, campaign_id, h.dialer.clock.now())
        placed.append(Placed(attempt_id, agent if call.agent else None))
    return placed


async def _deliver(h: Hooks, placed: Placed, event: Callback, other_sid: str) -> None:
    attempt_id = placed.attempt_id
    sid = other_sid if event.other_call else call_sid(attempt_id)
    if event.via is Via.DIALED:
        await _keep_sid(h.dialer, attempt_id, sid)
    elif event.via is Via.STATUS:
        extra = {"CallDuration": event.duration} if event.duration is not None else {}
        assert await h.call(attempt_id, event.word, sid=sid, **extra) == 204, str(event)
    elif event.via is Via.ANSWER:
        await h.answer(attempt_id, sid=sid)
    else:
        assert await h.amd(attempt_id, event.word, sid=sid) == 204, str(event)


async def _state(h: Hooks, placed: Placed) -> dict[str, Any]:
    """What the property compares: the attempt, its agent's place on the board, and the
    agent events it caused; times by whether they are set (they are when it came)."""
    attempt = h.store(lambda s: s.get(Attempt, placed.attempt_id))
    events = h.store(
        lambda s: s.scalar(
            select(func.count())
            .select_from(AgentEvent)
            .where(AgentEvent.attempt_id == placed.attempt_id)
        )
    )
    board = None
    if placed.agent_id is not None:
        status = await h.dialer.board.status(placed.agent_id)
        board = (status.state.value, status.attempt_id == placed.attempt_id)
    return {
        "status": attempt.status,
        "answered_by": attempt.answered_by,
        "agent": "its agent" if attempt.agent_id == placed.agent_id else attempt.agent_id,
        "answered": attempt.answered_at is not None,
        "ended": attempt.ended_at is not None,
        "abandoned": attempt.status is S.ABANDONED,
        "board": board,
        "agent_events": events,
    }


async def _frozen(h: Hooks, placed: Placed) -> tuple[Any, ...]:
    """Everything a final attempt keeps as it is, times to the microsecond; who answered
    aside, which an abandoned call still learns from its own verdict."""
    attempt = h.store(lambda s: s.get(Attempt, placed.attempt_id))
    state = await _state(h, placed)
    return (
        attempt.status,
        attempt.agent_id,
        attempt.answered_at,
        attempt.ended_at,
        attempt.duration_s,
        attempt.error_code,
        attempt.provider_sid,
        state["board"],
        state["agent_events"],
    )


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples())
def test_any_order_repeats_and_replays_end_where_the_callbacks_in_order_do(
    engine: Engine,
    db_url: str,
    redis_url: str,
    example: tuple[list[Call], list[int], list[list[Callback]]],
) -> None:
    calls, turns, each = example
    prefix = f"tctest:{uuid.uuid4().hex[:10]}"

    async def main() -> None:
        async with hooks(engine, db_url, redis_url, prefix, scale=SCALE) as h:
            agents = h.store(lambda s: ensure_agents(s, 2 * len(calls)))
            in_order = await _open_calls(h, calls, agents[::2])
            for call, placed in zip(calls, in_order, strict=True):
                for event in LIVES[call.life]:
                    await _deliver(h, placed, event, ORPHAN_SID)

            shuffled = await _open_calls(h, calls, agents[1::2])
            # another call's SID: the orphan's, or that of the same call placed in order
            others = [
                ORPHAN_SID if n % 2 else call_sid(p.attempt_id) for n, p in enumerate(in_order)
            ]
            frozen: dict[int, tuple[Any, ...]] = {}
            position = [0] * len(calls)
            for n in turns:
                event = each[n][position[n]]
                position[n] += 1
                await _deliver(h, shuffled[n], event, others[n])
                status = h.store(lambda s, a=shuffled[n].attempt_id: s.get(Attempt, a).status)
                if is_final(status) and n not in frozen:
                    frozen[n] = await _frozen(h, shuffled[n])

            for n, call in enumerate(calls):
                story = f"{call}: " + ", ".join(map(str, each[n]))
                expected = await _state(h, in_order[n])
                assert await _state(h, shuffled[n]) == expected, story
                assert await _frozen(h, shuffled[n]) == frozen[n], story

    asyncio.run(main())
