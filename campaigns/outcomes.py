"""What became of each customer on a list: reached or not, converted, still a customer.

Everything here is read from the store as of a date: the dialer's attempts and the
agents' dispositions say who was reached and what they said; the holdings feed says
who still holds a product and who started the offered one. Treated and holdout
customers are read the same way, so the reports can compare the two groups.

Coverage. A customer is active on a day when a holding covers it (start <= day <
end, no end = still held). Holdings that follow each other within a day are one run
of coverage, so switching products is not churn (as in ``scoring.features``).

Conversion attribution. The offered product counts as taken up when a holding of it
starts within the campaign's attribution window (default 30 days) after the anchor:
the first contact attempt for a treated customer the dialer tried, the launch for
everyone else (the holdout and treated customers never tried), so both groups are
watched for windows of the same length. ``attribute`` writes what it finds to the
conversions table: an accepted disposition is recorded as a claimed conversion and
confirmed once the feed shows the product; a product the feed shows without a
disposition is added (holdout customers included, so that incremental conversions
can be computed). Running it again changes nothing unless the store changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.orm import Session

from campaigns.errors import CampaignError, CampaignNotFoundError
from store.dialect import conflict_insert
from store.models import (
    Attempt,
    Campaign,
    CampaignKind,
    Conversion,
    Customer,
    Disposition,
    DispositionCode,
    Group,
    Holding,
    ListEntry,
    Product,
    Score,
    Segment,
)

__all__ = [
    "MEASURE_DAYS",
    "REACHED",
    "Attribution",
    "ListOutcomes",
    "attribute",
    "claim_conversion",
    "coverage_runs",
    "default_as_of",
    "list_outcomes",
]

# how long after the launch a treated customer must still be a customer to count as saved
MEASURE_DAYS = 90
# dispositions that mean the agent spoke with the customer
REACHED = (
    DispositionCode.ACCEPTED,
    DispositionCode.REFUSED,
    DispositionCode.CALLBACK,
    DispositionCode.DO_NOT_CALL,
)

_DAY = np.timedelta64(1, "D")
_OPEN = np.datetime64("2200-01-01")  # the end of a holding with no end date
_CHUNK = 30_000  # ids per IN (...) list


@dataclass(frozen=True)
class ListOutcomes:
    """One campaign's list, one row per entry, as of ``as_of``.

    ``frame`` columns: entry_id (index), customer_id, group, offer, product_id,
    segment, abc, clv, p_churn (the churn score at planning), stratum (the score
    decile the holdout was drawn within), contacts (calls placed and texts sent), tried (any contact
    attempt), reached, agent_id (who spoke with the customer), accepted,
    anchor (start of the attribution window), active_start (a customer at launch),
    active_end (a customer at the end of the measurement window, or at ``as_of``
    while it is open), revenue_end (the monthly revenue of what they hold then),
    revenue_start (the same the day before the launch),
    lost_on (first day without coverage after launch), converted (the offered
    product started in the attribution window), converted_on, revenue.
    """

    campaign_id: int
    name: str
    kind: CampaignKind
    launched_on: dt.date
    as_of: dt.date
    measure_days: int
    attribution_days: int
    economics: dict[str, Any]
    frame: pd.DataFrame
    # per group, the share of its customers holding a product on each day from the launch
    curves: dict[str, list[float]] = field(default_factory=dict)

    @property
    def window_end(self) -> dt.date:
        return self.launched_on + dt.timedelta(days=self.measure_days)

    @property
    def observed_until(self) -> dt.date:
        """The last day the report can see: the window's end, or ``as_of`` before it."""
        return min(self.window_end, self.as_of)

    @property
    def complete(self) -> bool:
        return self.as_of >= self.window_end


