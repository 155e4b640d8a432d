"""The worker's daily retention pass purges through its own store thread and logs the
counts only."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dialer.context import DialerConfig
from dialer.gateway import StoreGateway
from dialer.retention_pass import purge_retention
from store.db import transaction
from store.models import Customer, Disposition, RetentionRun
from store.retention import RetentionPeriods

SECRET_NOTE = "call her at the office, ask for Mrs Kowalska"


class _Dialer:
    def __init__(self, engine: Engine, config: DialerConfig) -> None:
        self.engine = engine
        self.config = config
        self.gateway = StoreGateway(engine)


def test_old_notes_go_and_the_log_holds_counts_only(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(engine) as session:
        customer = Customer(external_id="K1", name="Kowalska", country="PL", customer_type="B2C")
        session.add(customer)
        session.flush()
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
        session.add(
            Disposition(customer_id=customer.id, code="callback", notes=SECRET_NOTE, created_at=old)
        )
    config = DialerConfig(
        database_url="sqlite://",
        redis_url="redis://unused",
        account_sid="AC0",
        auth_token="t",
        api_base=None,
        from_number="+15005550006",
        public_base_url="http://127.0.0.1",
        company="Northwind",
        callback_number="+15005550006",
        retention=RetentionPeriods(notes=7),
        export_dirs=(str(tmp_path / "exports"),),
    )
    dialer = _Dialer(engine, config)
    with caplog.at_level(logging.INFO, logger="telecampaign.retention"):
        removed = asyncio.run(purge_retention({"dialer": dialer}))
    dialer.gateway.close()
    assert removed["notes"] == 1
    assert "'notes': 1" in caplog.text
    assert "Kowalska" not in caplog.text
    with transaction(engine) as session:
        assert session.scalars(select(Disposition.notes)).one() is None
        assert session.scalars(select(RetentionRun.removed)).one() == removed
