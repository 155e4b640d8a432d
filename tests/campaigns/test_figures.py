"""The dial and abandon figures: the dashboard's per-campaign counts and the pacer's
measuring-window counts, on hand-made attempts."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campaigns.figures import campaign_figures, measuring_window_counts
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    Channel,
    Customer,
    CustomerType,
    Disposition,
    DispositionCode,
    Role,
    User,
)

S = AttemptStatus
OPENED = dt.datetime(2025, 3, 12, 17, 0, tzinfo=dt.UTC)


class Calls:
    """Attempts of one campaign (and one other), written through a rolled-back session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._n = itertools.count(1)
        self.campaign = self._campaign()
        self.other = self._campaign()
        self.customer = Customer(
            external_id="C1",
            name="Customer 1",
            phone="+12125550123",
            country="US",
            customer_type=CustomerType.B2C,
        )
        self.agent = User(
            username="agent", full_name="An Agent", role=Role.AGENT, password_hash="-"
        )
        session.add_all([self.customer, self.agent])
        session.flush()

    def _campaign(self) -> int:
        campaign = Campaign(name=f"campaign {next(self._n)}", kind=CampaignKind.CROSS_SELL)
        self.session.add(campaign)
        self.session.flush()
        return campaign.id

    def add(
        self,
        status: AttemptStatus,
        *,
        queued: dt.timedelta = dt.timedelta(0),
        answered: bool = False,
        by: AnsweredBy | None = None,
        agent: bool = False,
        channel: Channel = Channel.CALL,
        campaign: int | None = None,
        code: DispositionCode | None = None,
    ) -> None:
        at = OPENED + queued
        attempt = Attempt(
            campaign_id=campaign or self.campaign,
            customer_id=self.customer.id,
            channel=channel,
            phone="+12125550123",
            provider_sid=f"SID{next(self._n)}",
            status=status,
            answered_by=by,
            agent_id=self.agent.id if agent else None,
            queued_at=at,
            started_at=at + dt.timedelta(seconds=1),
            answered_at=at + dt.timedelta(seconds=9) if answered else None,
        )
        self.session.add(attempt)
        self.session.flush()
        if code is not None:
            self.session.add(
                Disposition(
                    attempt_id=attempt.id,
                    customer_id=self.customer.id,
                    agent_id=self.agent.id,
                    code=code.value,
                )
            )
            self.session.flush()


@pytest.fixture
def calls(engine: Engine) -> Iterator[Calls]:
    with Session(engine) as session:
        yield Calls(session)
        session.rollback()


def test_measuring_window_counts_calls_queued_since_it_opened(calls: Calls) -> None:
    calls.add(S.COMPLETED, answered=True, agent=True)  # queued as it opened: counts
    calls.add(S.ABANDONED, answered=True, queued=dt.timedelta(minutes=3))
    calls.add(S.ABANDONED, answered=True, by=AnsweredBy.HUMAN, queued=dt.timedelta(minutes=4))
    calls.add(S.COMPLETED, answered=True, by=AnsweredBy.FAX, queued=dt.timedelta(minutes=5))
    calls.add(S.NO_ANSWER, queued=dt.timedelta(minutes=6))  # not answered: neither count
    # left out: queued before the window, a machine, a text, another campaign's call
    calls.add(S.ABANDONED, answered=True, queued=-dt.timedelta(microseconds=1))
    calls.add(S.ABANDONED, answered=True, by=AnsweredBy.MACHINE, queued=dt.timedelta(minutes=1))
    calls.add(S.DELIVERED, answered=True, channel=Channel.SMS, queued=dt.timedelta(minutes=1))
    calls.add(S.ABANDONED, answered=True, campaign=calls.other, queued=dt.timedelta(minutes=1))
    assert measuring_window_counts(calls.session, calls.campaign, OPENED) == (4, 2)
    later = OPENED + dt.timedelta(minutes=4)
    assert measuring_window_counts(calls.session, calls.campaign, later) == (2, 1)
    assert measuring_window_counts(calls.session, calls.other, OPENED) == (1, 1)


def test_measuring_window_counts_an_abandon_by_its_status(calls: Calls) -> None:
    """An abandoned call with no answer time recorded still counts as an abandon."""
    calls.add(S.ABANDONED)
    assert measuring_window_counts(calls.session, calls.campaign, OPENED) == (0, 1)


def test_campaign_figures_count_each_step(calls: Calls) -> None:
    calls.add(S.COMPLETED, answered=True, agent=True, code=DispositionCode.ACCEPTED)
    calls.add(S.COMPLETED, answered=True, agent=True, code=DispositionCode.REFUSED)
    calls.add(S.ABANDONED, answered=True)
    calls.add(S.ABANDONED)  # no answer time: not a human answer, so not counted abandoned
    calls.add(S.MACHINE, answered=True, by=AnsweredBy.MACHINE)
    calls.add(S.NO_ANSWER)
    calls.add(S.DELIVERED, channel=Channel.SMS)
    (fig,) = campaign_figures(calls.session, [calls.campaign])
    assert (fig.campaign_id, fig.kind, fig.status) == (calls.campaign, "cross-sell", "planned")
    assert (fig.dials, fig.human_answers, fig.connects) == (6, 3, 2)
    assert (fig.abandoned, fig.machines, fig.texts) == (1, 1, 1)
    assert (fig.dispositions, fig.conversions) == (2, 1)
    assert fig.abandon_rate == pytest.approx(1 / 3)
    (empty,) = campaign_figures(calls.session, [calls.other])
    assert (empty.dials, empty.human_answers, empty.abandon_rate) == (0, 0, 0.0)
