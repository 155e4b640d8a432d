"""`telecampaign settings show|set|history`: a campaign's settings, or the site's.

Without a campaign the commands speak of the site-wide settings every campaign starts
from. A change is read from a YAML file (README "Campaign settings"), checked whole and
stored as a new version with who made it; a bad file changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.table import Table

from runner.cli.common import console, fail, migrated_store, settings_of
from runner.loop import run_async

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runner.settings import Settings
    from store.models import Campaign

__all__ = ["owned_caller_ids", "read_settings_file", "register"]

settings_app = typer.Typer(
    help="A campaign's settings (calling window, caps, retries, caller ID, costs), or the "
    "site-wide defaults.",
    no_args_is_help=True,
)
CampaignArgument = Annotated[
    str | None, typer.Argument(help="The campaign's name; none: the site-wide settings.")
]


@settings_app.command("show")
def show_command(
    ctx: typer.Context,
    campaign: CampaignArgument = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The settings in force, every key, in the form a settings file takes."""
    from campaigns.settings.resolve import resolve
    from campaigns.settings.versions import in_force, site_values
    from store.db import transaction
    from store.models import CampaignKind

    with migrated_store(settings_of(ctx)) as engine, transaction(engine) as session:
        if campaign is None:
            site = site_values(session)
            values = resolve(CampaignKind.CROSS_SELL, site, {}).as_json()
            values["regulatory_profiles"] = _profiles(site)
            version = _latest_version(session, None)
        else:
            row = _campaign(session, campaign)
            values, version = in_force(row).as_json(), row.settings_version
    if as_json:
        print(json.dumps({"campaign": campaign, "version": version, "settings": values}, indent=2))
        return
    where = f"settings of campaign {campaign!r}" if campaign else "site-wide settings"
    console.print(f"# {where}, version {version}")
    console.print(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), end="")


@settings_app.command("set")
def set_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Option("--file", help="A YAML file of the settings to change.", dir_okay=False)
    ],
    campaign: CampaignArgument = None,
) -> None:
    """Change settings from a YAML file: only the keys it names; `key: null` goes back to
    the default. Checked whole against the regulatory profiles; a bad file changes nothing."""
    from campaigns.settings.resolve import SettingsError
    from campaigns.settings.versions import change_settings
    from store.audit import Actor
    from store.db import transaction

    changes = read_settings_file(file)
    settings = settings_of(ctx)
    owned = owned_caller_ids(settings) if _names_caller_ids(changes) else None
    with migrated_store(settings) as engine:
        try:
            with transaction(engine) as session:
                row = None if campaign is None else _campaign(session, campaign)
                version = change_settings(session, row, changes, Actor.cli(), owned)
        except SettingsError as exc:
            problems = "\n".join(f"  {name}: {reason}" for name, reason in exc.problems)
            where = f"{campaign!r}" if campaign else "the site"
            raise fail(f"settings of {where} not changed:\n{problems}") from None
    where = f"campaign {campaign!r}" if campaign else "site-wide settings"
    console.print(f"{where}: version {version} in force from the next pacing tick")


@settings_app.command("history")
def history_command(
    ctx: typer.Context,
    campaign: CampaignArgument = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every version: who changed what, when."""
    from campaigns.settings.versions import history
    from store.db import transaction

    with migrated_store(settings_of(ctx)) as engine, transaction(engine) as session:
        row = _campaign(session, campaign) if campaign else None
        versions = [
            {
                "version": v.version,
                "changed_by": v.changed_by,
                "changed_at": v.changed_at.isoformat(timespec="seconds"),
                "values": v.values,
            }
            for v in history(session, row)
        ]
    if as_json:
        print(json.dumps(versions, indent=2))
        return
    table = Table(title=f"settings of {campaign!r}" if campaign else "site-wide settings")
    for column in ("version", "changed by", "changed at", "own settings"):
        table.add_column(column)
    for v in versions:
        own = json.dumps(v["values"], separators=(",", ":"))
        table.add_row(str(v["version"]), str(v["changed_by"]), str(v["changed_at"]), own)
    console.print(table)


def read_settings_file(path: Path) -> dict[str, Any]:
    """A settings file's mapping; a plain error naming the file and the line when it is
    not YAML or not a mapping."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise fail(f"{path}: not valid YAML{where}; nothing changed") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise fail(f"{path}: a mapping of settings (key: value), not a {type(loaded).__name__}")
    return {str(k): v for k, v in loaded.items()}


def owned_caller_ids(settings: Settings) -> list[str]:
    """The carrier account's numbers; a plain error when the carrier cannot tell."""
    from dialer.provider import CallbackUrls, ProviderError, TwilioProvider

    async def listed() -> list[str]:
        provider = TwilioProvider(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            callbacks=CallbackUrls(settings.public_base_url),
            api_base=settings.twilio_api_base,
            request_timeout=10.0,
        )
        try:
            return await provider.owned_numbers()
        finally:
            await provider.close()

    try:
        return run_async(listed())
    except ProviderError as exc:
        raise fail(
            f"caller_id.numbers: the carrier could not list the account's numbers ({exc}); "
            "nothing changed"
        ) from None


def register(app: typer.Typer) -> None:
    app.add_typer(settings_app, name="settings")


def _names_caller_ids(changes: dict[str, Any]) -> bool:
    caller = changes.get("caller_id")
    return isinstance(caller, dict) and bool(caller.get("numbers"))


def _profiles(site: dict[str, Any]) -> dict[str, str]:
    from campaigns.settings.resolve import site_profiles

    return site_profiles(site)


def _campaign(session: Session, name: str) -> Campaign:
    from sqlalchemy import select

    from store.models import Campaign

    row = session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if row is None:
        raise fail(f"no campaign named {name!r}; `telecampaign campaigns` lists them")
    return row


def _latest_version(session: Session, campaign: Campaign | None) -> int:
    from campaigns.settings.versions import history

    versions = history(session, campaign)
    return versions[-1].version if versions else 0
