"""The matrix in force, product states per customer and their precedence, maturity."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy import Engine, event, insert, select

from campaigns import matrix as matrix_module
from campaigns.matrix import (
    COLUMNS,
    CustomerNotFoundError,
    NoMatrixError,
    ProductState,
    customer_states,
    customers_by_segment,
    load_matrix,
    maturity,
    product_states,
)
from store.db import transaction
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
    Group,
    Holding,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    Product,
    Segment,
)

AS_OF = dt.date(2026, 6, 30)
PRODUCTS = {
    "MOB_S": ("Mobile S", "MOBILE", 1),
    "MOB_L": ("Mobile L", "MOBILE", 2),
    "BB_100": ("Fiber 100", "BROADBAND", 1),
    "TV": ("TV Essentials", "TV", 1),
}
# Version 1 targets MOB_L at the young too; version 2 (in force) does not.
MATRIX_V1 = {"YOUNG": ["MOB_S", "MOB_L", "BB_100", "TV"], "FAMILY": ["MOB_L"], "EMPTY": []}
MATRIX_V2 = {"YOUNG": ["MOB_S", "BB_100", "TV"], "FAMILY": ["MOB_L"], "EMPTY": []}


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)


@dataclass
class Store:
    """A catalogue, a versioned matrix and helpers that write customers and their history."""

    engine: Engine
    products: dict[str, int]
    segments: dict[str, int]

    def customer(self, segment: str | None = "YOUNG") -> int:
        with transaction(self.engine) as session:
            number = len(session.scalars(select(Customer.id)).all()) + 1
            customer = Customer(
                external_id=f"C{number:04d}",
                name=f"Customer {number}",
                phone=f"+1212555{number:04d}",
                country="US",
                customer_type=CustomerType.B2C,
                segment_id=None if segment is None else self.segments[segment],
            )
            session.add(customer)
            session.flush()
            return customer.id

    def holding(self, customer: int, product: str, start: str, end: str | None = None) -> None:
        with transaction(self.engine) as session:
            session.add(
                Holding(
                    customer_id=customer,
                    product_id=self.products[product],
                    start_date=dt.date.fromisoformat(start),
                    end_date=None if end is None else dt.date.fromisoformat(end),
                    monthly_revenue=10.0,
                )
            )

    def call(
        self,
        customer: int,
        product: str,
        when: dt.datetime,
        code: str | None = None,
        *,
        reason: str | None = None,
        answered_by: AnsweredBy | None = AnsweredBy.HUMAN,
        answered: bool = True,
    ) -> None:
        """One call on a list entry for the product, with its disposition if ``code``."""
        with transaction(self.engine) as session:
            number = len(session.scalars(select(Campaign.id)).all()) + 1
            campaign = Campaign(name=f"campaign {number}", kind=CampaignKind.CROSS_SELL)
            session.add(campaign)
            session.flush()
            entry = ListEntry(
                campaign_id=campaign.id,
                customer_id=customer,
                product_id=self.products[product],
                group=Group.TREATMENT,
            )
            session.add(entry)
            session.flush()
            attempt = Attempt(
                campaign_id=campaign.id,
                list_entry_id=entry.id,
                customer_id=customer,
                channel=Channel.CALL,
                phone="+12125550000",
                status=AttemptStatus.COMPLETED if answered else AttemptStatus.NO_ANSWER,
                answered_by=answered_by if answered else None,
                answered_at=when if answered else None,
                created_at=when - dt.timedelta(minutes=1),
            )
            session.add(attempt)
            session.flush()
            if code is not None:
                session.add(
                    Disposition(
                        attempt_id=attempt.id,
                        list_entry_id=entry.id,
                        customer_id=customer,
                        code=code,
                        refusal_reason=reason,
                        created_at=when + dt.timedelta(minutes=5),
                    )
                )

    def states(self, customer: int, as_of: dt.date = AS_OF) -> dict[str, tuple[str, str | None]]:
        """Product code -> (state, date) for one customer."""
        frame = product_states(self.engine, as_of, [customer])
        codes = {pid: code for code, pid in self.products.items()}
        return {
            codes[pid]: (str(state), None if pd.isna(day) else str(pd.Timestamp(day).date()))
            for pid, state, day in zip(
                frame["product_id"], frame["state"], frame["state_date"], strict=True
            )
        }


@pytest.fixture
def store(engine: Engine) -> Store:
    with transaction(engine) as session:
        products = {
            code: Product(code=code, name=name, family=family, tier=tier, monthly_price=10)
            for code, (name, family, tier) in PRODUCTS.items()
        }
        segments = {code: Segment(code=code, name=code.title()) for code in MATRIX_V1}
        session.add_all([*products.values(), *segments.values()])
        session.flush()
        for number, cells in ((1, MATRIX_V1), (2, MATRIX_V2)):
            version = MatrixVersion(version=number, source=f"matrix-v{number}.csv")
            version.cells = [
                MatrixCell(segment_id=segments[s].id, product_id=products[p].id)
                for s, targeted in cells.items()
                for p in targeted
            ]
            session.add(version)
        return Store(
            engine,
            {code: p.id for code, p in products.items()},
            {code: s.id for code, s in segments.items()},
        )


# --- the matrix ----------------------------------------------------------------------


def test_load_matrix_in_force_and_by_version(store: Store) -> None:
    matrix = load_matrix(store.engine)
    assert matrix.version == 2
    assert matrix.source == "matrix-v2.csv"
    assert [s.code for s in matrix.segments] == ["YOUNG", "FAMILY", "EMPTY"]
    assert matrix.segments[0] == ("YOUNG", "Young")
    assert matrix.products[1] == ("MOB_L", "Mobile L", "MOBILE", 2)
    assert matrix.targeted("YOUNG") == ["MOB_S", "BB_100", "TV"]
    assert matrix.targeted("EMPTY") == []
    assert matrix.targeting("MOB_L") == ["FAMILY"]
    assert ("FAMILY", "MOB_L") in matrix.cells
    with store.engine.connect() as conn:
        assert load_matrix(conn, 1).targeted("YOUNG") == ["MOB_S", "MOB_L", "BB_100", "TV"]
    with pytest.raises(NoMatrixError, match="versions are 1 to 2"):
        load_matrix(store.engine, 7)


def test_no_matrix_says_how_to_import_one(engine: Engine) -> None:
    with pytest.raises(NoMatrixError, match="telecampaign import matrix FILE"):
        load_matrix(engine)
    with pytest.raises(NoMatrixError):
        product_states(engine, AS_OF)


# --- product states --------------------------------------------------------------------


def test_every_state(store: Store) -> None:
    c = store.customer()
    store.holding(c, "MOB_S", "2025-01-10")
    store.call(c, "BB_100", at("2026-05-02"), "accepted")
    store.call(c, "TV", at("2026-04-20"), "refused", reason="too expensive")
    assert store.states(c) == {
        "MOB_S": ("signed", "2025-01-10"),
        "BB_100": ("applied", "2026-05-02"),
        "TV": ("refused", "2026-04-20"),
    }
    offered, untouched = store.customer(), store.customer()
    store.call(offered, "TV", at("2026-06-01"), "callback")
    assert store.states(offered)["TV"] == ("offered", "2026-06-01")
    assert set(store.states(untouched).values()) == {("not_offered", None)}
    frame = product_states(store.engine, AS_OF, [c])
    assert list(frame.columns) == COLUMNS
    assert frame.set_index("product_id").at[store.products["TV"], "refusal_reason"] == (
        "too expensive"
    )
    assert frame["refusal_reason"].isna().sum() == 2


def test_a_holding_beats_a_later_refusal(store: Store) -> None:
    c = store.customer()
    store.holding(c, "BB_100", "2026-01-01")
    store.call(c, "BB_100", at("2026-05-01"), "refused", reason="happy as is")
    row = (
        product_states(store.engine, AS_OF, [c])
        .set_index("product_id")
        .loc[store.products["BB_100"]]
    )
    assert row["state"] == "signed"
    assert pd.isna(row["refusal_reason"])
    assert row["state_date"] == pd.Timestamp("2026-01-01")


def test_the_latest_disposition_wins(store: Store) -> None:
    c = store.customer()
    store.call(c, "BB_100", at("2026-02-01"), "refused", reason="no money")
    store.call(c, "BB_100", at("2026-04-01"), "accepted")
    store.call(c, "TV", at("2026-02-01"), "accepted")
    store.call(c, "TV", at("2026-03-15"), "refused", reason="changed mind")
    store.call(c, "MOB_S", at("2026-03-01"), "refused")
    store.call(c, "MOB_S", at("2026-03-01", hour=15), "callback")
    states = store.states(c)
    assert states["BB_100"] == ("applied", "2026-04-01")
    assert states["TV"] == ("refused", "2026-03-15")
    assert states["MOB_S"] == ("offered", "2026-03-01")


def test_calls_without_a_conversation_hide_nothing(store: Store) -> None:
    c = store.customer()
    store.call(c, "TV", at("2026-03-01"), "refused", reason="no TV")
    store.call(c, "TV", at("2026-04-01"), "no_answer", answered=False)
    store.call(c, "TV", at("2026-04-02"), "voicemail", answered_by=AnsweredBy.MACHINE)
    store.call(c, "TV", at("2026-04-03"), "wrong_person")
    store.call(c, "TV", at("2026-04-04"), answered_by=AnsweredBy.MACHINE)
    store.call(c, "TV", at("2026-04-05"), answered=False)
    assert store.states(c)["TV"] == ("refused", "2026-03-01")


def test_an_answered_call_without_a_disposition_is_an_offer(store: Store) -> None:
    c = store.customer()
    store.call(c, "TV", at("2026-05-05"))
    store.call(c, "MOB_S", at("2026-05-05"), answered_by=None)  # no machine detection
    states = store.states(c)
    assert states["TV"] == ("offered", "2026-05-05")
    assert states["MOB_S"] == ("offered", "2026-05-05")


def test_nothing_after_the_day_counts(store: Store) -> None:
    c = store.customer()
    store.call(c, "TV", at("2026-06-30", hour=23), "refused")
    store.call(c, "TV", at("2026-07-01", hour=0), "accepted")
    store.holding(c, "MOB_S", "2026-07-01")
    states = store.states(c)
    assert states["TV"] == ("refused", "2026-06-30")
    assert states["MOB_S"] == ("not_offered", None)
    later = store.states(c, dt.date(2026, 7, 1))
    assert later["TV"] == ("applied", "2026-07-01")
    assert later["MOB_S"] == ("signed", "2026-07-01")


def test_an_ended_holding_is_no_longer_signed(store: Store) -> None:
    c = store.customer()
    store.call(c, "MOB_S", at("2023-12-20"), "accepted")
    store.holding(c, "MOB_S", "2024-01-01", "2026-03-01")
    store.holding(c, "BB_100", "2024-01-01", "2026-06-30")  # ends on the day itself
    store.holding(c, "TV", "2024-01-01", "2026-07-01")  # ends the day after
    states = store.states(c)
    # The acceptance that led to the holding does not come back once it has ended.
    assert states["MOB_S"] == ("not_offered", None)
    assert states["BB_100"] == ("not_offered", None)
    assert states["TV"] == ("signed", "2024-01-01")
    assert store.states(c, dt.date(2026, 2, 28))["MOB_S"] == ("signed", "2024-01-01")
    store.call(c, "MOB_S", at("2026-03-01"), "refused", reason="moved abroad")
    assert store.states(c)["MOB_S"] == ("refused", "2026-03-01")


def test_a_renewed_holding_is_signed_from_its_new_start(store: Store) -> None:
    c = store.customer()
    store.holding(c, "MOB_S", "2023-01-01", "2025-01-01")
    store.holding(c, "MOB_S", "2025-01-01")
    assert store.states(c)["MOB_S"] == ("signed", "2025-01-01")


def test_only_products_targeted_at_the_segment_are_listed(store: Store) -> None:
    young, family, nobody, empty = (
        store.customer("YOUNG"),
        store.customer("FAMILY"),
        store.customer(None),
        store.customer("EMPTY"),
    )
    store.holding(young, "MOB_L", "2025-01-01")  # targeted in version 1 only
    store.call(young, "MOB_L", at("2026-05-01"), "accepted")
    assert set(store.states(young)) == {"MOB_S", "BB_100", "TV"}
    assert set(store.states(family)) == {"MOB_L"}
    assert store.states(nobody) == {}
    assert store.states(empty) == {}
    older = product_states(store.engine, AS_OF, [young], version=1)
    assert len(older) == 4
    assert ProductState.SIGNED in set(older["state"])


def test_chunks_and_id_lists_give_the_same_states(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [store.customer(segment) for segment in ("YOUNG", "FAMILY", None) * 4]
    for i, c in enumerate(customers):
        store.holding(c, "MOB_S" if i % 2 else "MOB_L", "2025-01-01")
        store.call(c, "TV", at("2026-03-01"), ["accepted", "refused", "callback"][i % 3])
    whole = product_states(store.engine, AS_OF)
    assert whole["customer_id"].is_monotonic_increasing
    assert len(whole) == 4 * (3 + 1)
    for chunk in (1, 2, 5):
        pd.testing.assert_frame_equal(product_states(store.engine, AS_OF, chunk=chunk), whole)
    some = customers[::3]
    expected = whole[whole["customer_id"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(product_states(store.engine, AS_OF, some[::-1]), expected)
    # A list longer than one IN (...) reads id ranges and drops the others.
    monkeypatch.setattr(matrix_module, "_IN_LIMIT", 1)
    pd.testing.assert_frame_equal(product_states(store.engine, AS_OF, some, chunk=2), expected)
    assert product_states(store.engine, AS_OF, []).empty
    assert list(product_states(store.engine, AS_OF, []).columns) == COLUMNS


def test_the_whole_base_in_a_few_queries(store: Store) -> None:
    """Set-based: the query count does not grow with the number of customers."""
    with transaction(store.engine) as session:
        session.execute(
            insert(Customer),
            [
                {
                    "external_id": f"B{i:05d}",
                    "name": "bulk",
                    "country": "US",
                    "customer_type": CustomerType.B2C,
                    "segment_id": store.segments["YOUNG"],
                }
                for i in range(3000)
            ],
        )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        frame = product_states(store.engine, AS_OF, chunk=1000)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert len(frame) == 3000 * 3
    assert len(statements) <= 3 + 4 * 3


# --- maturity ---------------------------------------------------------------------------


def test_maturity_is_held_over_targeted(store: Store) -> None:
    two_of_three, none_held, family, nobody, empty = (
        store.customer("YOUNG"),
        store.customer("YOUNG"),
        store.customer("FAMILY"),
        store.customer(None),
        store.customer("EMPTY"),
    )
    store.holding(two_of_three, "MOB_S", "2025-01-01")
    store.holding(two_of_three, "TV", "2025-01-01")
    store.holding(two_of_three, "MOB_L", "2025-01-01")  # not targeted: does not count
    store.holding(none_held, "MOB_S", "2020-01-01", "2025-01-01")
    store.call(none_held, "TV", at("2026-05-01"), "accepted")  # applied is not held
    store.holding(family, "MOB_L", "2025-01-01")
    store.holding(family, "MOB_L", "2025-06-01")  # the same product twice counts once
    result = maturity(store.engine, AS_OF)
    assert result.name == "maturity"
    assert result.index.name == "customer_id"
    assert result[two_of_three] == pytest.approx(2 / 3)
    assert result[none_held] == 0.0
    assert result[family] == 1.0
    assert math.isnan(result[nobody])
    assert math.isnan(result[empty])
    only = maturity(store.engine, AS_OF, [family, nobody])
    assert list(only.index) == [family, nobody]
    assert maturity(store.engine, AS_OF, []).empty


# --- one customer, as the CLI shows them -------------------------------------------------


def test_customer_states(store: Store) -> None:
    c = store.customer()
    store.holding(c, "MOB_S", "2025-01-10")
    store.call(c, "TV", at("2026-04-20"), "refused", reason="too expensive")
    view = customer_states(store.engine, "C0001", AS_OF)
    assert (view.name, view.segment, view.matrix.version) == ("Customer 1", ("YOUNG", "Young"), 2)
    assert [(p.code, p.state, p.date, p.refusal_reason) for p in view.products] == [
        ("MOB_S", ProductState.SIGNED, dt.date(2025, 1, 10), None),
        ("BB_100", ProductState.NOT_OFFERED, None, None),
        ("TV", ProductState.REFUSED, dt.date(2026, 4, 20), "too expensive"),
    ]
    assert view.maturity == pytest.approx(1 / 3)
    store.customer(None)
    lone = customer_states(store.engine, "C0002", AS_OF)
    assert (lone.segment, lone.products, lone.maturity) == (None, [], None)
    with pytest.raises(CustomerNotFoundError, match="C9999"):
        customer_states(store.engine, "C9999", AS_OF)
    assert customers_by_segment(store.engine) == {"YOUNG": 1}


def test_state_names() -> None:
    assert [s.value for s in ProductState] == [
        "not_offered",
        "offered",
        "applied",
        "signed",
        "refused",
    ]
