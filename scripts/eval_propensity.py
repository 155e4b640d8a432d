"""Judge the offer-acceptance propensity model against the demo data's ground truth.

    uv run python scripts/eval_propensity.py --data DIR [--store FILE] [--json]

Imports the demo files in DIR (``telecampaign demo-data``) into a fresh SQLite store
under a temporary folder (or reuses, or keeps, the store at ``--store``), trains the
propensity model, predicts every offerable pair (customer active at the data end,
product targeted at their segment and not held) and compares the scores with the true
``p_accept_<code>`` of ``ground_truth.csv``:

- Spearman rank correlation of score and true probability;
- expected ROC AUC: each pair counts as accepted with weight p and refused with weight
  1 - p, i.e. the AUC averaged over every outcome the truth can produce; ranking by
  the truth itself gives the best reachable figure;
- the share of all true expected acceptances, and of the true expected margin
  (p x monthly margin, what the planner ranks by), found in the top 10% of pairs as
  ranked by our score, by a random ranking and by the truth (and, for the margin, by
  the margin alone, as if every pair were equally likely to be accepted);
- mean score against mean true probability;

each over all offerable pairs and over the two kinds of pair the planner offers: a
family the customer does not hold (cross-sell) and the next tier up (up-sell); then the
mean score, mean truth and Spearman per tier step. Timings and the peak RSS close it.

The segment take-up rate (share of the segment's customers who started the product in
the last year), the planner's fallback without a model, is ranked the same way.

The model learns organic adoption while the truth is the acceptance of an offered call;
the generator draws the two from different formulas (see ``simulation.base.generator``), so
the figures say how far the organic proxy carries, not how good a model of offers is.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, select

from scoring.features import data_end
from scoring.propensity import candidate_pairs, load_active_propensity, predict_acceptance
from scoring.propensity_training import train_propensity
from store.db import make_engine
from store.importer import KINDS, import_file
from store.migrate import upgrade
from store.models import Customer, Holding, Product, Segment

FloatArray = npt.NDArray[np.float64]
TOP = 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="demo data folder")
    parser.add_argument("--store", type=Path, help="reuse (or keep) the SQLite store here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tc-eval-propensity-") as tmp:
        folder = Path(tmp)
        db = args.store or folder / "store.db"
        url = f"sqlite:///{db}"
        timings: dict[str, float] = {}
        if not db.exists():
            started = time.perf_counter()
            upgrade(url)
            engine = make_engine(url)
            for kind in KINDS:
                import_file(engine, kind, args.data / f"{kind}.csv", rejects_dir=folder)
            timings["import_s"] = round(time.perf_counter() - started, 1)
        else:
            engine = make_engine(url)
        # a kept store keeps its models beside it, so the version it records stays loadable
        models = db.with_name(f"{db.stem}-models") if args.store else folder / "models"
        result = evaluate(engine, args.data / "ground_truth.csv", models, timings)
        engine.dispose()
        if args.store is None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(report(result))


def evaluate(
    engine: Engine, truth_file: Path, models_dir: Path, timings: dict[str, float]
) -> dict[str, Any]:
    started = time.perf_counter()
    trained = train_propensity(engine, models_dir)
    timings["train_s"] = round(time.perf_counter() - started, 1)
    model = load_active_propensity(engine)
    assert model is not None
    end = data_end(engine)
    assert end is not None
    started = time.perf_counter()
    pairs = candidate_pairs(engine, end)
    timings["pairs_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    pairs["score"] = predict_acceptance(engine, model, pairs, end)
    timings["predict_s"] = round(time.perf_counter() - started, 1)
    timings["pairs_per_s"] = round(len(pairs) / max(timings["predict_s"], 1e-9))

    truth = _truth(engine, truth_file)
    both = pairs.merge(truth, on=["customer_id", "product_id"], how="inner")
    products = _products(engine)
    both = both.join(products, on="product_id")
    both["segment"] = both["customer_id"].map(_segments(engine))
    both["take_up"] = (
        _take_up(engine, end)
        .reindex(pd.MultiIndex.from_frame(both[["segment", "product_id"]]))
        .fillna(0.0)
        .to_numpy()
    )
    both["tier_step"] = _steps(engine, both, end)
    timings["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    subsets = {
        "all pairs": both,
        # what the planner offers: a family not held (cross-sell), the next tier (up-sell)
        "cross-sell": both[both["tier_step"] == "new_family"],
        "up-sell": both[both["tier_step"] == "next_up"],
    }
    return {
        "version": trained.version,
        "validation": trained.metrics,
        "pairs": {
            "ours": len(pairs),
            "truth": len(truth),
            "both": len(both),
            "scored": int(both["score"].notna().sum()),
        },
        "against_truth": {name: _compare(part) for name, part in subsets.items()},
        "by_tier_step": {
            str(step): {
                "pairs": len(group),
                "mean_score": _r(group["score"].mean()),
                "mean_true": _r(group["p_true"].mean()),
                "spearman": _spearman(group["score"].to_numpy(float), group["p_true"].to_numpy()),
            }
            for step, group in both.groupby("tier_step")
        },
        "timings": timings,
    }


def _compare(pairs: pd.DataFrame) -> dict[str, Any]:
    """Our score, the segment take-up rate and the truth itself, ranked against the truth."""
    p, margin = pairs["p_true"].to_numpy(float), pairs["margin"].to_numpy(float)
    rankings = {
        "model": pairs["score"].to_numpy(float),
        "take_up": pairs["take_up"].to_numpy(float),
        "truth": p,
    }
    return {
        "pairs": len(pairs),
        "mean_score": _r(np.nanmean(rankings["model"])),
        "mean_true": _r(p.mean()),
        "spearman": {k: _spearman(v, p) for k, v in rankings.items()} | {"random": 0.0},
        "expected_auc": {k: _expected_auc(v, p) for k, v in rankings.items()} | {"random": 0.5},
        "top10_acceptances": {k: _captured(v, p) for k, v in rankings.items()} | {"random": TOP},
        "top10_margin": {k: _captured(v * margin, p * margin) for k, v in rankings.items()}
        | {"random": TOP, "margin_alone": _captured(margin, p * margin)},
    }


def report(result: dict[str, Any]) -> str:
    m, b = result["validation"]["model"], result["validation"]["baseline"]
    v = result["validation"]["validation"]
    lines = [
        f"{result['version']}: out-of-time validation on {v['rows']:,} pairs at {v['cutoff']} "
        f"({v['positive_rate']:.2%} taken up within 90 days; mean prediction {v['mean_p']:.2%})",
        f"  {'':24}{'model':>10}{'baseline':>10}",
        *(
            f"  {k:24}{m[k]:>10.4f}{b[k]:>10.4f}"
            for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")
        ),
        "",
        f"against the true offer-acceptance probabilities: {result['pairs']['both']:,} pairs "
        f"(ours {result['pairs']['ours']:,}, truth {result['pairs']['truth']:,})",
    ]
    names = (
        ("spearman", "Spearman"),
        ("expected_auc", "expected ROC AUC"),
        ("top10_acceptances", "top 10%: share of acceptances"),
        ("top10_margin", "top 10%: share of p x margin"),
    )
    for subset, c in result["against_truth"].items():
        lines += [
            f"  {subset} ({c['pairs']:,} pairs; mean score {c['mean_score']:.4f}, "
            f"mean true p {c['mean_true']:.4f})",
            f"    {'':32}{'model':>10}{'take-up':>10}{'truth':>10}{'random':>10}",
            *(
                f"    {name:32}"
                + "".join(f"{c[key][k]:>10.3f}" for k in ("model", "take_up", "truth", "random"))
                for key, name in names
            ),
            f"    {'(ranked by margin alone)':32}{c['top10_margin']['margin_alone']:>10.3f}",
        ]
    lines += [
        "",
        f"  {'tier step':14}{'pairs':>9}{'mean score':>12}{'mean true':>11}{'Spearman':>10}",
        *(
            f"  {step:14}{g['pairs']:>9,}{g['mean_score']:>12.4f}{g['mean_true']:>11.4f}"
            f"{g['spearman']:>10.3f}"
            for step, g in result["by_tier_step"].items()
        ),
        "",
        "timings: " + ", ".join(f"{k} {v}" for k, v in result["timings"].items()),
    ]
    return "\n".join(lines)


def _truth(engine: Engine, path: Path) -> pd.DataFrame:
    """True acceptance probabilities, one row per (store customer id, store product id)."""
    table = pd.read_csv(path, dtype={"customer_id": str})
    columns = [c for c in table.columns if c.startswith("p_accept_")]
    long = table.melt(id_vars="customer_id", value_vars=columns, value_name="p_true").dropna()
    long["code"] = long["variable"].str.removeprefix("p_accept_")
    with engine.connect() as conn:
        customers = dict(conn.execute(select(Customer.external_id, Customer.id)).all())
        products = dict(conn.execute(select(Product.code, Product.id)).all())
    long["product_id"] = long["code"].map(products)
    long["customer_id"] = long["customer_id"].map(customers)
    long = long.dropna(subset=["customer_id", "product_id"])
    return pd.DataFrame(
        {
            "customer_id": long["customer_id"].astype("int64").to_numpy(),
            "product_id": long["product_id"].astype("int64").to_numpy(),
            "p_true": long["p_true"].astype(float).to_numpy(),
        }
    )


def _products(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Product.id, Product.code, Product.family, Product.tier, Product.monthly_margin)
        ).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows], columns=["product_id", "code", "family", "tier", "margin"]
    ).set_index("product_id")
    frame["margin"] = frame["margin"].astype(float).fillna(0.0)
    return frame


def _take_up(engine: Engine, end: Any) -> pd.Series:
    """Share of each segment's customers who started each product in the year to ``end``."""
    since = end - pd.Timedelta(days=365).to_pytimedelta()
    with engine.connect() as conn:
        started = pd.DataFrame(
            [
                tuple(r)
                for r in conn.execute(
                    select(Holding.customer_id, Holding.product_id).where(
                        Holding.start_date > since, Holding.start_date <= end
                    )
                )
            ],
            columns=["customer_id", "product_id"],
        ).drop_duplicates()
    segments = pd.Series(_segments(engine), name="segment").rename_axis("customer_id").reset_index()
    sizes = segments.groupby("segment").size()
    took = started.merge(segments, on="customer_id").groupby(["segment", "product_id"]).size()
    return took / sizes.reindex(took.index.get_level_values("segment")).to_numpy()


