"""The `telecampaign` command line.

Settings are read once, in the callback, and handed to each command through the
context. Mistakes a user can fix are printed plainly and end with exit code 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from runner.cli.api_keys import apikey_app
from runner.cli.audit import audit_command
from runner.cli.campaigns import register as register_campaign_commands
from runner.cli.common import console, fail, migrated_store, settings_of
from runner.cli.dialer import register as register_dialer_commands
from runner.cli.matrix import matrix_app
from runner.cli.models import model_app, propensity_app, uplift_app
from runner.cli.privacy import customer_app, retention_app
from runner.cli.reports import register as register_report_commands
from runner.cli.settings_cmd import register as register_settings_commands
from runner.cli.users import user_app
from runner.progress import progress_bar
from runner.site_secrets import SecretKeyError, suppression_key
from scoring.errors import ScoringError
from store.audit import Actor, AuditAction, record_apart
from store.db import make_engine
from store.errors import StoreError
from store.importer import KINDS, import_file
from store.migrate import current_revision, head_revision, upgrade

app = typer.Typer(
    name="telecampaign",
    help="Outbound retention and telesales campaigns: score, plan, dial, measure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(uplift_app, name="uplift")
app.add_typer(propensity_app, name="propensity")
app.add_typer(matrix_app, name="matrix")
app.add_typer(user_app, name="user")
app.add_typer(customer_app, name="customer")
app.add_typer(retention_app, name="retention")
app.add_typer(apikey_app, name="apikey")
app.command("audit")(audit_command)
register_campaign_commands(app)
register_dialer_commands(app)
register_report_commands(app)
register_settings_commands(app)

_settings = settings_of


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once from the environment."""
    settings_of(ctx)


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (Alembic)."""
    settings = _settings(ctx)
    upgrade(settings.database_url, revision)
    engine = make_engine(settings.database_url)
    console.print(f"database at revision [bold]{current_revision(engine)}[/]")
    engine.dispose()


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and of this code."""
    engine = make_engine(_settings(ctx).database_url)
    console.print(f"database: {current_revision(engine) or 'empty'}  code: {head_revision()}")
    engine.dispose()


