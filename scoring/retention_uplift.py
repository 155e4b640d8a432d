"""The retention uplift model: how much a call lowers each customer's churn risk.

Learned from a past randomised retention campaign (``history.csv``: customer_id,
campaign, contacted_on, group treated/holdout, reached, churned_90d). Features are
taken from the store as of the day before the first contact, so the model sees each
customer as the campaign found them. The treatment is the assignment (intention to
treat: a treated customer who was never reached still counts as treated), because
that is what a planner decides; the outcome is churn within 90 days.

The learner is the S-learner of ``scoring.uplift`` (why: see that module). The stored
``uplift`` is the drop in 90-day churn probability a call brings, P(churn | no call) -
P(churn | call): positive where calling helps, negative for customers a call pushes
away. It is validated with the Qini AUC on a random half held out from fitting, next to
a random ranking, then refitted on the whole campaign; it becomes the active uplift
model only when it ranked better than chance there.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.model_selection import train_test_split
from sqlalchemy import Engine, func, select

from scoring.artifacts import TRUSTED as PIPELINE_TRUSTED
from scoring.artifacts import active_version, load_artifact, record_version
from scoring.errors import NotEnoughDataError
from scoring.evaluate import single_threaded
from scoring.features import CATEGORICAL, NUMERIC, FeatureBuilder, Window, data_end
from scoring.qini import qini_auc_score, uplift_at_k
from scoring.uplift import SLearner, build_learner
from store.models import Customer, ModelKind, ModelVersion

FEATURES = NUMERIC + CATEGORICAL
HISTORY_COLUMNS = ("customer_id", "contacted_on", "group", "churned_90d")
PERMUTATIONS = 200
TRUSTED = [*PIPELINE_TRUSTED, "scoring.uplift.SLearner"]


@dataclass(frozen=True)
class UpliftResult:
    version: str
    folder: Path
    rows: int
    metrics: dict[str, Any]


def read_history(path: Path) -> pd.DataFrame:
    try:
        history = pd.read_csv(path, dtype={"customer_id": str, "group": str})
    except FileNotFoundError:
        raise NotEnoughDataError(f"{path}: no such file") from None
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise NotEnoughDataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(HISTORY_COLUMNS)}"
        )
    groups = set(history["group"].dropna())
    if not {"treated", "holdout"} <= groups:
        raise NotEnoughDataError(
            f"{path}: column group must hold both 'treated' and 'holdout', found {sorted(groups)}"
        )
    return history


def campaign_frame(engine: Engine, history: pd.DataFrame) -> pd.DataFrame:
    """Features as of the day before the first contact, with treatment and outcome."""
    contacted = pd.to_datetime(history["contacted_on"]).dt.date
    cutoff = min(contacted) - dt.timedelta(days=1)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Customer.external_id, Customer.id)).all())
    history = history.assign(id=history["customer_id"].map(ids)).dropna(subset=["id"])
    wanted = set(history["id"].astype(int))
    builder = FeatureBuilder(engine, Window(cutoff), data_end(engine))
    frames = [f[f.index.isin(wanted)] for f in builder.chunks()]
    features = pd.concat(frames) if frames else pd.DataFrame(columns=FEATURES)
    joined = features.join(history.set_index(history["id"].astype(int))[["group", "churned_90d"]])
    joined["treated"] = joined["group"] == "treated"
    joined["churned"] = joined["churned_90d"].astype(int)
    return joined


def train_uplift(
    engine: Engine, history_file: Path, models_dir: Path, *, seed: int = 0
) -> UpliftResult:
    frame = campaign_frame(engine, read_history(history_file))
    if len(frame) < 200 or frame["churned"].sum() < 20:
        raise NotEnoughDataError(
            f"the campaign matches {len(frame)} customers in the store with "
            f"{int(frame['churned'].sum())} churners: too few to learn who a call moves"
        )
    X, t, y = frame[FEATURES], frame["treated"].to_numpy(bool), frame["churned"].to_numpy(int)
    strata = t.astype(int) * 2 + y
    fit_idx, test_idx = train_test_split(
        np.arange(len(frame)), test_size=0.5, random_state=seed, stratify=strata
    )
    with single_threaded():
        learner = build_learner("s", NUMERIC, CATEGORICAL, random_state=seed)
        learner.fit(X.iloc[fit_idx], t[fit_idx], y[fit_idx])
        # Uplift on retention (not churning) is the drop in churn probability.
        gain = -learner.predict_uplift(X.iloc[test_idx])
    kept, treated = 1 - y[test_idx], t[test_idx]
    rng = np.random.default_rng(seed)
    # what rankings by chance reach on the same half: the model must beat 95% of them
    chance = [qini_auc_score(kept, rng.permutation(gain), treated) for _ in range(PERMUTATIONS)]
    metrics = {
        # Normalised by the perfect curve, which is huge when 90% stay: small numbers.
        "qini_auc": round(float(qini_auc_score(kept, gain, treated)), 6),
        "uplift_at_30": round(float(uplift_at_k(kept, gain, treated, k=0.3)), 4),
        "uplift_overall": round(float(kept[treated].mean() - kept[~treated].mean()), 4),
        "random_qini_auc": round(float(np.percentile(chance, 95)), 6),
        "rows": len(frame),
        "treated": int(t.sum()),
        "churn_treated": round(float(y[t].mean()), 4),
        "churn_holdout": round(float(y[~t].mean()), 4),
    }
    # A model that ranks no better than chance on the held-out half would only add noise
    # to the lists: it is kept for the record but not activated, and the planner goes on
    # ranking by risk x value. Better than chance means a positive Qini AUC above the 95th
    # percentile of random rankings (one permutation let a model with a negative Qini AUC
    # through on a 200k base).
    useful = (
        float(np.std(gain)) > 0
        and metrics["qini_auc"] > 0
        and metrics["qini_auc"] > metrics["random_qini_auc"]
    )
    metrics["activated"] = useful
    with single_threaded():
        final = build_learner("s", NUMERIC, CATEGORICAL, random_state=seed).fit(X, t, y)
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(ModelVersion.kind == ModelKind.UPLIFT)
        ).scalar_one()
    version = f"uplift-{dt.date.today():%Y%m%d}-v{count + 1}"
    folder = models_dir / version
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(final, folder / "model.skops")
    (folder / "metadata.json").write_text(
        json.dumps(
            {"version": version, "history": str(history_file), "metrics": metrics}, indent=2
        ),
        encoding="utf-8",
    )
    record_version(
        engine,
        ModelVersion(
            kind=ModelKind.UPLIFT,
            version=version,
            rows=len(frame),
            metrics=metrics,
            artifact_path=str((folder / "model.skops").resolve()),
            active=useful,
        ),
    )
    return UpliftResult(version, folder, len(frame), metrics)


def load_active_uplift(engine: Engine) -> SLearner | None:
    """The active uplift model, or None when none was trained (the planner falls back)."""
    mv = active_version(engine, ModelKind.UPLIFT)
    if mv is None:
        return None
    model: SLearner = load_artifact(Path(mv.artifact_path), TRUSTED)
    return model


def call_gain(model: SLearner, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Drop in 90-day churn probability if called, per row of a feature frame."""
    with single_threaded():
        return np.asarray(-model.predict_uplift(frame[FEATURES]), dtype=np.float64)
