"""Training, artifacts and scoring on a small demo store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sqlalchemy import func, select

from scoring.churn import TRUSTED, load_active, score, train
from scoring.errors import ModelNotFoundError, NotEnoughDataError
from scoring.features import CATEGORICAL, NUMERIC
from scoring.pipeline import build_churn_pipeline
from store.db import make_engine
from store.models import Customer, ModelVersion, Score


def test_trusted_types_cover_a_fresh_pipeline() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((300, len(NUMERIC))), columns=NUMERIC)
    for column in CATEGORICAL:
        frame[column] = rng.choice(["a", "b", "c"], 300)
    y = rng.random(300) < 0.3
    model = build_churn_pipeline(NUMERIC, CATEGORICAL).fit(frame[NUMERIC + CATEGORICAL], y)
    assert set(sio.get_untrusted_types(data=sio.dumps(model))) <= set(TRUSTED)


def test_train_saves_a_version_and_score_uses_it(demo_copy: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_copy}")
    with pytest.raises(ModelNotFoundError, match="telecampaign train"):
        score(engine)
    result = train(engine, tmp_path / "models")
    folder = result.folder
    assert {p.name for p in folder.iterdir()} >= {
        "model.skops",
        "model_card.md",
        "metadata.json",
        "calibration.png",
        "calibration.svg",
    }
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["libraries"]["scikit-learn"]
    assert meta["training_windows"][0]["cutoff"] < meta["training_windows"][1]["cutoff"]
    assert set(result.metrics["model"]) == {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
    assert 0.5 < result.metrics["baseline"]["roc_auc"] <= 1.0
    assert "| roc_auc |" in (folder / "model_card.md").read_text(encoding="utf-8")

    again = train(engine, tmp_path / "models")
    mv, _ = load_active(engine)
    assert mv.version == again.version != result.version
    with engine.connect() as conn:
        actives = conn.execute(select(func.count()).where(ModelVersion.active.is_(True)))
        assert actives.scalar_one() == 1

    summary = score(engine, chunk=250)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Customer)).scalar_one()
    assert summary.customers == stored
    assert 0 < summary.scored < summary.customers
    assert 0.02 < summary.mean_p_churn < 0.3
    with engine.connect() as conn:
        rows = conn.execute(select(Score).where(Score.model_version_id == mv.id)).all()
    assert len(rows) == summary.customers
    scored = [r for r in rows if r.p_churn is not None]
    assert len(scored) == summary.scored
    assert all(0 <= r.p_churn <= 1 and r.clv >= 0 and r.abc_class in "ABC" for r in scored)
    assert all(len(r.reasons["top"]) <= 3 for r in scored)
    texts = [t["text"] for r in scored for t in r.reasons["top"]]
    assert texts, "risky customers get reasons"
    assert all(t and (t[0].islower() or t[0].isdigit()) for t in texts)

    score(engine, chunk=250)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Score)).scalar_one()
    assert total == summary.customers, "scoring again replaces, never duplicates"
    engine.dispose()


def test_training_needs_history(tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    path = tmp_path / "empty.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with pytest.raises(NotEnoughDataError, match="import billing"):
        train(engine, tmp_path / "models")
    engine.dispose()
