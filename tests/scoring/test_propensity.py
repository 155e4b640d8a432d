"""The offer-acceptance propensity model: its rows, versions, predictions and offers."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from scoring.features import Window, data_end
from scoring.propensity import (
    FEATURES,
    LABEL,
    PropensityModel,
    candidate_pairs,
    load_active_propensity,
    offer_rows,
    predict_acceptance,
    training_rows,
)
from scoring.propensity_training import train_propensity
from store.db import make_engine, transaction
from store.models import (
    Billing,
    Campaign,
    CampaignKind,
    Customer,
    CustomerType,
    Disposition,
    Group,
    Holding,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    Product,
    Segment,
)

CUTOFF = dt.date(2026, 3, 31)
SMALL = {"min_taken_up": 5, "fit_windows": 3}


# ----------------------------------------------------------------------------- a tiny store


def _tiny_store(engine: Engine) -> dict[str, int]:
    """One segment targeting MOB_1..3 and TV_1; ADDON off the matrix; ids by code or name.

    A holds MOB_2, B holds MOB_1, C held TV_1 until before the cutoff, D holds TV_1 and
    starts MOB_1 within the 90 days after the cutoff and MOB_2 after them.
    """
    with transaction(engine) as s:
        segment = Segment(code="S1", name="Segment one")
        products = {
            code: Product(code=code, name=code, family=family, tier=tier, monthly_price=price)
            for code, family, tier, price in (
                ("MOB_1", "MOBILE", 1, 10),
                ("MOB_2", "MOBILE", 2, 20),
                ("MOB_3", "MOBILE", 3, 30),
                ("TV_1", "TV", 1, 15),
                ("ADDON", "ADDON", 1, 5),
            )
        }
        s.add_all([segment, *products.values()])
        s.flush()
        matrix = MatrixVersion(version=1, source="test")
        s.add(matrix)
        s.flush()
        for code in ("MOB_1", "MOB_2", "MOB_3", "TV_1"):
            s.add(
                MatrixCell(
                    matrix_version_id=matrix.id,
                    segment_id=segment.id,
                    product_id=products[code].id,
                )
            )
        customers = {
            name: Customer(
                external_id=name,
                name=name,
                country="US",
                customer_type=CustomerType.B2C,
                segment_id=segment.id,
                signup_date=dt.date(2025, 1, 1),
            )
            for name in "ABCD"
        }
        s.add_all(customers.values())
        s.flush()
        start = dt.date(2025, 1, 1)
        for name, code, begin, end in (
            ("A", "MOB_2", start, None),
            ("B", "MOB_1", start, None),
            ("C", "TV_1", start, dt.date(2026, 1, 10)),
            ("D", "TV_1", start, None),
            ("D", "MOB_1", CUTOFF + dt.timedelta(days=30), None),
            ("D", "MOB_2", CUTOFF + dt.timedelta(days=95), None),
        ):
            s.add(
                Holding(
                    customer_id=customers[name].id,
                    product_id=products[code].id,
                    start_date=begin,
                    end_date=end,
                    monthly_revenue=10,
                )
            )
        for customer in customers.values():
            for month in range(1, 7):
                s.add(Billing(customer_id=customer.id, month=dt.date(2026, month, 1), amount=25))
        return {
            **{k: v.id for k, v in products.items()},
            **{k: v.id for k, v in customers.items()},
        }


def _rows_by_pair(rows: pd.DataFrame, ids: dict[str, int]) -> dict[tuple[str, str], pd.Series]:
    who, what = _names(ids)
    return {(who[int(r["customer_id"])], what[int(r["product_id"])]): r for _, r in rows.iterrows()}


def _names(ids: dict[str, int]) -> tuple[dict[int, str], dict[int, str]]:
    """Customer names and product codes by id."""
    return (
        {v: k for k, v in ids.items() if k in "ABCD"},
        {v: k for k, v in ids.items() if k not in "ABCD"},
    )


def test_rows_are_the_offerable_pairs_with_their_tier_step(engine: Engine) -> None:
    ids = _tiny_store(engine)
    rows = _rows_by_pair(training_rows(engine, Window(CUTOFF)), ids)
    assert {pair: r["tier_step"] for pair, r in rows.items()} == {
        ("A", "MOB_1"): "lower",
        ("A", "MOB_3"): "next_up",
        ("A", "TV_1"): "new_family",
        ("B", "MOB_2"): "next_up",
        ("B", "MOB_3"): "two_up",
        ("B", "TV_1"): "new_family",
        ("D", "MOB_1"): "new_family",
        ("D", "MOB_2"): "new_family",
        ("D", "MOB_3"): "new_family",
    }, "held products, products off the matrix and customers holding nothing are left out"
    assert rows[("A", "MOB_3")]["held_tier"] == 2
    assert rows[("B", "MOB_3")]["tier"] == 3
    assert rows[("D", "MOB_3")]["held_tier"] == 0
    assert rows[("A", "TV_1")]["price"] == 15
    assert rows[("A", "TV_1")]["product"] == "TV_1"
    assert rows[("A", "TV_1")]["family"] == "TV"
    taken = {pair for pair, r in rows.items() if r[LABEL]}
    assert taken == {("D", "MOB_1")}, "MOB_2 starts after the 90 days"
    d = rows[("D", "MOB_1")]
    assert d["products_held"] == 1, "a holding that starts after the cutoff is only a label"
    assert (d["offered"], d["cutoff"], d["labelled_on"]) == (0.0, CUTOFF, Window(CUTOFF).label_end)


def test_candidate_pairs_at_a_day(engine: Engine) -> None:
    ids = _tiny_store(engine)
    pairs = candidate_pairs(engine, CUTOFF + dt.timedelta(days=31), chunk=2)
    who, what = _names(ids)
    found = {(who[c], what[p]) for c, p in pairs.itertuples(index=False)}
    assert ("D", "MOB_1") not in found, "held by then"
    assert ("D", "MOB_2") in found
    assert len(found) == 8 == len(pairs)
    assert list(pairs.columns) == ["customer_id", "product_id"]


def test_offer_rows_come_from_accepted_and_refused_sales_offers(engine: Engine) -> None:
    ids = _tiny_store(engine)
    launched = dt.datetime(2026, 5, 10, 9, tzinfo=dt.UTC)
    with transaction(engine) as s:
        sales = Campaign(name="x-sell", kind=CampaignKind.CROSS_SELL, launched_at=launched)
        retention = Campaign(name="keep", kind=CampaignKind.ANTI_CHURN, launched_at=launched)
        s.add_all([sales, retention])
        s.flush()

        def offer(campaign: Campaign, who: str, what: str | None, *codes: str) -> None:
            entry = ListEntry(
                campaign_id=campaign.id,
                customer_id=ids[who],
                product_id=ids[what] if what else None,
                group=Group.TREATMENT,
            )
            s.add(entry)
            s.flush()
            for day, code in enumerate(codes, start=12):
                s.add(
                    Disposition(
                        list_entry_id=entry.id,
                        customer_id=ids[who],
                        code=code,
                        created_at=dt.datetime(2026, 5, day, 10, tzinfo=dt.UTC),
                    )
                )

        offer(sales, "A", "MOB_3", "refused", "callback", "accepted")
        offer(sales, "B", "TV_1", "refused")
        offer(sales, "D", "MOB_3", "callback")
        offer(sales, "C", None, "accepted")
        offer(retention, "D", "MOB_2", "accepted")
    rows = _rows_by_pair(offer_rows(engine), ids)
    assert set(rows) == {("A", "MOB_3"), ("B", "TV_1")}
    a, b = rows[("A", "MOB_3")], rows[("B", "TV_1")]
    assert (bool(a[LABEL]), bool(b[LABEL])) == (True, False), "the last answer counts"
    assert a["cutoff"] == dt.date(2026, 5, 9), "features as the list found them"
    assert a["labelled_on"] == dt.date(2026, 5, 14)
    assert (a["offered"], a["tier_step"], a["held_tier"]) == (1.0, "next_up", 2.0)
    assert set(FEATURES) <= set(a.index)


def test_no_offers_no_rows(engine: Engine) -> None:
    _tiny_store(engine)
    rows = offer_rows(engine)
    assert rows.empty
    assert set(FEATURES) <= set(rows.columns)


# ----------------------------------------------------------------------------- the demo store


@pytest.fixture(scope="module")
def trained(
    demo_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, PropensityModel]]:
    """A copy of the demo store with a propensity model trained on it (read-only)."""
    folder = tmp_path_factory.mktemp("propensity")
    shutil.copy(demo_store, folder / "store.db")
    engine = make_engine(f"sqlite:///{folder / 'store.db'}")
    train_propensity(engine, folder / "models", **SMALL)
    model = load_active_propensity(engine)
    assert model is not None
    yield engine, model
    engine.dispose()


def test_a_holding_started_after_the_cutoff_shows_only_in_the_label(demo_copy: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_copy}")
    end = data_end(engine)
    assert end is not None
    window = Window(end - dt.timedelta(days=180))
    before = training_rows(engine, window, end)
    pair = before[(before["tier_step"] == "new_family") & ~before[LABEL]].iloc[0]
    customer, product = int(pair["customer_id"]), int(pair["product_id"])
    with transaction(engine) as s:
        s.add(
            Holding(
                customer_id=customer,
                product_id=product,
                start_date=window.cutoff + dt.timedelta(days=1),
                monthly_revenue=20,
            )
        )
    after = training_rows(engine, window, end)
    assert len(after) == len(before)
    mine = before["customer_id"] == customer
    pd.testing.assert_frame_equal(
        before.loc[mine, FEATURES], after.loc[mine, FEATURES], check_dtype=False
    )
    flipped = after[after[LABEL] != before[LABEL]]
    assert list(zip(flipped["customer_id"], flipped["product_id"], strict=True)) == [
        (customer, product)
    ]
    assert bool(flipped[LABEL].iloc[0])
    engine.dispose()


def test_predictions_are_probabilities_in_the_order_asked(
    trained: tuple[Engine, PropensityModel],
) -> None:
    engine, model = trained
    end = data_end(engine)
    assert end is not None
    pairs = candidate_pairs(engine, end)
    p = predict_acceptance(engine, model, pairs, end, chunk=300)
    assert p.shape == (len(pairs),)
    assert np.isfinite(p).all()
    assert ((p > 0) & (p < 1)).all()
    assert 0.001 < p.mean() < 0.05, "organic take-up within 90 days is rare"

    shuffled = pairs.sample(frac=1.0, random_state=1).reset_index(drop=True)
    again = predict_acceptance(engine, model, shuffled, end)
    expected = pd.Series(p, index=pd.MultiIndex.from_frame(pairs))
    np.testing.assert_allclose(again, expected.loc[pd.MultiIndex.from_frame(shuffled)].to_numpy())

    with engine.connect() as conn:
        held = conn.execute(
            select(Holding.customer_id, Holding.product_id).where(Holding.end_date.is_(None))
        ).first()
    assert held is not None
    odd = pd.DataFrame(
        {
            "customer_id": [int(pairs["customer_id"].iloc[0]), 10**9, held[0], None],
            "product_id": [int(pairs["product_id"].iloc[0]), 1, held[1], 1],
        }
    )
    q = predict_acceptance(engine, model, odd, end)
    assert q[0] == pytest.approx(p[0])
    assert np.isnan(q[1:]).all(), "unknown customer, a product held, a blank id"
    assert predict_acceptance(engine, model, pairs.iloc[:0], end).shape == (0,)