def default_as_of(engine: Engine, today: dt.date | None = None) -> dt.date:
    """The date reports are computed at: today, or the feed's latest date if later.

    The holdings feed can run ahead of the calendar (a simulated future, or a feed
    whose ends are dated); reports then read it up to its latest date.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    with engine.connect() as conn:
        latest = conn.execute(
            select(func.max(Holding.start_date), func.max(Holding.end_date))
        ).one()
    dates: list[dt.date] = [d for d in latest if d is not None]
    return max([today, *dates])


def list_outcomes(
    engine: Engine,
    name: str,
    *,
    as_of: dt.date | None = None,
    measure_days: int = MEASURE_DAYS,
) -> ListOutcomes:
    """Read campaign ``name``'s entries and what became of each, as of ``as_of``."""
    if measure_days < 1:
        raise CampaignError("measure_days: the measurement window must be at least one day")
    as_of = as_of or default_as_of(engine)
    with engine.connect() as conn:
        campaign = conn.execute(select(Campaign).where(Campaign.name == name)).first()
        if campaign is None:
            raise CampaignNotFoundError(name)
        row = campaign._mapping
        if row["launched_at"] is None:
            raise CampaignError(
                f"{name!r} has not been launched: there is nothing to measure yet "
                f"(`telecampaign launch {name}` starts it)"
            )
        launched_on: dt.date = row["launched_at"].date()
        frame = _entries(conn, row["id"], row["model_version_id"])
        if not frame.empty:
            frame = frame.join(_contacts(conn, row["id"]), how="left")
            frame = frame.join(_conversations(conn, row["id"]), how="left")
        frame = _fill_contacts(frame, launched_on)
        attribution_days = int(row["attribution_days"] or 30)
        outcome = ListOutcomes(
            campaign_id=row["id"],
            name=name,
            kind=CampaignKind(row["kind"]),
            launched_on=launched_on,
            as_of=as_of,
            measure_days=measure_days,
            attribution_days=attribution_days,
            economics=dict((row["plan"] or {}).get("economics") or {}),
            frame=frame,
        )
        if not frame.empty:
            spans = _holdings(conn, frame["customer_id"].unique().tolist(), as_of)
            _coverage(outcome, spans)
            _conversions(outcome, spans)
        else:
            for column in ("active_start", "active_end", "converted"):
                frame[column] = pd.Series(dtype=bool)
            frame["revenue_end"] = pd.Series(dtype=float)
            frame["revenue_start"] = pd.Series(dtype=float)
    return outcome


def _entries(conn: Connection, campaign_id: int, version_id: int | None) -> pd.DataFrame:
    query = (
        select(
            ListEntry.id.label("entry_id"),
            ListEntry.customer_id,
            ListEntry.group,
            ListEntry.offer,
            ListEntry.product_id,
            ListEntry.details,
            ListEntry.score_decile,
            Segment.code.label("segment"),
        )
        .join(Customer, Customer.id == ListEntry.customer_id)
        .outerjoin(Segment, Segment.id == Customer.segment_id)
        .where(ListEntry.campaign_id == campaign_id)
        .order_by(ListEntry.id)
    )
    rows = conn.execute(query).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=[
            "entry_id",
            "customer_id",
            "group",
            "offer",
            "product_id",
            "details",
            "stratum",
            "segment",
        ],
    ).set_index("entry_id")
    frame["group"] = frame["group"].map(lambda g: Group(g).value)
    frame["offer"] = frame["offer"].fillna("(none)")
    frame["segment"] = frame["segment"].fillna("(none)")
    clv = [float((d or {}).get("clv") or np.nan) for d in frame["details"]]
    frame["clv"] = np.asarray(clv, dtype=float)
    p_churn = [float((d or {}).get("p_churn", np.nan)) for d in frame["details"]]
    frame["p_churn"] = np.asarray(p_churn, dtype=float)
    frame = frame.drop(columns="details")
    frame["abc"] = "(none)"
    if version_id is not None and not frame.empty:
        scores = _scores(conn, version_id, frame["customer_id"].tolist())
        by_customer = frame["customer_id"].map(scores["abc"])
        frame["abc"] = by_customer.fillna("(none)")
        frame["clv"] = frame["clv"].fillna(frame["customer_id"].map(scores["clv"]))
    return frame


def _scores(conn: Connection, version_id: int, customer_ids: list[int]) -> pd.DataFrame:
    rows: list[tuple[Any, ...]] = []
    for part in _chunks(customer_ids):
        rows += conn.execute(
            select(Score.customer_id, Score.abc_class, Score.clv).where(
                Score.model_version_id == version_id, Score.customer_id.in_(part)
            )
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["customer_id", "abc", "clv"]).set_index(
        "customer_id"
    )


