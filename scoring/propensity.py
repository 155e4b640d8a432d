"""Offer-acceptance propensity: how likely a customer is to take a product offered to them.

The planner ranks cross-sell and up-sell candidates, pairs of a customer and a product
targeted at their segment that they do not hold, by this probability times the product's
margin, so the probabilities are calibrated, not just ranked.

Rows and labels
---------------
Organic adoption, until our own calls have said more. For a cutoff, every pair of a
customer active at the cutoff and a product that the matrix in force targets at their
segment and that they do not hold at the cutoff is a row, labelled 1 when a holding of
that product starts within ``horizon_days`` after the cutoff. The matrix in force is the
newest imported version, as for the features (the store keeps no dates for a matrix).

Offers, once calls have been made. Each list entry of a cross-sell or up-sell campaign
that names a product and has an accepted or refused disposition is a row too, labelled
by its last such disposition (accepted 1, refused 0), with features as of the day before
its campaign was launched, when the list was built and ranked. These rows carry
``offered`` = 1, the organic ones 0, and predictions are always made with ``offered`` = 1.
With no offer rows the flag is constant, the trees never split on it, and the score is the
probability of taking the product up unprompted within the horizon: a ranking proxy whose
level is far below that of accepting a call. As dispositions accumulate the trees learn
what an offer changes, and the scores move to the acceptance scale.

Features are the customer's ``FeatureBuilder`` features as of the cutoff (products held
among them) and the pair's own: product code, family, tier, monthly price, the tier held
in the product's family and the step to it, ``tier_step``: ``next_up``, ``two_up`` (two
or more tiers up), ``lower``, ``same``, or ``new_family`` when the family is not held.

The model is trained by ``scoring.propensity_training``.

Customers are read in id-ordered chunks, so memory stays bounded whatever the size of
the base or of the list of pairs to score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.pipeline import Pipeline
from sqlalchemy import Engine, func, select

from scoring.artifacts import (
    TRUSTED,
    active_version,
)
from scoring.artifacts import load_artifact as load_trusted
from scoring.evaluate import single_threaded
from scoring.features import (
    CATEGORICAL,
    NUMERIC,
    FeatureBuilder,
    Window,
    _targeted_products,
    customer_id_chunks,
    data_end,
)
from store.models import (
    Campaign,
    CampaignKind,
    Customer,
    Disposition,
    DispositionCode,
    Holding,
    ListEntry,
    ModelKind,
    Product,
    Segment,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "LABEL",
    "NUMERIC_FEATURES",
    "PropensityModel",
    "accept_probability",
    "candidate_pairs",
    "empty_rows",
    "load_active_propensity",
    "offer_rows",
    "predict_acceptance",
    "training_rows",
]

Progress = Callable[[float, float], None]
FloatArray = npt.NDArray[np.float64]

PAIR_NUMERIC = ["tier", "held_tier", "price", "offered"]
PAIR_CATEGORICAL = ["product", "family", "tier_step"]
NUMERIC_FEATURES = [*NUMERIC, *PAIR_NUMERIC]
CATEGORICAL_FEATURES = [*CATEGORICAL, *PAIR_CATEGORICAL]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
LABEL = "accepted"
CHUNK = 50_000
_KEEP = ["customer_id", "product_id", *FEATURES, LABEL, "cutoff", "labelled_on", "weight"]


@dataclass(frozen=True)
class PropensityModel:
    """A trained propensity pipeline and the version it is stored as."""

    version: str
    model_version_id: int
    pipeline: Pipeline


# ----------------------------------------------------------------------------- rows


def training_rows(
    engine: Engine,
    window: Window,
    export_end: dt.date | None = None,
    *,
    negative_rate: float = 1.0,
    seed: int = 0,
    chunk: int = CHUNK,
) -> pd.DataFrame:
    """Organic rows of one window: every offerable pair at the cutoff, labelled by take-up.

    Columns: customer_id, product_id, the ``FEATURES``, ``LABEL``, cutoff, labelled_on
    and weight. With ``negative_rate`` < 1 only that share of the pairs not taken up is
    kept, drawn at random, each weighing 1 / ``negative_rate``.
    """
    builder = FeatureBuilder(engine, window, export_end)
    products = _products(engine)
    cutoff, label_end = pd.Timestamp(window.cutoff), pd.Timestamp(window.label_end)
    rng = np.random.default_rng([seed, window.cutoff.toordinal()])
    frames = []
    for lo, hi in customer_id_chunks(engine, chunk):
        customers = builder.frame(lo, hi)
        customers = customers[customers["active"]]
        holdings = _holdings(engine, lo, hi, window.label_end)
        held = _held_at(holdings, cutoff)
        pairs = _offerable(customers["segment"], held, builder.targets)
        rows = _pair_features(pairs, customers, held, products)
        # the only use of what happened after the cutoff
        later = holdings[(holdings["start_date"] > cutoff) & (holdings["start_date"] <= label_end)]
        taken = _pair_keys(pairs).isin(_pair_keys(later))
        rows[LABEL] = taken
        rows["cutoff"] = window.cutoff
        rows["labelled_on"] = window.label_end
        rows["weight"] = np.where(taken, 1.0, 1.0 / negative_rate)
        if negative_rate < 1.0:
            rows = rows[taken | (rng.random(len(rows)) < negative_rate)]
        frames.append(rows[_KEEP])
    return pd.concat(frames, ignore_index=True) if frames else empty_rows()


def offer_rows(engine: Engine, export_end: dt.date | None = None) -> pd.DataFrame:
    """Rows from our own offers: accepted 1, refused 0, features as the list found them.

    One row per list entry of a cross-sell or up-sell campaign that names a product,
    labelled by its last accepted or refused disposition. Features are as of the day
    before the campaign was launched (created, if it never was); ``labelled_on`` is the
    day of the disposition.
    """
    with engine.connect() as conn:
        found = pd.DataFrame(
            [
                tuple(r)
                for r in conn.execute(
                    select(
                        ListEntry.id,
                        Disposition.customer_id,
                        ListEntry.product_id,
                        Disposition.code,
                        Disposition.created_at,
                        func.coalesce(Campaign.launched_at, Campaign.created_at),
                    )
                    .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
                    .join(Campaign, Campaign.id == ListEntry.campaign_id)
                    .where(
                        ListEntry.product_id.is_not(None),
                        Campaign.kind.in_(CampaignKind.sales()),
                        Disposition.code.in_([DispositionCode.ACCEPTED, DispositionCode.REFUSED]),
                    )
                    .order_by(ListEntry.id, Disposition.created_at, Disposition.id)
                )
            ],
            columns=["entry", "customer_id", "product_id", "code", "said_at", "launched_at"],
        )
    if found.empty:
        return empty_rows()
    found = found.drop_duplicates("entry", keep="last")
    found["cutoff"] = [_day(t) - dt.timedelta(days=1) for t in found["launched_at"]]
    found["labelled_on"] = [_day(t) for t in found["said_at"]]
    products = _products(engine)
    frames = []
    for cutoff in sorted(set(found["cutoff"])):
        builder = FeatureBuilder(engine, Window(cutoff), export_end)
        offers = found[found["cutoff"] == cutoff]
        for customers, holdings, part in _chunks_of(engine, builder, offers, CHUNK):
            held = _held_at(holdings, pd.Timestamp(cutoff))
            rows = _pair_features(part, customers, held, products)
            rows[LABEL] = (part["code"] == DispositionCode.ACCEPTED).to_numpy()
            rows["offered"] = 1.0
            rows["weight"] = 1.0
            rows["cutoff"] = cutoff
            rows["labelled_on"] = part["labelled_on"].to_numpy()
            frames.append(rows[_KEEP])
    return pd.concat(frames, ignore_index=True) if frames else empty_rows()


def candidate_pairs(engine: Engine, as_of: dt.date, *, chunk: int = CHUNK) -> pd.DataFrame:
    """Every (customer_id, product_id) a sales list could offer at ``as_of``.

    Customers who hold something at ``as_of``, each with every product that the matrix
    in force targets at their segment and that they do not hold; by customer and product.
    """
    targets = _targeted_products(engine)
    stamp = pd.Timestamp(as_of)
    frames = []
    for lo, hi in customer_id_chunks(engine, chunk):
        held = _held_at(_holdings(engine, lo, hi, as_of), stamp)
        segments = _segments(engine, lo, hi)
        frames.append(_offerable(segments[segments.index.isin(held["customer_id"])], held, targets))
    if not frames:
        return pd.DataFrame({"customer_id": [], "product_id": []}, dtype="int64")
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- predicting


def load_active_propensity(engine: Engine) -> PropensityModel | None:
    """The active propensity model, or None when none was trained (the planner falls back)."""
    mv = active_version(engine, ModelKind.PROPENSITY)
    if mv is None:
        return None
    pipeline: Pipeline = load_trusted(Path(mv.artifact_path), TRUSTED)
    return PropensityModel(mv.version, mv.id, pipeline)


def predict_acceptance(
    engine: Engine,
    model: PropensityModel,
    pairs: pd.DataFrame,
    as_of: dt.date,
    *,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> FloatArray:
    """P(accepting an offer) for each row of ``pairs`` (customer_id, product_id), in order.

    NaN marks a pair that is no offer: an unknown customer or product, a customer who
    holds nothing at ``as_of``, or a product they hold already.
    """
    out = np.full(len(pairs), np.nan)
    if len(pairs) == 0:
        return out
    wanted = pd.DataFrame(
        {
            "customer_id": pd.to_numeric(pairs["customer_id"], errors="coerce").to_numpy(),
            "product_id": pd.to_numeric(pairs["product_id"], errors="coerce").to_numpy(),
            "row": np.arange(len(pairs)),
        }
    ).dropna()
    products = _products(engine)
    wanted = wanted[wanted["product_id"].isin(products.index)].astype("int64")
    builder = FeatureBuilder(engine, Window(as_of), data_end(engine))
    stamp = pd.Timestamp(as_of)
    done = 0
    for customers, holdings, part in _chunks_of(engine, builder, wanted, chunk):
        held = _held_at(holdings, stamp)
        live = customers[customers["active"]]
        offer = part[
            part["customer_id"].isin(live.index).to_numpy()
            & ~_pair_keys(part).isin(_pair_keys(held))
        ]
        if len(offer):
            rows = _pair_features(offer, live, held, products)
            rows["offered"] = 1.0
            out[offer["row"].to_numpy()] = accept_probability(model.pipeline, rows[FEATURES])
        done += len(part)
        if progress is not None:
            progress(done, len(wanted))
    return out


# ----------------------------------------------------------------------------- internals


def accept_probability(model: Pipeline, frame: pd.DataFrame) -> FloatArray:
    # Tree prediction starts OpenMP threads on every call; chunk after chunk is faster on
    # one thread (see scoring.churn.score).
    with single_threaded():
        return np.asarray(model.predict_proba(frame)[:, 1], dtype=np.float64)


def _chunks_of(
    engine: Engine, builder: FeatureBuilder, wanted: pd.DataFrame, size: int
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """(customer features, holdings to the cutoff, rows of ``wanted``) per id-ordered chunk.

    Only chunks holding a customer of ``wanted`` are read, so a short list costs little
    and a long one no more memory than one chunk's customers and their rows.
    """
    ordered = wanted.sort_values("customer_id", kind="stable")
    ids = ordered["customer_id"].to_numpy()
    for lo, hi in customer_id_chunks(engine, size):
        first, last = np.searchsorted(ids, lo, "left"), np.searchsorted(ids, hi, "right")
        if first == last:
            continue
        customers = builder.frame(lo, hi)
        holdings = _holdings(engine, lo, hi, builder.window.cutoff)
        yield customers, holdings, ordered.iloc[first:last]


def _products(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Product.id, Product.code, Product.family, Product.tier, Product.monthly_price)
        ).all()
    products = pd.DataFrame(
        [tuple(r) for r in rows], columns=["id", "product", "family", "tier", "price"]
    ).set_index("id")
    products["tier"] = products["tier"].astype(float)
    products["price"] = products["price"].astype(float)
    return products


def _segments(engine: Engine, lo: int, hi: int) -> pd.Series:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Customer.id, Segment.code)
            .outerjoin(Segment, Segment.id == Customer.segment_id)
            .where(Customer.id.between(lo, hi))
        ).all()
    return pd.Series([code or "none" for _, code in rows], index=[cid for cid, _ in rows])


def _holdings(engine: Engine, lo: int, hi: int, until: dt.date) -> pd.DataFrame:
    """Holdings of customers lo..hi started by ``until``; dates as timestamps, NaT open."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Holding.customer_id, Holding.product_id, Holding.start_date, Holding.end_date)
            .where(Holding.customer_id.between(lo, hi), Holding.start_date <= until)
            .order_by(Holding.customer_id, Holding.start_date)
        ).all()
    holdings = pd.DataFrame(
        [tuple(r) for r in rows], columns=["customer_id", "product_id", "start_date", "end_date"]
    )
    return holdings.astype({"customer_id": "int64", "product_id": "int64"}).assign(
        start_date=pd.to_datetime(holdings["start_date"]),
        end_date=pd.to_datetime(holdings["end_date"]),
    )


