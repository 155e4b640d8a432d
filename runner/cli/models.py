"""`telecampaign model evaluate`, `uplift evaluate` and `propensity train`.

Typer apps that `runner.cli.main` mounts as sub-commands. The first two read a flat CSV file,
cross-validate the churn model against its logistic baseline, or an uplift learner
against a response model and a random ranking, and print a small table or JSON.
`propensity train` fits the offer-acceptance model on the store and prints its
out-of-time validation. Mistakes a user can fix (a column that is not there, a value
that never occurs, too little history) are printed plainly and end with exit code 1.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from runner.cli.common import console, errors, fail, migrated_store, settings_of
from runner.progress import progress_bar
from scoring.errors import ScoringError

__all__ = ["model_app", "propensity_app", "uplift_app"]

model_app = typer.Typer(
    help="Evaluate the churn model on a CSV file of your own.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
uplift_app = typer.Typer(
    help="Evaluate uplift models on a randomised campaign experiment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
propensity_app = typer.Typer(
    help="Offer-acceptance propensity for cross-sell and up-sell lists.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


FileArgument = Annotated[
    Path, typer.Argument(help="A CSV file with a header row (delimiter and types detected).")
]
DropOption = Annotated[
    list[str] | None,
    typer.Option(
        "--drop", help="A column to leave out, e.g. one filled after the outcome; repeat."
    ),
]
SeedOption = Annotated[int, typer.Option(help="Random seed of the folds or splits.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


class Learner(StrEnum):
    s = "s"
    t = "t"
    x = "x"


@model_app.command("evaluate")
def model_evaluate(
    file: FileArgument,
    target: Annotated[str, typer.Option(help="The column to predict, e.g. Churn.")],
    positive: Annotated[
        str, typer.Option(help="The target value that counts as positive, e.g. Yes.")
    ],
    id_col: Annotated[
        str | None, typer.Option("--id", help="The customer id column, left out of the features.")
    ] = None,
    drop: DropOption = None,
    folds: Annotated[int, typer.Option(min=2, help="Number of stratified CV folds.")] = 5,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Cross-validate the calibrated churn model against a logistic baseline."""
    from scoring.evaluate import evaluate_model

    try:
        with progress_bar("cross-validating", disable=as_json, total=2 * folds) as advance:
            result = evaluate_model(
                file, target, positive, id_col, drop or [], folds, seed, progress=advance
            )
    except ScoringError as exc:
        raise fail(str(exc)) from None
    _print_notes(result)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"{file.name}: {result['rows']:,} rows, {result['positive_rate']:.1%} {target} = "
        f"{positive}; {_feature_count(result)}; means over {folds} stratified folds",
        highlight=False,
    )
    table = _table("model", "baseline")
    table.add_row("ROC AUC", *_cells(result, ("model", "baseline"), "roc_auc", "{:.4f}"))
    table.add_row("PR AUC", *_cells(result, ("model", "baseline"), "pr_auc", "{:.4f}"))
    table.add_row(
        "Brier (lower is better)", *_cells(result, ("model", "baseline"), "brier", "{:.4f}")
    )
    table.add_row(
        "top-decile lift", *_cells(result, ("model", "baseline"), "top_decile_lift", "{:.2f}")
    )
    console.print(table)
    console.print("model: calibrated gradient boosting; baseline: logistic regression")


