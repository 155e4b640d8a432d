"""Training the offer-acceptance propensity model: versions, offers joining, the command."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from runner.cli.main import app
from scoring import propensity_training
from scoring.errors import NotEnoughDataError
from scoring.features import data_end
from scoring.propensity import (
    candidate_pairs,
    load_active_propensity,
    predict_acceptance,
)
from scoring.propensity_training import train_propensity
from store.db import make_engine, transaction
from store.models import (
    Campaign,
    CampaignKind,
    Disposition,
    Group,
    ListEntry,
    ModelKind,
    ModelVersion,
)

SMALL = {"min_taken_up": 5, "fit_windows": 3}


def test_training_saves_and_activates_a_new_version(demo_copy: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_copy}")
    assert load_active_propensity(engine) is None
    steps: list[float] = []
    first = train_propensity(
        engine, tmp_path / "models", progress=lambda done, _: steps.append(done), **SMALL
    )
    assert steps[-1] == 8
    assert {p.name for p in first.folder.iterdir()} == {
        "model.skops",
        "metadata.json",
        "model_card.md",
    }
    meta = json.loads((first.folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "propensity"
    assert [w["cutoff"] for w in meta["training_windows"]] == sorted(
        w["cutoff"] for w in meta["training_windows"]
    )
    assert len(meta["training_windows"]) == 4
    assert meta["libraries"]["scikit-learn"]
    assert len(meta["reliability"]) == 10
    m = first.metrics
    assert (
        set(m["model"]) == set(m["baseline"]) == {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
    )
    assert 0.0 <= m["model"]["roc_auc"] <= 1.0
    assert m["offers"] == {"rows": 0, "accepted": 0}
    assert "| roc_auc |" in (first.folder / "model_card.md").read_text(encoding="utf-8")

    second = train_propensity(engine, tmp_path / "models", **SMALL)
    assert second.version != first.version
    active = load_active_propensity(engine)
    assert active is not None
    assert active.version == second.version
    with engine.connect() as conn:
        versions = conn.execute(
            select(ModelVersion.version, ModelVersion.active, ModelVersion.trained_to)
            .where(ModelVersion.kind == ModelKind.PROPENSITY)
            .order_by(ModelVersion.id)
        ).all()
    assert [(v, a) for v, a, _ in versions] == [(first.version, False), (second.version, True)]
    assert versions[-1][2] == data_end(engine)
    engine.dispose()


def test_offers_recorded_on_lists_join_the_training(demo_copy: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_copy}")
    end = data_end(engine)
    assert end is not None
    rng = np.random.default_rng(3)
    with transaction(engine) as s:
        for name, launched in (
            ("spring", end - dt.timedelta(days=150)),
            ("autumn", end - dt.timedelta(days=40)),
        ):
            campaign = Campaign(
                name=name,
                kind=CampaignKind.UP_SELL,
                launched_at=dt.datetime.combine(launched, dt.time(9), tzinfo=dt.UTC),
            )
            s.add(campaign)
            s.flush()
            pairs = candidate_pairs(engine, launched).drop_duplicates("customer_id").iloc[:80]
            for customer, product in pairs.itertuples(index=False):
                entry = ListEntry(
                    campaign_id=campaign.id,
                    customer_id=int(customer),
                    product_id=int(product),
                    group=Group.TREATMENT,
                )
                s.add(entry)
                s.flush()
                said = dt.datetime.combine(
                    launched + dt.timedelta(days=3), dt.time(11), tzinfo=dt.UTC
                )
                s.add(
                    Disposition(
                        list_entry_id=entry.id,
                        customer_id=int(customer),
                        code="accepted" if rng.random() < 0.4 else "refused",
                        created_at=said,
                    )
                )
    with engine.connect() as conn:
        accepted = conn.execute(
            select(func.count()).where(Disposition.code == "accepted")
        ).scalar_one()
    result = train_propensity(engine, tmp_path / "models", **SMALL)
    offers = result.metrics["offers"]
    assert (offers["rows"], offers["accepted"]) == (160, accepted)
    assert offers["validation"]["rows"] == 80, "the autumn offers were answered after the cutoff"
    model = load_active_propensity(engine)
    assert model is not None
    p = predict_acceptance(engine, model, candidate_pairs(engine, end), end)
    assert np.nanmean(p) > 0.1, "offers lift the scores to the acceptance scale"
    engine.dispose()


def test_too_little_history_is_refused(
    demo_copy: Path, tmp_path: Path, sqlite_template: Path
) -> None:
    engine = make_engine(f"sqlite:///{demo_copy}")
    with pytest.raises(NotEnoughDataError, match="too few"):
        train_propensity(engine, tmp_path / "models")
    assert load_active_propensity(engine) is None
    engine.dispose()
    empty = tmp_path / "empty.db"
    shutil.copy(sqlite_template, empty)
    engine = make_engine(f"sqlite:///{empty}")
    with pytest.raises(NotEnoughDataError, match="import billing"):
        train_propensity(engine, tmp_path / "models")
    engine.dispose()


# ----------------------------------------------------------------------------- the command


def test_propensity_train_command(
    demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{demo_copy}", "TELECAMPAIGN_HOME": str(tmp_path)}
    result = CliRunner().invoke(app, ["propensity", "train"], env=env)
    assert result.exit_code == 1
    assert "too few to learn from" in result.stderr
    assert "Traceback" not in result.output

    monkeypatch.setattr(propensity_training, "MIN_CLASS_ROWS", 5)
    result = CliRunner().invoke(app, ["propensity", "train", "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["version"].startswith("propensity-")
    assert set(out["model"]) == {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
    result = CliRunner().invoke(app, ["propensity", "train"], env=env)
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.stdout
    assert "no accepted or refused offers recorded yet" in result.stdout
