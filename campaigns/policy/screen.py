"""The contact policy in bulk: the screen the planner runs over a list's candidates.

The calling window and holidays are left to the dialer's check, since a list is called
over days; the other rules are those of ``rules``, in ``SCREEN_ORDER``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from campaigns.policy.calendar import as_utc, known_zone
from campaigns.policy.rules import (
    DNC_REASON,
    SCREEN_ORDER,
    abandoned_call,
    consent,
    counts_for_cap,
    happened_at,
    history_since,
    no_phone,
    number_blocked,
    open_complaint,
    recent_refusals,
    zoned_number,
)
from campaigns.settings.model import CampaignSettings
from store.dialect import unindexed
from store.models import (
    Attempt,
    CampaignKind,
    Channel,
    Customer,
    Disposition,
    DncEntry,
    ExclusionReason,
    Interaction,
    ListEntry,
)

__all__ = ["CHUNK", "screen"]

R = ExclusionReason
CHUNK = 50_000
_RANK = {reason: rank for rank, reason in enumerate(SCREEN_ORDER)}
_PASS = len(SCREEN_ORDER)
_REASONS = np.array([reason.value for reason in SCREEN_ORDER] + [None], dtype=object)
Among = Callable[[InstrumentedAttribute[int]], ColumnElement[bool]]


def screen(
    conn: Connection,
    policy: CampaignSettings,
    candidates: pd.DataFrame,
    *,
    kind: CampaignKind,
    channel: Channel,
    now: dt.datetime,
) -> pd.Series:
    """The first rule each candidate fails, in ``SCREEN_ORDER``, or None.

    ``candidates`` holds customer_id and product_id (nullable; a customer may appear
    once per product); the answer is aligned to its index. The calling window and
    holidays are left to the dialer, since a list is called over days.

    A handful of set queries do the work, none per customer. Customers are read in
    id-ordered chunks, returning only those who fail. Attempts, dispositions and the
    do-not-call list are not stored in customer order, so for a large share of the base
    each is read once, in one pass, rather than chunk by chunk through an index.

    A stored number is taken as valid (the importer admits no other): its zones are
    known when phonenumbers knows zones for its country code. ``check_contact`` asks
    phonenumbers about the number itself.
    """
    now = as_utc(now)
    customer_ids = candidates["customer_id"].to_numpy(dtype=np.int64)
    unique = _sorted_unique(customer_ids)
    ranks = np.full(len(unique), _PASS, dtype=np.int8)
    refused: list[pd.DataFrame] = []
    if len(unique):
        lo, hi = int(unique[0]), int(unique[-1])
        in_one_pass = len(unique) > CHUNK and 4 * len(unique) > hi - lo
        if in_one_pass:
            whole = _scan(conn, lo, hi)
            refused.append(
                _mark_history(conn, policy, kind, channel, now, whole, unique, ranks, one_pass=True)
            )
        for first in range(0, len(unique), CHUNK):
            part = unique[first : first + CHUNK]
            among = _among(part)
            _mark_people(conn, policy, channel, among, part, unique, ranks)
            if not in_one_pass:
                refused.append(
                    _mark_history(
                        conn, policy, kind, channel, now, among, unique, ranks, one_pass=False
                    )
                )
    row_ranks = ranks[np.searchsorted(unique, customer_ids)]
    if refused:
        products = candidates["product_id"].astype("Int64")
        same = _same_offer(customer_ids, products, pd.concat(refused, ignore_index=True))
        row_ranks[same] = np.minimum(row_ranks[same], _RANK[R.REFUSAL_COOLDOWN])
    return pd.Series(_REASONS[row_ranks], index=candidates.index, dtype=object, name="reason")


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # np.unique hashes first: a plain sort is many times faster on a million ids
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _scan(conn: Connection, lo: int, hi: int) -> Among:
    """A filter on a customer-id column that reads the table through, in one pass."""
    return lambda column: _unindexed(conn, column).between(lo, hi)


def _unindexed(conn: Connection, column: InstrumentedAttribute[int]) -> ColumnElement[int]:
    """On SQLite the column as an expression, ``id + 0``, so no index is used for it.

    Lacking statistics, SQLite would otherwise walk the customer index through most of
    a table, one random read per row, to filter or to group in id order. PostgreSQL
    plans by its statistics, which the expression would hide from it.
    """
    return unindexed(conn, column)


def _among(ids: npt.NDArray[np.int64]) -> Among:
    """A filter on a customer-id column for the sorted ``ids``."""
    lo, hi = int(ids[0]), int(ids[-1])
    if hi - lo < 4 * len(ids):  # dense: a range reads few others
        return lambda column: column.between(lo, hi)
    # ints written into the SQL once: SQLite allows only so many bound parameters, and
    # SQLAlchemy renders a long literal list slowly, again for every query
    listed: ColumnElement[Any] = literal_column("(" + ",".join(map(str, ids.tolist())) + ")")
    return lambda column: column.op("IN", is_comparison=True)(listed)


def _mark(
    ranks: npt.NDArray[np.int8],
    unique: npt.NDArray[np.int64],
    blocked: Sequence[int],
    reason: ExclusionReason,
) -> None:
    """Lower the rank of the candidates among ``blocked`` to ``reason``'s."""
    ids = np.fromiter(blocked, np.int64, len(blocked))
    at = np.searchsorted(unique, ids).clip(0, max(len(unique) - 1, 0))
    at = at[unique[at] == ids]
    ranks[at] = np.minimum(ranks[at], _RANK[reason])