@app.command("import")
def import_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    file: Annotated[Path, typer.Argument(help="The CSV file to import.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML file mapping fields to your columns.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Where to write rejected rows (default: beside the file)."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "utf-8",
    region: Annotated[
        str | None,
        typer.Option(help="Region for numbers without a country code (default from settings)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import customers, products, holdings, billing, interactions, the matrix or a DNC list."""
    settings = _settings(ctx)
    engine = make_engine(settings.database_url)
    try:
        with progress_bar(f"importing {kind}", disable=as_json) as advance:
            result = import_file(
                engine,
                kind,
                file,
                mapping_file=mapping,
                rejects_path=rejects,
                rejects_dir=settings.rejects_dir,
                suppression=suppression_key(settings),
                default_region=region or settings.default_region,
                encoding=encoding,
                workers=None,
                progress=advance,
            )
        counts = {k: v for k, v in result.as_json().items() if isinstance(v, int)}
        record_apart(engine, Actor.cli(), AuditAction.IMPORT, detail={"kind": kind, **counts})
    except (StoreError, SecretKeyError) as exc:
        _record_refused_import(engine, kind)
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    left_out = f", {result.warnings:,} field(s) left out" if result.warnings else ""
    console.print(
        f"{kind}: read {result.read:,}, imported {result.imported:,}, updated "
        f"{result.updated:,}, unchanged {result.unchanged:,}, rejected {result.rejected:,}"
        f"{left_out}",
        soft_wrap=True,
    )
    if result.rejects_file is not None and (result.rejected or result.warnings):
        console.print(
            f"rejected rows, fields left out and why: {result.rejects_file}", soft_wrap=True
        )


def _record_refused_import(engine: Engine, kind: str) -> None:
    """A file refused whole is on the trail too (without the reason, which may quote it)."""
    # no schema yet: the error printed says what to do, and there is no trail to write to
    with contextlib.suppress(SQLAlchemyError):
        detail = {"kind": kind, "refused": True}
        record_apart(engine, Actor.cli(), AuditAction.IMPORT, detail=detail)


@app.command("train")
def train_(
    ctx: typer.Context,
    horizon: Annotated[
        int, typer.Option(min=30, help="Days after the cutoff a churn counts.")
    ] = 90,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train the churn model on the store, validate it out of time, save a new version."""
    from runner.demo.tables import metrics_table
    from scoring.churn import train

    settings = _settings(ctx)
    with migrated_store(settings) as engine, progress_bar("training", disable=as_json) as advance:
        result = train(engine, settings.home / "models", horizon_days=horizon, progress=advance)
    if as_json:
        typer.echo(json.dumps({"version": result.version, "rows": result.rows, **result.metrics}))
        return
    console.print(metrics_table(result.metrics))
    console.print(f"saved {result.version} with its model card in {result.folder}", soft_wrap=True)


@uplift_app.command("train")
def uplift_train(
    ctx: typer.Context,
    history: Annotated[
        Path,
        typer.Option(
            help="Past randomised campaign: customer_id, contacted_on, group, churned_90d."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Learn from a past campaign with a holdout how much a call lowers each customer's risk."""
    from scoring.retention_uplift import train_uplift

    settings = _settings(ctx)
    with migrated_store(settings) as engine:
        result = train_uplift(engine, history, settings.home / "models")
    if as_json:
        typer.echo(json.dumps({"version": result.version, **result.metrics}))
        return
    m = result.metrics
    console.print(
        f"saved {result.version}: {m['rows']:,} customers of the campaign, churn "
        f"{m['churn_treated']:.1%} treated vs {m['churn_holdout']:.1%} holdout; on the held-out "
        f"half Qini AUC {m['qini_auc']:.6f} (95% of random rankings stay below "
        f"{m['random_qini_auc']:.6f}), retention "
        f"uplift in the top 30% {m['uplift_at_30']:+.1%} vs {m['uplift_overall']:+.1%} overall. "
        + (
            "`telecampaign score` now stores each customer's expected drop in churn if called."
            if m["activated"]
            else "It ranks no better than chance, so it is not used: lists rank by risk x value."
        )
    )


@app.command("score")
def score_(
    ctx: typer.Context,
    chunk: Annotated[int, typer.Option(min=100, help="Customers per chunk.")] = 50_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score every customer with the active churn model: risk, reasons, CLV, classes."""
    from scoring.churn import score

    settings = _settings(ctx)
    with migrated_store(settings) as engine, progress_bar("scoring", disable=as_json) as advance:
        summary = score(engine, chunk=chunk, progress=advance)
    info = {
        "version": summary.version,
        "as_of": summary.as_of.isoformat(),
        "customers": summary.customers,
        "scored": summary.scored,
        "mean_p_churn": round(summary.mean_p_churn, 4),
        "by_abc": summary.by_abc,
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    console.print(
        f"scored {summary.scored:,} active customers of {summary.customers:,} with "
        f"{summary.version} as of {summary.as_of}: mean 90-day churn risk "
        f"{summary.mean_p_churn:.1%}"
    )


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(min=100, help="Number of customers.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder to write the CSV files into.")] = Path(
        "demo-data"
    ),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Last day of the data (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a realistic customer base with a known ground truth, ready to import."""
    from runner.demo.end_to_end import demo_data_summary, print_demo_data
    from simulation.base.generator import DEFAULT_AS_OF, generate

    try:
        end = dt.date.fromisoformat(as_of) if as_of else DEFAULT_AS_OF
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a date: write YYYY-MM-DD") from None
    with progress_bar("generating demo data", disable=as_json, total=1.0) as advance:
        summary = generate(out, customers, seed, end, progress=lambda _s, f: advance(f, 1.0))
    info = demo_data_summary(summary)
    if as_json:
        typer.echo(json.dumps(info))
        return
    print_demo_data(console, info)


@app.command("demo")
def demo(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option(min=100, help="Size of the demo base.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 7,
) -> None:
    """Run everything end to end on the embedded defaults and print a summary."""
    from runner.demo.end_to_end import run

    try:
        run(_settings(ctx), console, customers=customers, seed=seed)
    except (StoreError, ScoringError) as exc:
        raise fail(str(exc)) from None
