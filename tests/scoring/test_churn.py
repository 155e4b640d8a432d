"""Training, artifacts and scoring on a small demo store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sqlalchemy import func, select

from scoring.artifacts import TRUSTED
from scoring.churn import FEATURES, LARGE_TREES, load_active, score, train
from scoring.errors import ModelNotFoundError, NotEnoughDataError
from scoring.features import CATEGORICAL, NUMERIC, FeatureBuilder, Window, data_end
from scoring.pipeline import build_churn_pipeline
from scoring.reasons import MIN_WEIGHT, REASONS, explain
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

    assert len(model_members(engine)) == 5, "a small base: the five-member ensemble"
    assert_plain_scores(engine, rows)

    score(engine, chunk=250)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Score)).scalar_one()
    assert total == summary.customers, "scoring again replaces, never duplicates"
    engine.dispose()


@pytest.mark.parametrize("reading", ["processes", "thread"])
def test_a_large_base_gets_one_set_of_trees(
    demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    monkeypatch.setattr("scoring.churn.ENSEMBLE_ROWS", 300)  # the demo base counts as large
    # chunks read in processes of their own, or on one thread: the same scores either way
    monkeypatch.setattr("scoring.churn.PROCESS_READS_FROM", 1 if reading == "processes" else 10**9)
    engine = make_engine(f"sqlite:///{demo_copy}")
    result = train(engine, tmp_path / "models")
    assert result.rows >= 300
    (member,) = model_members(engine)
    assert member.estimator.learning_rate == LARGE_TREES["learning_rate"]
    assert 0.5 < result.metrics["model"]["roc_auc"] <= 1.0
    summary = score(engine, chunk=250)
    mv, _ = load_active(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(Score).where(Score.model_version_id == mv.id)).all()
    assert summary.scored > 0
    assert_plain_scores(engine, rows)
    engine.dispose()


def model_members(engine: Any) -> list[Any]:
    _, model = load_active(engine)
    return list(model[-1].calibrated_classifiers_)


def assert_plain_scores(engine: Any, rows: Any) -> None:
    """Every stored probability and reason is what plain ``predict_proba`` calls give."""
    by_id = {r.customer_id: r for r in rows}
    _, model = load_active(engine)
    end = data_end(engine)
    assert end is not None
    frame = pd.concat(list(FeatureBuilder(engine, Window(end), end).chunks()))
    live = frame[frame["active"]]
    expected_p = model.predict_proba(live[FEATURES])[:, 1]
    expected_reasons = plain_reasons(live, model)
    member = model[-1].calibrated_classifiers_[0]
    assert expected_reasons == explain(
        live, lambda f: member.predict_proba(model[:-1].transform(f[FEATURES]))[:, 1]
    ), "the plain path of scoring.reasons agrees"
    for cid, p, why, abc in zip(
        live.index, expected_p, expected_reasons, live["abc_class"], strict=True
    ):
        assert by_id[cid].p_churn == round(float(p), 6)
        assert by_id[cid].abc_class == abc
        assert by_id[cid].reasons == {"top": why}, "the same reasons as plain model calls"


def plain_reasons(frame: pd.DataFrame, model: Pipeline, top: int = 3) -> list[list[dict[str, Any]]]:
    """The reasons the literal way: one prediction of the whole frame per reason, with the
    first calibrated member, and the rows picked one by one."""
    member = model[-1].calibrated_classifiers_[0]

    def predict(f: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.asarray(member.predict_proba(model[:-1].transform(f[FEATURES]))[:, 1])

    p = predict(frame)
    weights = np.zeros((len(frame), len(REASONS)))
    for j, reason in enumerate(REASONS):
        changed = frame.copy()
        for column, value in reason.reference.items():
            changed[column] = value
        weights[:, j] = p - predict(changed)
    out: list[list[dict[str, Any]]] = []
    for i in range(len(frame)):
        row = frame.iloc[[i]]
        picked: list[dict[str, Any]] = []
        for j in np.argsort(-weights[i]):
            if weights[i, j] < MIN_WEIGHT or len(picked) == top:
                break
            if REASONS[j].applies(row)[0]:
                text = REASONS[j].say(row.iloc[0])
                picked.append(
                    {"code": REASONS[j].code, "text": text, "weight": round(weights[i, j], 4)}
                )
        out.append(picked)
    return out


def test_training_needs_history(tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    path = tmp_path / "empty.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with pytest.raises(NotEnoughDataError, match="import billing"):
        train(engine, tmp_path / "models")
    engine.dispose()