def _contacts(conn: Connection, campaign_id: int) -> pd.DataFrame:
    """Per entry: contact attempts that reached the carrier and when the first began."""
    placed = Attempt.provider_sid.is_not(None)
    rows = conn.execute(
        select(
            Attempt.list_entry_id,
            func.count().label("contacts"),
            func.min(func.coalesce(Attempt.started_at, Attempt.created_at)).label("first_try"),
        )
        .where(Attempt.campaign_id == campaign_id, placed, Attempt.list_entry_id.is_not(None))
        .group_by(Attempt.list_entry_id)
    ).all()
    return pd.DataFrame(
        [tuple(r) for r in rows], columns=["entry_id", "contacts", "first_try"]
    ).set_index("entry_id")


def _conversations(conn: Connection, campaign_id: int) -> pd.DataFrame:
    """Per entry: whether an agent spoke with the customer, who (the last), and the answer."""
    rows = conn.execute(
        select(
            Disposition.list_entry_id,
            Disposition.agent_id,
            Disposition.code,
            Disposition.created_at,
        )
        .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
        .where(ListEntry.campaign_id == campaign_id, Disposition.code.in_(REACHED))
        .order_by(Disposition.list_entry_id, Disposition.created_at, Disposition.id)
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["entry_id", "agent_id", "code", "at"])
    is_accepted = frame["code"] == DispositionCode.ACCEPTED.value
    accepted = is_accepted.groupby(frame["entry_id"]).any()
    accepted_at = frame[is_accepted].groupby("entry_id")["at"].min()
    last = frame.groupby("entry_id").last()
    return pd.DataFrame(
        {
            "reached": pd.Series(True, index=last.index),
            "agent_id": last["agent_id"],
            "accepted": accepted,
            "accepted_at": accepted_at,
        }
    )


def _fill_contacts(frame: pd.DataFrame, launched_on: dt.date) -> pd.DataFrame:
    for column in ("contacts", "first_try", "reached", "agent_id", "accepted", "accepted_at"):
        if column not in frame.columns:
            frame[column] = np.nan
    frame["contacts"] = frame["contacts"].fillna(0).astype(int)
    frame["reached"] = frame["reached"].astype("boolean").fillna(False).astype(bool)
    frame["accepted"] = frame["accepted"].astype("boolean").fillna(False).astype(bool)
    frame["tried"] = frame["contacts"] > 0
    frame["agent_id"] = frame["agent_id"].astype("Int64")
    launch = np.datetime64(launched_on, "D")
    first = pd.to_datetime(frame["first_try"], utc=True).dt.tz_localize(None)
    frame["anchor"] = first.to_numpy(dtype="datetime64[D]")
    frame.loc[frame["first_try"].isna(), "anchor"] = launch
    return frame.drop(columns="first_try")


def _holdings(conn: Connection, customer_ids: list[int], as_of: dt.date) -> pd.DataFrame:
    """Holdings of these customers as the feed knows them on ``as_of``."""
    rows: list[tuple[Any, ...]] = []
    for part in _chunks(customer_ids):
        rows += conn.execute(
            select(
                Holding.customer_id,
                Holding.product_id,
                Holding.start_date,
                Holding.end_date,
                Holding.monthly_revenue,
            ).where(Holding.customer_id.in_(part), Holding.start_date <= as_of)
        ).all()
    spans = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=["customer_id", "product_id", "start", "end", "revenue"],
    )
    spans["start"] = pd.to_datetime(spans["start"]).to_numpy(dtype="datetime64[D]")
    # an end after as_of is not known yet on as_of
    ends = pd.to_datetime(spans["end"]).to_numpy(dtype="datetime64[D]")
    ends = np.where(np.isnat(ends) | (ends > np.datetime64(as_of, "D")), _OPEN, ends)
    spans["end"] = ends
    spans["revenue"] = spans["revenue"].astype(float)
    return spans