def _mark_people(
    conn: Connection,
    policy: CampaignSettings,
    channel: Channel,
    among: Among,
    part: npt.NDArray[np.int64],
    unique: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int8],
) -> None:
    """Rules read from the customer rows of one chunk, and open complaints."""
    # the ids as one string: a row per customer would cost more than all the rules
    listed = conn.scalar(
        select(func.aggregate_strings(cast(Customer.id, String), ",")).where(among(Customer.id))
    )
    stored = np.array(listed.split(","), dtype=np.int64) if listed else np.empty(0, np.int64)
    missing = part[~np.isin(part, stored)]
    if len(missing):
        raise ValueError(
            f"candidates name {len(missing)} customers not in the store, e.g. {missing[0]}"
        )
    names = conn.scalars(select(Customer.timezone).where(among(Customer.id)).distinct()).all()
    unknown = [name for name in names if name is not None and known_zone(name) is None]
    zoneless = or_(Customer.timezone.is_(None), Customer.timezone.in_(unknown))
    rank = case(
        (no_phone(), _RANK[R.NO_PHONE]),
        (~consent(channel), _RANK[R.NO_CONSENT]),
        (and_(zoneless, ~zoned_number(Customer.phone)), _RANK[R.NO_TIMEZONE]),
    )
    failing = conn.execute(select(Customer.id, rank).where(among(Customer.id), rank.is_not(None)))
    by_rank: dict[int, list[int]] = {}
    for customer_id, rule in failing:
        by_rank.setdefault(rule, []).append(customer_id)
    for rule, ids in by_rank.items():
        _mark(ranks, unique, ids, SCREEN_ORDER[rule])
    if policy.exclude_open_complaints:
        complaining = conn.scalars(
            select(Interaction.customer_id)
            .where(among(Interaction.customer_id), open_complaint())
            .distinct()
        ).all()
        _mark(ranks, unique, complaining, R.OPEN_COMPLAINT)


def _mark_history(
    conn: Connection,
    policy: CampaignSettings,
    kind: CampaignKind,
    channel: Channel,
    now: dt.datetime,
    among: Among,
    unique: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int8],
    *,
    one_pass: bool,
) -> pd.DataFrame:
    """Do-not-call, cap and abandoned calls marked; the recent refusals returned.

    ``one_pass``: ``among`` spans a large share of the base, read through once.
    """
    blocked = select(DncEntry.phone).where(number_blocked(channel))
    listed = conn.scalars(
        select(Customer.id).where(
            among(Customer.id),
            # the whole list once against the phone index, or each customer's number
            # looked up in it: SQLite would pair the list with an id list otherwise
            Customer.phone.in_(blocked.scalar_subquery())
            if one_pass
            else blocked.where(DncEntry.phone == Customer.phone).exists(),
        )
    ).all()
    _mark(ranks, unique, listed, DNC_REASON[channel])
    opted = select(DncEntry.phone).where(
        DncEntry.revoked_at.is_(None),
        DncEntry.created_at > now - dt.timedelta(days=policy.cooldowns.opt_out_days),
    )
    cooling = conn.scalars(
        select(Customer.id).where(
            among(Customer.id),
            Customer.phone.in_(opted.scalar_subquery())
            if one_pass
            else opted.where(DncEntry.phone == Customer.phone).exists(),
        )
    ).all()
    _mark(ranks, unique, cooling, R.OPT_OUT_COOLDOWN)
    # the status is counted, not filtered on: a filter on it sends SQLite down its index
    cap_since, abandon_since = history_since(policy, now)
    happened = happened_at()
    contacts = func.sum(case((counts_for_cap(cap_since), 1), else_=0))
    abandoned = func.max(case((abandoned_call(channel, abandon_since), 1), else_=0))
    who = _unindexed(conn, Attempt.customer_id)
    history = conn.execute(
        select(who, contacts >= policy.contact_cap.contacts, abandoned == 1)
        .where(among(Attempt.customer_id), happened > min(cap_since, abandon_since))
        .group_by(who)
        .having(or_(contacts >= policy.contact_cap.contacts, abandoned == 1))
    ).all()
    _mark(ranks, unique, [c for c, capped, _ in history if capped], R.CONTACT_CAP)
    _mark(ranks, unique, [c for c, _, cooling in history if cooling], R.ABANDON_COOLDOWN)
    refusals = conn.execute(
        recent_refusals(policy, kind, now)
        .with_only_columns(_unindexed(conn, Disposition.customer_id), ListEntry.product_id)
        .where(among(Disposition.customer_id))
        .group_by(_unindexed(conn, Disposition.customer_id), ListEntry.product_id)
    ).all()
    return pd.DataFrame(
        {
            "customer_id": np.fromiter((r[0] for r in refusals), np.int64, len(refusals)),
            "product_id": pd.array([r[1] for r in refusals], dtype="Int64"),
        }
    )


def _same_offer(
    customer_ids: npt.NDArray[np.int64], products: pd.Series, refused: pd.DataFrame
) -> npt.NDArray[np.bool_]:
    """Which candidate rows refused the same offer: same product, or both product-less."""
    refused_product = refused["product_id"].astype("Int64")
    has = refused_product.notna().to_numpy(bool)
    refused_ids = refused["customer_id"].to_numpy(np.int64)
    pairs = pd.MultiIndex.from_arrays([refused_ids[has], refused_product[has].to_numpy(np.int64)])
    wanted = products.notna().to_numpy(bool)
    out = np.zeros(len(customer_ids), bool)
    if wanted.any() and len(pairs):
        rows = pd.MultiIndex.from_arrays(
            [customer_ids[wanted], products[wanted].to_numpy(np.int64)]
        )
        out[wanted] = rows.isin(pairs)
    out[~wanted] = np.isin(customer_ids[~wanted], refused_ids[~has])
    return out
