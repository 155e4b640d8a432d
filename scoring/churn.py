"""The churn model: training with out-of-time validation, artifacts, and scoring.

Training uses two windows that end where the store's data ends (``data_end``):
the model is fitted on customers active at ``end - 2h`` labelled over the next ``h``
days and validated on customers active at ``end - h`` labelled over the last ``h``
days, so validation is always on a later period than training. The published model is
then refitted on both windows. The artifact is saved with skops (no pickle) beside a
model card, a metadata file and the validation calibration plot, and recorded as a
``ModelVersion``; the newest trained version is the active one.

Scoring streams customers in chunks as of ``data_end``, so memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.calibration import calibration_curve
from sklearn.pipeline import Pipeline
from sqlalchemy import Connection, Engine, delete, insert

from scoring.artifacts import (
    TRUSTED,
    active_version,
    library_versions,
    load_artifact,
    next_version,
    record_version,
)
from scoring.errors import ModelNotFoundError, NotEnoughDataError
from scoring.evaluate import classification_metrics as evaluation_metrics
from scoring.evaluate import single_threaded
from scoring.explainer import ChurnExplainer
from scoring.features import (
    CATEGORICAL,
    LABEL,
    NUMERIC,
    FeatureBuilder,
    Window,
    customer_id_chunks,
    data_end,
    read_in_process,
    revenue_thresholds,
    start_process_reader,
    with_abc,
)
from scoring.pipeline import build_baseline_pipeline, build_churn_pipeline
from scoring.retention_uplift import call_gain, load_active_uplift
from scoring.value import clv
from store.dialect import is_in_memory_sqlite
from store.models import ModelKind, ModelVersion, Score

Progress = Callable[[float, float], None]
T = TypeVar("T")
FEATURES = NUMERIC + CATEGORICAL


@dataclass(frozen=True)
class TrainResult:
    version: str
    folder: Path
    rows: int
    metrics: dict[str, dict[str, float]]
    trained_from: dt.date
    trained_to: dt.date


def classification_metrics(y: np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> dict[str, float]:
    """The evaluation harness's four metrics, rounded for the store and the model card."""
    return {k: round(v, 4) for k, v in evaluation_metrics(y, p).items()}


def labelled(engine: Engine, window: Window, export_end: dt.date) -> pd.DataFrame:
    """Customers active at the window's cutoff, with features and the churn label."""
    builder = FeatureBuilder(engine, window, export_end)
    frames = [f[f["active"]] for f in builder.chunks(labels=True)]
    return pd.concat(frames) if frames else pd.DataFrame(columns=[*FEATURES, LABEL])


# From this many training rows on, the model is one set of trees with its calibration
# fitted out of fold, not the five-member ensemble, and it learns faster: scoring a base
# evaluates every tree once per customer, and at 1M customers the ensemble had 4,414
# trees (58.5 s of bare prediction against the 60 s the whole run may take), its
# members each stopped only by the 1,000-round cap. On the 1M-customer demo base
# (515,000 training rows, 517,000 validation rows) one set of trees at learning rate
# 0.05 (1,000 trees) validated at ROC AUC 0.7486, Brier 0.0741; at 0.15 and 400 trees
# 0.7483, 0.0741; at 0.3 (early stop at 163 trees) 0.7475, 0.0741. Averaging five
# members gains least where every member has seen hundreds of thousands of rows.
ENSEMBLE_ROWS = 200_000
LARGE_TREES = {"learning_rate": 0.15, "max_iter": 400}
# Chunks of features read at once while scoring, and the chunks a base must have for
# them to be read in processes of their own (``_chunk_reader``). On the 1M-customer demo
# base a chunk of 50,000 took 2.3 s to read, 1.7 s of it in the database, and 1.4 s to
# predict and explain.
READ_AHEAD = 2
PROCESS_READS_FROM = 4


def churn_pipeline(rows: int) -> Pipeline:
    """The churn pipeline for a training table of ``rows`` rows (see ``ENSEMBLE_ROWS``)."""
    if rows < ENSEMBLE_ROWS:
        return build_churn_pipeline(NUMERIC, CATEGORICAL)
    pipeline = build_churn_pipeline(NUMERIC, CATEGORICAL, ensemble=False)
    return pipeline.set_params(**{f"model__estimator__{k}": v for k, v in LARGE_TREES.items()})


