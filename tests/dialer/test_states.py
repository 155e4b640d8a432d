"""The attempt state machine: duplicated and shuffled callbacks never take it back, and
the first outcome stays."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.states import advance, from_twilio, is_final, rank
from store.models import AttemptStatus as S
from store.models import Channel

CALL_LIVES = [
    [S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS, S.COMPLETED],
    [S.QUEUED, S.INITIATED, S.RINGING, S.NO_ANSWER],
    [S.QUEUED, S.INITIATED, S.RINGING, S.BUSY],
    [S.QUEUED, S.FAILED],
    [S.QUEUED, S.CANCELED],
    # no agent within 2 s: we mark it abandoned, then the carrier says it completed
    [S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS, S.ABANDONED, S.COMPLETED],
]
SMS_LIVES = [
    [S.QUEUED, S.SENT, S.DELIVERED],
    [S.QUEUED, S.SENT, S.UNDELIVERED],
    [S.QUEUED, S.FAILED],
]


def _fold(channel: Channel, updates: list[S]) -> tuple[S, list[int]]:
    state, seen = S.SCHEDULED, [0]
    for update in updates:
        state = advance(channel, state, update)
        seen.append(rank(channel, state))
    return state, seen


@pytest.mark.parametrize(
    ("channel", "lives"), [(Channel.CALL, CALL_LIVES), (Channel.SMS, SMS_LIVES)]
)
@given(data=st.data())
def test_any_order_and_any_repeats_end_at_the_first_outcome_that_came(
    channel: Channel, lives: list[list[S]], data: st.DataObject
) -> None:
    life = data.draw(st.sampled_from(lives))
    in_order, _ = _fold(channel, life)
    assert in_order == next(status for status in life if is_final(status))
    repeats = data.draw(st.lists(st.sampled_from(life), max_size=8))
    shuffled = data.draw(st.permutations(life + repeats))
    final, ranks = _fold(channel, list(shuffled))
    assert final == next(status for status in shuffled if is_final(status))
    assert ranks == sorted(ranks)  # never backwards


def test_a_late_ringing_changes_nothing() -> None:
    assert advance(Channel.CALL, S.COMPLETED, S.RINGING) is S.COMPLETED
    assert advance(Channel.CALL, S.IN_PROGRESS, S.IN_PROGRESS) is S.IN_PROGRESS


def test_the_first_outcome_stays() -> None:
    assert advance(Channel.CALL, S.BUSY, S.NO_ANSWER) is S.BUSY
    assert advance(Channel.CALL, S.ABANDONED, S.COMPLETED) is S.ABANDONED
    # an outcome ranked above another replaces it no more: a replayed answer once turned
    # a call that rang out into an abandoned one
    assert advance(Channel.CALL, S.NO_ANSWER, S.ABANDONED) is S.NO_ANSWER
    assert advance(Channel.CALL, S.COMPLETED, S.MACHINE) is S.COMPLETED
    assert advance(Channel.SMS, S.DELIVERED, S.UNDELIVERED) is S.DELIVERED


def test_twilio_words() -> None:
    assert from_twilio(Channel.CALL, "in-progress") is S.IN_PROGRESS
    assert from_twilio(Channel.CALL, "answered") is S.IN_PROGRESS
    assert from_twilio(Channel.SMS, "Delivered") is S.DELIVERED
    assert from_twilio(Channel.SMS, "sending") is S.QUEUED
    with pytest.raises(ValueError, match="unknown Twilio call status 'ringing-ish'"):
        from_twilio(Channel.CALL, "ringing-ish")


def test_a_text_cannot_ring() -> None:
    with pytest.raises(KeyError, match="a sms attempt cannot be ringing"):
        rank(Channel.SMS, S.RINGING)
