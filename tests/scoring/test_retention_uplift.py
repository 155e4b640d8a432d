"""The retention uplift model's inputs and its refusal to learn from too little."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.errors import NotEnoughDataError
from scoring.retention_uplift import load_active_uplift, read_history, train_uplift
from store.db import make_engine


def test_history_needs_its_columns_and_both_groups(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("customer_id,group\nC1,treated\n", encoding="utf-8")
    with pytest.raises(NotEnoughDataError, match="missing column"):
        read_history(path)
    path.write_text(
        "customer_id,contacted_on,group,churned_90d\nC1,2026-04-04,treated,0\n", encoding="utf-8"
    )
    with pytest.raises(NotEnoughDataError, match="both 'treated' and 'holdout'"):
        read_history(path)
    with pytest.raises(NotEnoughDataError, match="no such file"):
        read_history(tmp_path / "none.csv")


def test_a_small_campaign_is_refused_and_nothing_is_activated(
    demo_copy: Path, tmp_path: Path
) -> None:
    history = demo_copy.parent / "history.csv"
    import shutil

    source = next(demo_copy.parents[1].glob("demo-store*/data/history.csv"))
    shutil.copy(source, history)
    engine = make_engine(f"sqlite:///{demo_copy}")
    with pytest.raises(NotEnoughDataError, match="too few"):
        train_uplift(engine, history, tmp_path / "models")
    assert load_active_uplift(engine) is None
    engine.dispose()
