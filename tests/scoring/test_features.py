"""Features as of a cutoff: nothing after the cutoff reaches them; labels from the window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import delete, select, update

from scoring.features import (
    CATEGORICAL,
    LABEL,
    NUMERIC,
    FeatureBuilder,
    Window,
    contract_end_as_of,
    data_end,
)
from store.db import make_engine
from store.models import Billing, Holding, Interaction, InteractionKind


def features(path: Path, window: Window, export_end: dt.date, labels: bool = False) -> pd.DataFrame:
    engine = make_engine(f"sqlite:///{path}")
    try:
        builder = FeatureBuilder(engine, window, export_end)
        return pd.concat(list(builder.chunks(300, labels=labels)))
    finally:
        engine.dispose()


def test_every_declared_feature_is_built(demo_store: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_store}")
    end = data_end(engine)
    engine.dispose()
    assert end == dt.date(2026, 10, 31)
    frame = features(demo_store, Window(end), end)
    assert set(NUMERIC + CATEGORICAL) <= set(frame.columns)
    assert len(frame) > 780
    active = frame[frame["active"]]
    assert (active["products_held"] > 0).all()
    assert set(frame["lifecycle"]) == {"potential", "new", "regular", "restored", "lost"}
    assert set(frame["abc_class"]) == {"A", "B", "C"}


def test_nothing_after_the_cutoff_reaches_a_feature(demo_store: Path, demo_copy: Path) -> None:
    """Erase or rewrite every fact dated after the cutoff: the features do not move."""
    end = dt.date(2026, 10, 31)
    cutoff = dt.date(2026, 6, 30)
    before = features(demo_store, Window(cutoff), end)

    engine = make_engine(f"sqlite:///{demo_copy}")
    night = dt.datetime.combine(cutoff, dt.time.max, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(delete(Billing).where(Billing.month > dt.date(2026, 6, 1)))
        # Payments made after the cutoff were unknown at it (bills fall due on the 15th).
        paid_later = [
            bill_id
            for bill_id, month, late in conn.execute(
                select(Billing.id, Billing.month, Billing.days_late).where(
                    Billing.days_late.is_not(None)
                )
            )
            if month.replace(day=15) + dt.timedelta(days=late) > cutoff
        ]
        conn.execute(update(Billing).where(Billing.id.in_(paid_later)).values(days_late=None))
        conn.execute(delete(Holding).where(Holding.start_date > cutoff))
        conn.execute(update(Holding).where(Holding.end_date > cutoff).values(end_date=None))
        conn.execute(delete(Interaction).where(Interaction.occurred_at > night))
        conn.execute(
            update(Interaction).where(Interaction.closed_at > night).values(closed_at=None)
        )
    engine.dispose()
    after = features(demo_copy, Window(cutoff), end)
    pd.testing.assert_frame_equal(before, after)


def test_late_payments_count_once_paid(demo_copy: Path) -> None:
    cutoff = dt.date(2026, 6, 30)
    engine = make_engine(f"sqlite:///{demo_copy}")
    with engine.connect() as conn:
        customer = (
            conn.execute(select(Billing.customer_id).where(Billing.month == dt.date(2026, 6, 1)))
            .scalars()
            .first()
        )
    assert customer is not None
    with engine.begin() as conn:
        conn.execute(
            update(Billing)
            .where(Billing.customer_id == customer, Billing.month == dt.date(2026, 6, 1))
            .values(days_late=30)  # due June 15, paid July 15: after the cutoff
        )
    engine.dispose()
    frame = features(demo_copy, Window(cutoff), dt.date(2026, 10, 31))
    assert frame.loc[customer, "overdue_bills"] >= 1


def test_bills_older_than_a_year_paid_after_the_cutoff_are_overdue(demo_copy: Path) -> None:
    cutoff, old = dt.date(2026, 6, 30), dt.date(2025, 1, 1)  # 18 months before the cutoff
    due = old + dt.timedelta(days=14)
    engine = make_engine(f"sqlite:///{demo_copy}")
    with engine.connect() as conn:
        late, on_time = (
            conn.execute(
                select(Billing.customer_id).where(
                    Billing.month == old, Billing.days_late.is_not(None)
                )
            )
            .scalars()
            .all()[:2]
        )
    before = features(demo_copy, Window(cutoff), dt.date(2026, 10, 31))
    with engine.begin() as conn:
        for customer, days in ((late, (cutoff - due).days + 1), (on_time, (cutoff - due).days)):
            conn.execute(
                update(Billing)
                .where(Billing.customer_id == customer, Billing.month == old)
                .values(days_late=days)
            )
    engine.dispose()
    after = features(demo_copy, Window(cutoff), dt.date(2026, 10, 31))
    overdue_before, overdue_after = before["overdue_bills"], after["overdue_bills"]
    assert overdue_after[late] == overdue_before[late] + 1
    assert overdue_after[on_time] == overdue_before[on_time]


def test_contract_renewed_after_the_cutoff_counts_as_ending_then() -> None:
    cutoff, export = dt.date(2026, 6, 30), dt.date(2026, 10, 31)
    renewed = dt.date(2027, 8, 15)  # renewed on 2026-08-15, inside the window
    assert contract_end_as_of(renewed, cutoff, export) == dt.date(2026, 8, 15)
    assert contract_end_as_of(dt.date(2027, 1, 31), cutoff, export) == dt.date(2027, 1, 31)
    assert contract_end_as_of(None, cutoff, export) is None


def test_labels_mark_customers_who_held_nothing_in_the_window(demo_store: Path) -> None:
    window = Window(dt.date(2026, 7, 31))
    frame = features(demo_store, window, dt.date(2026, 10, 31), labels=True)
    active = frame[frame["active"]]
    assert 0.03 < active[LABEL].mean() < 0.20
    assert not frame.loc[~frame["active"], LABEL].any(), "only active customers can churn"
    engine = make_engine(f"sqlite:///{demo_store}")
    with engine.connect() as conn:
        churner = int(active[active[LABEL]].index[0])
        ends = conn.execute(
            select(Holding.end_date).where(Holding.customer_id == churner)
        ).scalars()
        assert all(e is not None and e <= window.label_end for e in ends)
        exits = conn.execute(
            select(Interaction.kind).where(
                Interaction.customer_id == churner, Interaction.kind == InteractionKind.EXIT
            )
        ).all()
    engine.dispose()
    assert exits is not None


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_chunk_size_does_not_change_features(demo_store: Path, size: int) -> None:
    engine = make_engine(f"sqlite:///{demo_store}")
    builder = FeatureBuilder(engine, Window(dt.date(2026, 10, 31)))
    whole = pd.concat(list(builder.chunks(1000)))
    pieces = pd.concat(list(builder.chunks(size))) if size != 1 else None
    engine.dispose()
    if pieces is not None:
        pd.testing.assert_frame_equal(whole, pieces)


def test_labels_follow_switches_into_an_open_holding() -> None:
    from scoring.features import _churn_labels

    d = dt.date
    holdings = pd.DataFrame(
        [
            # 1: switches product inside the window, the new one stays open: not churn
            (1, 10, d(2025, 1, 1), d(2026, 8, 14), 10.0),
            (1, 11, d(2026, 8, 15), None, 12.0),
            (1, 12, d(2026, 8, 15), d(2026, 9, 1), 3.0),
            # 2: everything ends inside the window: churn
            (2, 10, d(2025, 1, 1), d(2026, 9, 30), 10.0),
            # 3: ends after the window: not churn
            (3, 10, d(2025, 1, 1), d(2027, 1, 1), 10.0),
            # 4: a gap inside the window, then back: churn (held nothing for a while)
            (4, 10, d(2025, 1, 1), d(2026, 8, 1), 10.0),
            (4, 10, d(2026, 9, 1), None, 10.0),
        ],
        columns=["customer_id", "product_id", "start_date", "end_date", "monthly_revenue"],
    )
    labels = _churn_labels(pd.Index([1, 2, 3, 4, 5]), holdings, Window(d(2026, 7, 31)))
    assert labels.to_dict() == {1: False, 2: True, 3: False, 4: True, 5: False}