def _held_at(holdings: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    # as the feature builder counts them: started by the day and not ended by it
    started = holdings["start_date"] <= day
    running = holdings["end_date"].isna() | (holdings["end_date"] > day)
    return holdings[started & running]


def _pair_keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [frame["customer_id"].to_numpy("int64"), frame["product_id"].to_numpy("int64")]
    )


def _offerable(
    segments: pd.Series, held: pd.DataFrame, targets: dict[str, frozenset[int]]
) -> pd.DataFrame:
    """Each customer of ``segments`` with each product targeted at their segment not held."""
    cells = pd.DataFrame(
        [(segment, product) for segment, ids in targets.items() for product in sorted(ids)],
        columns=["segment", "product_id"],
    )
    customers = pd.DataFrame(
        {"customer_id": segments.index.to_numpy("int64"), "segment": segments.to_numpy(object)}
    )
    pairs = customers.merge(cells, on="segment")[["customer_id", "product_id"]]
    pairs = pairs[~_pair_keys(pairs).isin(_pair_keys(held))]
    return pairs.sort_values(["customer_id", "product_id"], ignore_index=True).astype("int64")


def _pair_features(
    pairs: pd.DataFrame, customers: pd.DataFrame, held: pd.DataFrame, products: pd.DataFrame
) -> pd.DataFrame:
    """Customer features and the pair's own, one row per pair, in the order of ``pairs``."""
    who = pairs["customer_id"].to_numpy("int64")
    what = pairs["product_id"].to_numpy("int64")
    rows = customers.reindex(who)[[*NUMERIC, *CATEGORICAL]].reset_index(drop=True)
    rows.insert(0, "customer_id", who)
    rows.insert(1, "product_id", what)
    product = products.reindex(what)
    tier = product["tier"].to_numpy(float)
    owned = pd.DataFrame(
        {
            "customer_id": held["customer_id"].to_numpy(),
            "family": products["family"].reindex(held["product_id"]).to_numpy(),
            "tier": products["tier"].reindex(held["product_id"]).to_numpy(),
        }
    )
    top = owned.groupby(["customer_id", "family"])["tier"].max()
    held_tier = (
        top.reindex(pd.MultiIndex.from_arrays([who, product["family"].to_numpy()]))
        .fillna(0.0)
        .to_numpy(float)
    )
    rows["tier"] = tier
    rows["held_tier"] = held_tier
    rows["price"] = product["price"].to_numpy(float)
    rows["offered"] = 0.0
    steps = np.select(
        [held_tier == 0, tier == held_tier + 1, tier > held_tier + 1, tier < held_tier],
        ["new_family", "next_up", "two_up", "lower"],
        "same",
    )
    # object columns, as the features have them: pandas would infer its string dtype,
    # which the fitted encoder does not compare with its categories
    rows["product"] = pd.Series(product["product"].to_numpy(), dtype=object)
    rows["family"] = pd.Series(product["family"].to_numpy(), dtype=object)
    rows["tier_step"] = pd.Series(steps, dtype=object)
    return rows


def empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in _KEEP})


def _day(moment: Any) -> dt.date:
    if isinstance(moment, dt.datetime):
        return moment.date()
    if isinstance(moment, dt.date):
        return moment
    return pd.Timestamp(moment).date()
