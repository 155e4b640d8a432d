"""Two workers dialing the same customer at once: the contact check and the claim happen
one at a time, so a cap that fits one more contact lets exactly one through."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.attempt_claim import _ready_to_dial
from dialer.entry_taking import take_entries
from dialer.gateway import dialer_engine
from store.db import transaction
from store.models import Attempt, AttemptStatus, Channel
from tests.dialer.dial_base import build_running_campaign

NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)


def two_attempts_for_one_customer(engine: Engine) -> tuple[int, int, int]:
    """A campaign whose policy allows one contact; two queued calls to its one customer."""
    campaign_id, (customer_id,) = build_running_campaign(
        engine, 1, settings={"contact_cap": {"contacts": 1}}
    )
    with transaction(engine) as session:
        (first,) = take_entries(session, campaign_id, 1, now=NOON)
        model = session.get(Attempt, first)
        assert model is not None
        second = Attempt(
            campaign_id=campaign_id,
            customer_id=customer_id,
            channel=Channel.CALL,
            phone=model.phone,
            status=AttemptStatus.QUEUED,
            due_at=NOON,
            queued_at=NOON,
        )
        session.add(second)
        session.flush()
        return customer_id, first, second.id


def test_the_second_check_waits_for_the_first_claim_and_sees_it(db_url: str) -> None:
    engine = dialer_engine(db_url)
    try:
        customer_id, first, second = two_attempts_for_one_customer(engine)
        results: dict[str, object] = {}

        def other_worker() -> None:
            with Session(engine) as session, session.begin():
                results["second"] = _ready_to_dial(
                    session, second, Channel.CALL, NOON, customer_id=customer_id
                )

        with Session(engine) as session, session.begin():
            ready = _ready_to_dial(session, first, Channel.CALL, NOON, customer_id=customer_id)
            assert not isinstance(ready, str)
            assert ready.phone
            racer = threading.Thread(target=other_worker)
            racer.start()
            racer.join(timeout=1.0)
            assert racer.is_alive(), "the second worker waits while the first has not committed"
        racer.join(timeout=30)
        assert not racer.is_alive()
        assert results["second"] == "blocked", "the first call, committed, fills the cap"
        with transaction(engine) as session:
            statuses = {a: session.get_one(Attempt, a).status for a in (first, second)}
        assert statuses == {first: AttemptStatus.INITIATED, second: AttemptStatus.CANCELED}
    finally:
        engine.dispose()
