"""How much a call list built by the planner is worth, measured on the ground truth.

    uv run python scripts/eval_targeting.py --data DIR --size N [--store DB] [--json]

``DIR`` is a folder written by `telecampaign demo-data`. The script imports it into a
SQLite store (or reuses ``--store``), trains the churn and uplift models, scores the
base, and compares the planner's anti-churn list of ``N`` treated customers with lists
built by other rules and with the oracle (``simulation.targeting`` says how).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from simulation.targeting import RULES, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a demo-data folder")
    parser.add_argument("--size", type=int, required=True, help="customers to call")
    parser.add_argument("--store", type=Path, help="reuse (or keep) the SQLite store here")
    parser.add_argument("--seed", type=int, default=0, help="seed of the holdout draw")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    truth_file = args.data / "ground_truth.csv"
    if not truth_file.exists():
        parser.error(f"{truth_file} is missing: --data must be a `telecampaign demo-data` folder")
    from scripts.prepared_store import prepare

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    with tempfile.TemporaryDirectory(prefix="tc-eval-targeting-") as tmp:
        db = args.store or Path(tmp) / "store.db"
        engine = prepare(args.data, db, db.with_name(db.stem + "-models"), log=log)
        try:
            out = evaluate(engine, truth_file, args.size, seed=args.seed)
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"anti-churn lists of {args.size:,} from {out['pool']:,} callable customers "
        f"(planner ranks by {out['basis']})"
    )
    for rule in RULES:
        row = out[rule]
        share = row["incremental_value"] / out["oracle"]["incremental_value"]
        print(
            f"  {rule:<11} saves {row['incremental_saves']:>9,.1f}  value "
            f"{row['incremental_value']:>12,.0f}  ({share:.0%} of the oracle)"
        )
    print(f"targets met: {out['targets_met']}  ratios: {out['ratios']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