def _segments(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        query = select(Customer.id, Segment.code).join(Segment, Segment.id == Customer.segment_id)
        return dict(conn.execute(query).all())


def _steps(engine: Engine, pairs: pd.DataFrame, end: Any) -> pd.Series:
    """The tier step of each pair at ``end``, as the model's features name it."""
    with engine.connect() as conn:
        held = pd.DataFrame(
            [
                tuple(r)
                for r in conn.execute(
                    select(Holding.customer_id, Product.family, Product.tier)
                    .join(Product, Product.id == Holding.product_id)
                    .where(
                        Holding.start_date <= end,
                        (Holding.end_date.is_(None)) | (Holding.end_date > end),
                    )
                )
            ],
            columns=["customer_id", "family", "tier"],
        )
    top = held.groupby(["customer_id", "family"])["tier"].max()
    keys = pd.MultiIndex.from_frame(pairs[["customer_id", "family"]])
    held_tier = top.reindex(keys).fillna(0).to_numpy(float)
    tier = pairs["tier"].to_numpy(float)
    steps = np.select(
        [held_tier == 0, tier == held_tier + 1, tier > held_tier + 1, tier < held_tier],
        ["new_family", "next_up", "two_up", "lower"],
        "same",
    )
    return pd.Series(steps, index=pairs.index)


def _spearman(score: FloatArray, truth: FloatArray) -> float:
    known = ~np.isnan(score)
    ranks = pd.DataFrame({"s": score[known], "t": truth[known]}).rank()
    return _r(ranks["s"].corr(ranks["t"]), 3)


def _expected_auc(score: FloatArray, p: FloatArray) -> float:
    s = np.nan_to_num(score, nan=-1.0)
    labels = np.r_[np.ones(len(p)), np.zeros(len(p))]
    return _r(roc_auc_score(labels, np.r_[s, s], sample_weight=np.r_[p, 1.0 - p]), 3)


def _captured(score: FloatArray, value: FloatArray, share: float = TOP) -> float:
    """Share of the total ``value`` in the ``share`` of rows ranked highest by ``score``."""
    top = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")[
        : max(round(len(score) * share), 1)
    ]
    return _r(value[top].sum() / value.sum(), 3)


def _r(value: Any, digits: int = 4) -> float:
    return round(float(value), digits)


if __name__ == "__main__":
    main()