def train(
    engine: Engine,
    models_dir: Path,
    *,
    horizon_days: int = 90,
    progress: Progress | None = None,
) -> TrainResult:
    end = data_end(engine)
    if end is None:
        raise NotEnoughDataError("the store has no billing data: import billing.csv first")
    validate_at = end - dt.timedelta(days=horizon_days)
    train_at = validate_at - dt.timedelta(days=horizon_days)
    step = stepper(progress, 6)
    fit_rows = labelled(engine, Window(train_at, horizon_days), end)
    step()
    check_rows = labelled(engine, Window(validate_at, horizon_days), end)
    step()
    for name, rows in (("training", fit_rows), ("validation", check_rows)):
        churned = int(rows[LABEL].sum()) if len(rows) else 0
        if churned < 20 or len(rows) - churned < 20:
            raise NotEnoughDataError(
                f"the {name} window holds {len(rows)} active customers of whom {churned} "
                "churned: import more history (at least two label windows of billing)"
            )
    y_fit, y_check = fit_rows[LABEL].to_numpy(bool), check_rows[LABEL].to_numpy(bool)
    # one OpenMP thread: on a busy machine the boosted trees' threads wait on each
    # other and training takes seven times longer (35 s against 5 s on the demo base)
    with single_threaded():
        model = churn_pipeline(len(fit_rows)).fit(fit_rows[FEATURES], y_fit)
        baseline = build_baseline_pipeline(NUMERIC, CATEGORICAL).fit(fit_rows[FEATURES], y_fit)
        step()
        p_model = model.predict_proba(check_rows[FEATURES])[:, 1]
        p_base = baseline.predict_proba(check_rows[FEATURES])[:, 1]
        metrics = {
            "model": classification_metrics(y_check, p_model),
            "baseline": classification_metrics(y_check, p_base),
            "validation": {"rows": len(check_rows), "churn_rate": round(float(y_check.mean()), 4)},
        }
        both = pd.concat([fit_rows, check_rows])
        final = churn_pipeline(len(both)).fit(both[FEATURES], both[LABEL].to_numpy(bool))
    step()
    version = next_version(engine, ModelKind.CHURN, end)
    folder = models_dir / version
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(final, folder / "model.skops")
    _calibration_plot(y_check, p_model, p_base, folder / "calibration.png")
    meta = {
        "version": version,
        "kind": "churn",
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_windows": [
            {"cutoff": train_at.isoformat(), "labels_to": validate_at.isoformat()},
            {"cutoff": validate_at.isoformat(), "labels_to": end.isoformat()},
        ],
        "rows": len(both),
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "metrics": metrics,
        "libraries": library_versions(),
    }
    (folder / "metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (folder / "model_card.md").write_text(_model_card(meta), encoding="utf-8")
    step()
    record_version(
        engine,
        ModelVersion(
            kind=ModelKind.CHURN,
            version=version,
            trained_from=train_at,
            trained_to=end,
            rows=len(both),
            metrics=metrics,
            artifact_path=str((folder / "model.skops").resolve()),
            active=True,
        ),
    )
    step()
    return TrainResult(version, folder, len(both), metrics, train_at, end)


def load_active(engine: Engine) -> tuple[ModelVersion, Pipeline]:
    mv = active_version(engine, ModelKind.CHURN)
    if mv is None:
        raise ModelNotFoundError("no churn model yet: run `telecampaign train` first")
    return mv, load_pipeline(Path(mv.artifact_path))


def load_pipeline(path: Path) -> Pipeline:
    model: Pipeline = load_artifact(path, TRUSTED)
    return model


@dataclass(frozen=True)
class ScoreSummary:
    version: str
    as_of: dt.date
    customers: int
    scored: int
    mean_p_churn: float
    by_abc: dict[str, int]


def score(engine: Engine, *, chunk: int = 50_000, progress: Progress | None = None) -> ScoreSummary:
    """Score every customer as of the store's data end with the active model.

    Chunks flow through three stages that overlap: the next chunks' features are read
    while this one is predicted and explained, and the previous one is written
    meanwhile. The database and the trees work outside Python's lock, so the stages
    share a machine's cores; memory holds ``READ_AHEAD`` + 2 chunks at most. A large
    base's chunks are read in ``READ_AHEAD`` processes of their own (``_chunk_reader``).
    """
    customers = written = scored = 0
    p_sum = 0.0
    by_abc: dict[str, int] = {}
    with (
        ExitStack() as stack,
        _stage(engine, "score-predict") as helper,
        _stage(engine, "score-write") as writer,
    ):
        end = data_end(engine)
        if end is None:
            load_active(engine)  # without a model, say that first
        assert end is not None
        # the ABC boundaries (a pass over a year of bills) are summed while the first
        # chunk is read and the models load
        thresholds = helper.submit(revenue_thresholds, engine, end)
        ranges = list(customer_id_chunks(engine, chunk))
        read = stack.enter_context(_chunk_reader(engine, end, thresholds, len(ranges)))
        stack.enter_context(_collector_paused())
        reads = deque(read(*r) for r in ranges[:READ_AHEAD])
        mv, model = load_active(engine)
        uplift_model = load_active_uplift(engine)
        explainer = ChurnExplainer(model, helper)
        saving: Future[int] | None = None
        for n, (lo, hi) in enumerate(ranges):
            frame = reads.popleft().result()
            if n + READ_AHEAD < len(ranges):
                reads.append(read(*ranges[n + READ_AHEAD]))
            if "abc_class" not in frame:
                with_abc(frame, thresholds.result())
            active = frame["active"].to_numpy(bool)
            p = np.full(len(frame), np.nan)
            gain = np.full(len(frame), np.nan)
            reasons: list[list[dict[str, Any]]] = [[] for _ in range(len(frame))]
            if active.any():
                live = frame[active]
                p_live, why = explainer.predict_and_explain(live)
                p[active] = p_live
                if uplift_model is not None:
                    gain[active] = call_gain(uplift_model, live)
                for i, r in zip(np.flatnonzero(active).tolist(), why, strict=True):
                    reasons[i] = r
            arpu = frame["arpu"].fillna(frame["mrr"]).to_numpy(float)
            value = np.where(active, clv(arpu, np.nan_to_num(p, nan=1.0)), 0.0)
            if saving is not None:
                written += saving.result()
                if progress is not None:
                    progress(written, written)
            saving = writer.submit(
                _write_scores, engine, mv, frame, lo, hi, p, gain, reasons, arpu, value
            )
            customers += len(frame)
            scored += int(active.sum())
            p_sum += float(np.nansum(p))
            for label, count in frame["abc_class"].value_counts(sort=False).items():
                by_abc[str(label)] = by_abc.get(str(label), 0) + int(count)
        if saving is not None:
            written += saving.result()
            if progress is not None:
                progress(written, written)
    return ScoreSummary(
        mv.version, end, customers, scored, p_sum / scored if scored else 0.0, by_abc
    )


def _in_memory(engine: Engine) -> bool:
    return is_in_memory_sqlite(engine)


def _stage(engine: Engine, name: str) -> Executor:
    """A thread for one stage of scoring; the calling thread itself for a SQLite
    database in memory, which a connection from another thread would not see."""
    return _Inline() if _in_memory(engine) else ThreadPoolExecutor(1, thread_name_prefix=name)


@contextmanager
def _chunk_reader(
    engine: Engine, end: dt.date, thresholds: Future[tuple[float, float]], chunks: int
) -> Iterator[Callable[[int, int], Future[pd.DataFrame]]]:
    """``read(lo, hi)``: the features of a chunk of customers, read meanwhile.

    A base of ``PROCESS_READS_FROM`` chunks or more is read in ``READ_AHEAD`` processes,
    each with its own connection and its own Python: reading a chunk is mostly the
    database's work, but the driver takes Python's lock back after every row it steps
    to, and waits for it behind the explaining and the writing here. On the 1M base one
    reading thread was busy 78% of the run and the main thread 46%, and a second
    reading thread made the run slower, not faster. Frames read so come without their
    ABC classes, which the caller adds (``with_abc``) once ``thresholds`` are summed.
    Smaller bases are read on one thread, which costs nothing to start.
    """
    if chunks < PROCESS_READS_FROM or _in_memory(engine):
        builder = FeatureBuilder(engine, Window(end), end, thresholds=thresholds)
        with _stage(engine, "score-read") as thread:
            yield lambda lo, hi: thread.submit(builder.frame, lo, hi)
        return
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(
        READ_AHEAD,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
        initializer=start_process_reader,
        initargs=(url, end, end),
    ) as processes:
        yield lambda lo, hi: processes.submit(read_in_process, lo, hi)


class _Inline(Executor):
    """Runs each task at once, in the calling thread."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:
            done.set_exception(error)
        return done


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector: scoring makes millions of short-lived rows,
    tuples and dicts (freed by reference counting), and with the model's objects alive
    each full collection walks all of them, a fifth of the CPU time for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _nullable(values: np.ndarray[Any, Any], digits: int) -> list[float | None]:
    return [None if np.isnan(v) else v for v in np.round(values, digits).tolist()]


_NO_REASONS: dict[str, Any] = {"top": []}  # shared by every row without reasons


def _write_scores(
    engine: Engine,
    mv: ModelVersion,
    frame: pd.DataFrame,
    lo: int,
    hi: int,
    p: np.ndarray[Any, np.dtype[np.float64]],
    gain: np.ndarray[Any, np.dtype[np.float64]],
    reasons: list[list[dict[str, Any]]],
    arpu: np.ndarray[Any, np.dtype[np.float64]],
    value: np.ndarray[Any, np.dtype[np.float64]],
) -> int:
    """Replace the chunk's scores from this model version, in one statement each way."""
    n = len(frame)
    columns: dict[str, list[Any]] = {
        "customer_id": frame.index.tolist(),
        "model_version_id": [mv.id] * n,
        "scored_at": [dt.datetime.now(dt.UTC)] * n,
        "p_churn": _nullable(p, 6),
        "uplift": _nullable(gain, 6),
        "reasons": [{"top": why} if why else _NO_REASONS for why in reasons],
        "arpu": _nullable(arpu, 2),
        "clv": np.round(value, 2).tolist(),
        "abc_class": frame["abc_class"].tolist(),
        "xyz_class": [None if x == "none" else x for x in frame["xyz_class"].tolist()],
        "lifecycle": frame["lifecycle"].tolist(),
    }
    with engine.begin() as conn:
        # the chunk is every customer with lo <= id <= hi
        conn.execute(
            delete(Score).where(Score.model_version_id == mv.id, Score.customer_id.between(lo, hi))
        )
        if n:
            _insert_many(conn, Score.__table__, columns)
    return n


def _insert_many(conn: Connection, table: Any, columns: Mapping[str, list[Any]]) -> None:
    """One executemany INSERT of rows given as columns.

    Values go through their columns' own bind processors (as SQLAlchemy would send
    them; an object that recurs in many rows is processed once), then straight to the
    driver: SQLAlchemy's per-row parameter handling would cost more than the
    database's work here.
    """
    dialect = conn.dialect
    compiled = insert(table).compile(
        dialect=dialect, column_keys=list(columns), for_executemany=True
    )
    ready: dict[str, list[Any]] = {}
    for key, values in columns.items():
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            ready[key] = values
        else:
            # a value that recurs (one object in many rows) is processed once
            done: dict[int, Any] = {}
            ready[key] = [
                done[id(v)] if id(v) in done else done.setdefault(id(v), process(v)) for v in values
            ]
    names = list(compiled.positiontup or []) if compiled.positional else list(ready)
    rows = list(zip(*(ready[name] for name in names), strict=True))
    params: list[Any] = (
        rows if compiled.positional else [dict(zip(names, r, strict=True)) for r in rows]
    )
    conn.exec_driver_sql(compiled.string, params)


def stepper(progress: Progress | None, total: int) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return step


def _calibration_plot(
    y: np.ndarray[Any, Any], p_model: np.ndarray[Any, Any], p_base: np.ndarray[Any, Any], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for name, p in (("model", p_model), ("logistic baseline", p_base)):
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    top = float(max(np.max(p_model), np.max(p_base), np.mean(y) * 2))
    ax.set(
        xlim=(0, min(1.0, top)),
        ylim=(0, min(1.0, top)),
        xlabel="predicted 90-day churn probability",
        ylabel="observed churn rate",
        title="Calibration on the validation window",
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)


def _model_card(meta: dict[str, Any]) -> str:
    m, b = meta["metrics"]["model"], meta["metrics"]["baseline"]
    rows = "\n".join(
        f"| {k} | {m[k]} | {b[k]} |" for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")
    )
    windows = "; ".join(
        f"features at {w['cutoff']}, churn up to {w['labels_to']}" for w in meta["training_windows"]
    )
    libraries = ", ".join(f"{k} {v}" for k, v in meta["libraries"].items())
    return f"""# Model card: {meta["version"]}

Predicts the probability that a customer who holds a product today holds none some
day in the next 90 days. Calibrated gradient boosting; a logistic regression is the
baseline it must beat.

- Trained: {meta["trained_at"]} on {meta["rows"]:,} customer-windows ({windows}).
- Validation: out of time, on the later window
  ({meta["metrics"]["validation"]["rows"]:,} customers, churn rate
  {meta["metrics"]["validation"]["churn_rate"]:.1%}), with the model fitted on the earlier one.
- Features: {", ".join(meta["features"]["numeric"] + meta["features"]["categorical"])}.
- Libraries: {libraries}.

| metric | model | baseline |
|---|---|---|
{rows}

![calibration](calibration.png)

Intended use: ranking customers for retention calls and sizing expected saves. Not for
decisions about an individual without a person in the loop; scores on customers unlike
the training base (new segments, products) are less reliable.
"""
