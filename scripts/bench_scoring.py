"""Benchmark: score a generated customer base end to end.

    uv run python scripts/bench_scoring.py --customers 1000000 [--data DIR] [--store DB] [--json]

Sets up (untimed) a SQLite store with the demo data imported and a trained churn
model, then times ``telecampaign score``'s work (features from the store, prediction,
reasons, value and classes, writing the scores) and, on the same feature matrix, the
bare ``predict_proba``; prints both, their ratio and the peak RSS. Targets: 1M customers
in at most 60 s with a peak RSS of at most 2 GB. The peak RSS is the process's: on a
fresh store it includes the set-up, so time a kept store (``--store``) a second time. A
large base's features are read in ``READ_AHEAD`` processes (``scoring.churn``); the
largest one's peak RSS is printed too, and the memory figure is the process's peak plus
that many times the largest reader's.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoring.churn import FEATURES, READ_AHEAD, load_active, score, train
from scoring.evaluate import single_threaded
from scoring.features import FeatureBuilder, Window, data_end
from store.db import make_engine
from store.importer import import_file
from store.migrate import upgrade

KINDS = ("products", "matrix", "customers", "holdings", "billing", "interactions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="demo data already generated here")
    parser.add_argument("--store", type=Path, help="reuse (or keep) the SQLite store here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tc-bench-score-") as tmp:
        folder = Path(tmp)
        db = args.store or folder / "store.db"
        url = f"sqlite:///{db}"
        fresh = not db.exists()
        if fresh:
            data = args.data
            if data is None:
                from simulation.base.generator import generate

                data = folder / "data"
                generate(data, args.customers, args.seed)
            upgrade(url)
            engine = make_engine(url)
            for kind in KINDS:
                started = time.perf_counter()
                result = import_file(engine, kind, data / f"{kind}.csv", workers=None)
                print(
                    f"set-up: imported {result.read:,} {kind} in "
                    f"{time.perf_counter() - started:.0f} s",
                    flush=True,
                )
            started = time.perf_counter()
            train(engine, folder / "models" if args.store is None else db.parent / "models")
            print(f"set-up: trained in {time.perf_counter() - started:.0f} s", flush=True)
        else:
            engine = make_engine(url)

        started = time.perf_counter()
        summary = score(engine)
        end_to_end = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        _, model = load_active(engine)
        end = data_end(engine)
        assert end is not None
        frames = [f[f["active"]][FEATURES] for f in FeatureBuilder(engine, Window(end)).chunks()]
        matrix = pd.concat(frames)
        started = time.perf_counter()
        with single_threaded():
            model.predict_proba(matrix)
        bare = time.perf_counter() - started
        engine.dispose()
        if args.store is None:
            shutil.rmtree(folder / "models", ignore_errors=True)

    ratio = end_to_end / bare if bare else float("nan")
    print(
        f"scored {summary.customers:,} customers ({summary.scored:,} active) end to end in "
        f"{end_to_end:.1f} s; bare predict_proba on the same {len(matrix):,} rows "
        f"{bare:.1f} s; ratio {ratio:.1f}; peak RSS during scoring {peak:,.0f} MiB, the "
        f"largest reading process {reader:,.0f} MiB ({READ_AHEAD} of them): at most "
        f"{peak + READ_AHEAD * reader:,.0f} MiB together"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "customers": summary.customers,
                    "scored": summary.scored,
                    "end_to_end_s": round(end_to_end, 1),
                    "predict_proba_s": round(bare, 1),
                    "ratio": round(ratio, 1),
                    "peak_rss_mib": round(peak),
                    "reader_peak_rss_mib": round(reader),
                    "readers": READ_AHEAD,
                    "total_peak_rss_mib": round(peak + READ_AHEAD * reader),
                }
            )
        )


if __name__ == "__main__":
    main()
