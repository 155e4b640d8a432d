"""The pacing pass's snapshot from the store: the measuring window's counts, the lines in
flight and the answered calls no agent has taken yet."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from dialer.pacing_pass import _snapshot
from store.db import transaction
from store.models import AnsweredBy, Attempt, AttemptStatus, Channel, Role, User
from tests.dialer.dial_base import build_running_campaign

S = AttemptStatus
LAUNCH = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # build_running_campaign's
NOW = LAUNCH + dt.timedelta(days=1, minutes=30)  # half an hour into the second window
TODAY = LAUNCH + dt.timedelta(days=1)


def _call(
    campaign_id: int,
    customer_id: int,
    status: AttemptStatus,
    queued: dt.datetime,
    *,
    answered: bool = True,
    by: AnsweredBy | None = AnsweredBy.HUMAN,
    agent_id: int | None = None,
) -> Attempt:
    started = queued + dt.timedelta(seconds=2)
    return Attempt(
        campaign_id=campaign_id,
        customer_id=customer_id,
        channel=Channel.CALL,
        phone="+12125550000",
        status=status,
        answered_by=by if answered else None,
        agent_id=agent_id,
        queued_at=queued,
        started_at=started,
        answered_at=started + dt.timedelta(seconds=8) if answered else None,
    )


def test_the_snapshot_counts_the_current_measuring_window_from_the_launch(
    engine: Engine,
) -> None:
    campaign_id, customers = build_running_campaign(engine, 12, pacing="predictive")
    with transaction(engine) as session:
        agent = User(username="agent-1", full_name="Agent One", password_hash="x", role=Role.AGENT)
        session.add(agent)
        session.flush()
        calls = [
            # the first window's, within the last 24 hours: not this window's
            (S.COMPLETED, TODAY - dt.timedelta(minutes=10), {}),
            (S.ABANDONED, TODAY - dt.timedelta(minutes=5), {}),
            # queued in the first window, started and abandoned in this one: the first's
            (S.ABANDONED, TODAY - dt.timedelta(seconds=1), {}),
            # this window's
            (S.COMPLETED, TODAY + dt.timedelta(minutes=1), {}),
            (S.ABANDONED, TODAY + dt.timedelta(minutes=2), {}),
            (S.MACHINE, TODAY + dt.timedelta(minutes=3), {"by": AnsweredBy.MACHINE}),
            (S.NO_ANSWER, TODAY + dt.timedelta(minutes=4), {"answered": False}),
            (S.IN_PROGRESS, NOW - dt.timedelta(seconds=20), {"agent_id": agent.id}),
            (S.IN_PROGRESS, NOW - dt.timedelta(seconds=15), {}),  # waiting for an agent
            (S.RINGING, NOW - dt.timedelta(seconds=10), {"answered": False}),
        ]
        for customer_id, (status, queued, facts) in zip(customers, calls, strict=False):
            session.add(_call(campaign_id, customer_id, status, queued, **facts))

    with transaction(engine) as session:
        snapshot = _snapshot(session, campaign_id, NOW.timestamp())

    assert snapshot is not None
    _, ringing, unclaimed, stats = snapshot
    # completed, abandoned and the two in progress; the machine is no live answer
    assert (stats.measured_answers, stats.measured_abandons) == (4, 1)
    assert stats.measured_until == (TODAY + dt.timedelta(days=1)).timestamp()
    assert len(ringing) == 1
    assert unclaimed == 1