@uplift_app.command("evaluate")
def uplift_evaluate(
    file: FileArgument,
    treatment: Annotated[str, typer.Option(help="The column saying which arm a row was in.")],
    treated: Annotated[str, typer.Option(help="The treatment value of the treated arm.")],
    control: Annotated[str, typer.Option(help="The treatment value of the control arm.")],
    outcome: Annotated[str, typer.Option(help="The response column, e.g. visit.")],
    positive: Annotated[
        str | None,
        typer.Option(help="The outcome value that counts as a response (default: 1 or yes)."),
    ] = None,
    drop: DropOption = None,
    splits: Annotated[int, typer.Option(min=1, help="Number of random 50/50 splits.")] = 5,
    seed: SeedOption = 0,
    learner: Annotated[
        Learner, typer.Option(help="Meta-learner: s (one model), t (one per arm) or x.")
    ] = Learner.s,
    as_json: JsonOption = False,
) -> None:
    """Compare an uplift learner with a response model and a random ranking."""
    from scoring.uplift import evaluate_uplift

    try:
        with progress_bar("train/test splits", disable=as_json, total=splits) as advance:
            result = evaluate_uplift(
                file,
                treatment,
                treated,
                control,
                outcome,
                drop or [],
                splits,
                seed,
                positive=positive,
                learner=learner.value,
                progress=advance,
            )
    except ScoringError as exc:
        raise fail(str(exc)) from None
    _print_notes(result)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"{file.name}: {result['treated_rows']:,} treated ({treatment} = {treated}), "
        f"{result['control_rows']:,} control ({control}); {outcome} rate "
        f"{result['outcome_rate_treated']:.1%} against {result['outcome_rate_control']:.1%} "
        f"(average effect {result['average_effect']:+.1%}); means over {splits} random "
        "50/50 splits",
        highlight=False,
    )
    arms = ("uplift", "response", "random")
    table = _table(f"uplift ({learner.value}-learner)", "response model", "random")
    table.add_row("Qini AUC", *_cells(result, arms, "qini_auc", "{:.4f}"))
    table.add_row("uplift at 10%", *_cells(result, arms, "uplift_at_10", "{:+.4f}"))
    table.add_row("uplift at 30%", *_cells(result, arms, "uplift_at_30", "{:+.4f}"))
    console.print(table)


@propensity_app.command("train")
def propensity_train(
    ctx: typer.Context,
    horizon: Annotated[
        int, typer.Option(min=30, help="Days after the cutoff a take-up counts.")
    ] = 90,
    as_json: JsonOption = False,
) -> None:
    """Train the offer-acceptance model on the store, validate it out of time, save it."""
    from scoring.propensity_training import train_propensity

    settings = settings_of(ctx)
    with migrated_store(settings) as engine, progress_bar("training", disable=as_json) as advance:
        result = train_propensity(
            engine, settings.home / "models", horizon_days=horizon, progress=advance
        )
    metrics = result.metrics
    if as_json:
        typer.echo(json.dumps({"version": result.version, "rows": result.rows, **metrics}))
        return
    v = metrics["validation"]
    console.print(
        f"out-of-time validation: {v['rows']:,} offerable pairs at {v['cutoff']}, "
        f"{v['positive_rate']:.2%} taken up within {horizon} days "
        f"(mean prediction {v['mean_p']:.2%})",
        highlight=False,
    )
    table = _table("model", "baseline")
    for key, name, fmt in (
        ("roc_auc", "ROC AUC", "{:.4f}"),
        ("pr_auc", "PR AUC", "{:.4f}"),
        ("brier", "Brier (lower is better)", "{:.4f}"),
        ("top_decile_lift", "top-decile lift", "{:.2f}"),
    ):
        table.add_row(name, *_cells(metrics, ("model", "baseline"), key, fmt))
    console.print(table)
    console.print(
        "model: calibrated gradient boosting; baseline: take-up rate per product and tier step"
    )
    offers = metrics["offers"]
    if offers["rows"]:
        console.print(
            f"learned from {offers['rows']:,} offers of our own ({offers['accepted']:,} accepted)"
        )
    else:
        console.print(
            "no accepted or refused offers recorded yet: the scores are unprompted take-up, "
            "a ranking proxy well below the acceptance of a call",
            highlight=False,
        )
    console.print(f"saved {result.version} with its model card in {result.folder}", soft_wrap=True)


def _table(*columns: str) -> Table:
    table = Table("metric")
    for column in columns:
        table.add_column(column, justify="right")
    return table


def _print_notes(result: dict[str, Any]) -> None:
    for name, reason in result["ignored"].items():
        errors.print(
            f"note: column {escape(repr(name))} left out: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    for warning in result["warnings"]:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def _feature_count(result: dict[str, Any]) -> str:
    numeric, categorical = result["features"]["numeric"], result["features"]["categorical"]
    return (
        f"{len(numeric) + len(categorical)} features ({len(numeric)} numeric, "
        f"{len(categorical)} categorical)"
    )


def _cells(result: dict[str, Any], columns: tuple[str, ...], key: str, fmt: str) -> list[str]:
    return [fmt.format(result[column][key]) for column in columns]