def coverage_runs(spans: pd.DataFrame) -> pd.DataFrame:
    """Merge each customer's holdings into runs of coverage (customer_id, start, end).

    ``spans`` has customer_id, start and end (datetime64[D], end exclusive, far future
    for an open holding). A holding starting by the day after the run so far ends
    continues the run: a product switch is not a gap.
    """
    if spans.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=int),
                "start": pd.Series(dtype="datetime64[s]"),
                "end": pd.Series(dtype="datetime64[s]"),
            }
        )
    s = spans.sort_values(["customer_id", "start"], kind="stable")
    customer = s["customer_id"].to_numpy()
    start = s["start"].to_numpy(dtype="datetime64[D]")
    reach = pd.Series(s["end"].to_numpy(dtype="datetime64[D]")).groupby(customer).cummax()
    before = reach.groupby(customer).shift().to_numpy(dtype="datetime64[D]")
    first = np.r_[True, customer[1:] != customer[:-1]]
    new_run = first | (start > before + _DAY)
    run = np.cumsum(new_run)
    runs = (
        pd.DataFrame({"run": run, "customer_id": customer, "start": start, "end": reach.to_numpy()})
        .groupby("run", sort=False)
        .agg(customer_id=("customer_id", "first"), start=("start", "min"), end=("end", "max"))
    )
    return runs.reset_index(drop=True)


def _active_on(runs: pd.DataFrame, day: np.datetime64) -> set[int]:
    on = runs[(runs["start"] <= day) & (runs["end"] > day)]
    return set(on["customer_id"].tolist())


def _coverage(outcome: ListOutcomes, spans: pd.DataFrame) -> None:
    frame = outcome.frame
    runs = coverage_runs(spans)
    launch = np.datetime64(outcome.launched_on, "D")
    end = np.datetime64(outcome.observed_until, "D")
    at_launch = _active_on(runs, launch)
    at_end = _active_on(runs, end)
    frame["active_start"] = frame["customer_id"].isin(at_launch)
    frame["active_end"] = frame["customer_id"].isin(at_end)
    frame["revenue_end"] = _revenue_held(frame, spans, end)
    frame["revenue_start"] = _revenue_held(frame, spans, launch - _DAY)
    covering = runs[(runs["start"] <= launch) & (runs["end"] > launch) & (runs["end"] <= end)]
    lost = covering.groupby("customer_id")["end"].min()
    frame["lost_on"] = lost.reindex(frame["customer_id"].to_numpy()).to_numpy()
    days = int((end - launch) / _DAY) + 1
    for group, members in frame.groupby("group")["customer_id"]:
        mine = runs[runs["customer_id"].isin(set(members.tolist()))]
        first = ((np.maximum(mine["start"].to_numpy(), launch) - launch) / _DAY).astype(int)
        stop = ((np.minimum(mine["end"].to_numpy(), end + _DAY) - launch) / _DAY).astype(int)
        keep = stop > first
        steps = np.zeros(days + 1)
        np.add.at(steps, first[keep], 1.0)
        np.add.at(steps, stop[keep], -1.0)
        held = np.cumsum(steps)[:days]
        outcome.curves[str(group)] = [round(float(v), 6) for v in held / members.nunique()]


def _revenue_held(frame: pd.DataFrame, spans: pd.DataFrame, day: np.datetime64) -> pd.Series:
    """Each entry's monthly revenue of the products held on ``day``."""
    held = spans[(spans["start"] <= day) & (spans["end"] > day)]
    revenue = held.groupby("customer_id")["revenue"].sum()
    return frame["customer_id"].map(revenue).fillna(0.0).astype(float)


def _conversions(outcome: ListOutcomes, spans: pd.DataFrame) -> None:
    """Mark entries whose offered product started within the attribution window."""
    frame = outcome.frame
    frame["converted"] = False
    frame["converted_on"] = pd.NaT
    frame["revenue"] = np.nan
    offered = frame[frame["product_id"].notna()]
    if offered.empty or spans.empty:
        return
    pairs = offered.reset_index()[["entry_id", "customer_id", "product_id", "anchor"]]
    pairs["product_id"] = pairs["product_id"].astype(int)
    starts = pairs.merge(spans, on=["customer_id", "product_id"])
    window = np.timedelta64(outcome.attribution_days, "D")
    last_day = np.datetime64(outcome.as_of, "D")
    inside = (
        (starts["start"] >= starts["anchor"])
        & (starts["start"] <= starts["anchor"] + window)
        & (starts["start"] <= last_day)
    )
    first = starts[inside].sort_values("start").groupby("entry_id").first()
    frame.loc[first.index, "converted"] = True
    frame.loc[first.index, "converted_on"] = first["start"]
    frame.loc[first.index, "revenue"] = first["revenue"]


