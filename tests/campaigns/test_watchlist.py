"""The satisfaction watch list: the bands at their edges, the latest survey winning,
contacts since the survey, promoters apart, and the order."""

from __future__ import annotations

import pandas as pd
import pytest
from planner_base import ScoredBase
from sqlalchemy import Engine, update
from watchlist_base import complaint, contact, left, survey

from campaigns.watchlist import watch_list
from store.db import transaction
from store.models import AttemptStatus, Customer, Score


def _readings(engine: Engine) -> dict[int, str]:
    """customer id -> reading, at risk and promoters alike."""
    found = watch_list(engine)
    both = [found.at_risk, found.promoters]
    return {int(cid): str(r) for frame in both for cid, r in frame["reading"].items()}


@pytest.mark.parametrize(
    ("score", "scale", "reading"),
    [
        (1, 10, "watch"),
        (6, 10, "watch"),
        (7, 10, None),  # passive: on neither list
        (8, 10, None),
        (9, 10, "promoter"),
        (10, 10, "promoter"),
        (1, 5, "open_dissatisfaction"),
        (2, 5, "open_dissatisfaction"),
        (3, 5, "hidden_dissatisfaction"),
        (4, 5, None),
        (5, 5, "promoter"),
    ],
)
def test_scale_bands_at_their_edges(
    engine: Engine, scored_base: ScoredBase, score: int, scale: int, reading: str | None
) -> None:
    (cid,) = scored_base(1)
    survey(engine, cid, score, scale)
    assert _readings(engine).get(cid) == reading


def test_the_latest_survey_wins(engine: Engine, scored_base: ScoredBase) -> None:
    better, worse, unsurveyed = scored_base(3)
    survey(engine, better, 2, 10, days=0)
    survey(engine, better, 8, 10, days=5)  # answered better since: no longer a worry
    survey(engine, worse, 10, 10, days=0)
    survey(engine, worse, 3, 5, days=9)  # the promoter is now hiddenly dissatisfied
    readings = _readings(engine)
    assert better not in readings
    assert unsurveyed not in readings
    assert readings[worse] == "hidden_dissatisfaction"


def test_contacts_since_the_survey(engine: Engine, scored_base: ScoredBase) -> None:
    before, after, spoken, untouched = scored_base(4)
    for cid in (before, after, spoken, untouched):
        survey(engine, cid, 4, 10, days=10)
    contact(engine, before, days=3, spoken=True)  # before the survey: does not count
    contact(engine, after, days=12, campaign="october care")
    contact(engine, after, days=15, campaign="november care", status=AttemptStatus.NO_ANSWER)
    contact(engine, after, days=16, status=AttemptStatus.CANCELED)  # never placed
    contact(engine, spoken, days=11, spoken=True)
    rows = watch_list(engine).at_risk.loc[[before, after, spoken, untouched]]
    assert rows["contacts_since_survey"].tolist() == [0, 2, 1, 0]
    assert rows["spoken_since_survey"].tolist() == [False, False, True, False]
    last = rows.loc[after]
    assert last["last_contact_campaign"] == "november care"
    assert last["last_contact_outcome"] == "no-answer"
    assert last["last_contact_channel"] == "call"
    assert last["last_contact_at"].day == 16  # 1 October + 15 days
    assert pd.isna(rows.loc[before, "last_contact_at"])
    counts = watch_list(engine).counts()
    assert counts["not_contacted_since_survey"] == 2


def test_promoters_apart_and_the_order(engine: Engine, scored_base: ScoredBase) -> None:
    low, high, unscored, promoter, gone = scored_base(5, p_churn=[0.1, 0.4, 0.3, 0.2, 0.5])
    for cid in (low, high, unscored, gone):
        survey(engine, cid, 2, 5)
    survey(engine, promoter, 9, 10)
    with transaction(engine) as session:
        session.execute(update(Score).values(clv=1000.0))
        session.execute(update(Score).where(Score.customer_id == unscored).values(p_churn=None))
        session.execute(update(Customer).where(Customer.id == unscored).values(name="Unscored"))
    # a customer with no score at all stays on the list, last; one who holds nothing leaves it
    with transaction(engine) as session:
        session.query(Score).filter(Score.customer_id == unscored).delete()
    left(engine, gone)
    complaint(engine, high)
    complaint(engine, high, closed=True, days=1)
    found = watch_list(engine)
    assert found.at_risk.index.tolist() == [high, low, unscored]
    assert found.at_risk.loc[high, "value_at_risk"] == pytest.approx(400.0)
    assert found.at_risk["open_complaints"].tolist() == [1, 0, 0]
    assert found.promoters.index.tolist() == [promoter]
    counts = found.counts()
    assert counts["left"] == 1
    assert counts["open_dissatisfaction"] == 3
    assert counts["with_open_complaints"] == 1
    assert any("win-back" in note for note in found.notes())
    assert any("no churn score" in note for note in found.notes())
    page = found.to_json(offset=1, limit=1)
    assert [r["customer"] for r in page["at_risk"]] == [found.at_risk.loc[low, "customer"]]
    assert page["promoters"] == []
    first = found.to_json()["at_risk"][0]
    assert first["churn_risk"] == 0.4
    assert first["open_complaints"] == 1
    assert first["survey_at"].startswith("2026-10-01T12:00")