@dataclass(frozen=True)
class Attribution:
    claimed: int  # accepted on a call, not (yet) seen in the feed
    confirmed: int  # accepted on a call and seen in the feed
    added: int  # seen in the feed without an accepted call (holdout included)
    holdout: int  # of all conversions, those in the holdout


def attribute(engine: Engine, name: str, *, as_of: dt.date | None = None) -> Attribution:
    """Record campaign ``name``'s conversions as of ``as_of``; idempotent."""
    outcome = list_outcomes(engine, name, as_of=as_of)
    frame = outcome.frame
    if frame.empty:
        return Attribution(0, 0, 0, 0)
    rows = frame[frame["product_id"].notna() & (frame["converted"] | frame["accepted"])]
    prices = _prices(engine)
    records = []
    for entry_id, row in rows.iterrows():
        product_id = int(row["product_id"])
        converted = bool(row["converted"])
        if converted:
            occurred = _utc(row["converted_on"])
        elif pd.notna(row["accepted_at"]):
            occurred = _utc(row["accepted_at"])  # when the customer said yes
        else:
            occurred = _utc(row["anchor"])
        revenue = float(row["revenue"]) if converted else prices.get(product_id, 0.0)
        records.append(
            {
                "customer_id": int(row["customer_id"]),
                "product_id": product_id,
                "campaign_id": outcome.campaign_id,
                "list_entry_id": int(str(entry_id)),
                "revenue": round(revenue, 2),
                "occurred_at": occurred,
                "source": "disposition" if row["accepted"] else "feed",
                "confirmed": converted,
            }
        )
    keep = {(r["customer_id"], r["product_id"]) for r in records}
    with engine.begin() as conn:
        # what the feed and the dispositions no longer show is not a conversion any more
        stored = conn.execute(
            select(Conversion.id, Conversion.customer_id, Conversion.product_id).where(
                Conversion.campaign_id == outcome.campaign_id
            )
        ).all()
        gone = [i for i, customer, product in stored if (customer, product) not in keep]
        for ids in _chunks(gone):
            conn.execute(delete(Conversion).where(Conversion.id.in_(ids)))
        for start in range(0, len(records), 1_000):
            _upsert(conn, records[start : start + 1_000])
    claimed = int((rows["accepted"] & ~rows["converted"]).sum())
    confirmed = int((rows["accepted"] & rows["converted"]).sum())
    added = int((~rows["accepted"] & rows["converted"]).sum())
    holdout = int((rows["group"] == Group.HOLDOUT.value).sum())
    return Attribution(claimed=claimed, confirmed=confirmed, added=added, holdout=holdout)


def claim_conversion(session: Session, *, entry: ListEntry, at: dt.datetime) -> None:
    """Record an offer accepted on a call, as the agent records it.

    It stays a claim until ``attribute`` finds the product in the holdings feed; a
    claim already recorded for the customer and product on this list is kept.
    """
    if entry.product_id is None:
        return  # a retention offer: measured by the saved-customer report instead
    price = session.scalar(select(Product.monthly_price).where(Product.id == entry.product_id))
    record = {
        "customer_id": entry.customer_id,
        "product_id": entry.product_id,
        "campaign_id": entry.campaign_id,
        "list_entry_id": entry.id,
        "revenue": round(float(price or 0.0), 2),
        "occurred_at": at,
        "source": "disposition",
        "confirmed": False,
    }
    session.execute(
        conflict_insert(session, Conversion)
        .values(record)
        .on_conflict_do_nothing(index_elements=["customer_id", "product_id", "campaign_id"])
    )


def _upsert(conn: Connection, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    stmt = conflict_insert(conn, Conversion).values(records)
    keys = ["customer_id", "product_id", "campaign_id"]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=keys,
            set_={
                c: stmt.excluded[c]
                for c in ("list_entry_id", "revenue", "occurred_at", "source", "confirmed")
            },
        )
    )


def _utc(value: Any) -> dt.datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def _prices(engine: Engine) -> dict[int, float]:
    with engine.connect() as conn:
        return {
            pid: float(price)
            for pid, price in conn.execute(select(Product.id, Product.monthly_price))
        }


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
