"""`telecampaign worker`, `serve`, `simulator` and `dialing`: running the dialer.

Production runs N workers and M web processes against one PostgreSQL and one Redis;
on a fresh machine the embedded Redis is started by the first of them and the carrier
simulator stands in for Twilio (``TWILIO_API_BASE``). Without it, `worker` and `serve`
talk to real Twilio and start only with the account's own ``TWILIO_AUTH_TOKEN``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from runner.cli.common import (
    console,
    fail,
    freeze_imports,
    migrated_store,
    settings_of,
)
from runner.loop import event_loop, run_async

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.abc import AbstractAccessLogger

    from campaigns.settings.model import CampaignSettings
    from runner.settings import Settings
    from store.models import Campaign

__all__ = ["LOG_FORMAT", "register", "serve_logging"]

# the settings the dialing command shows: how the dialer works the list
DIALING_KEYS = (
    "pacing",
    "abandon_target",
    "abandon_window_hours",
    "ring_timeout",
    "machine_detection",
    "retry_minutes",
    "max_attempts",
    "sms_after_failed_calls",
    "caller_id",
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _carrier_settings(ctx: typer.Context) -> Settings:
    """The settings of a process that talks to the carrier; a plain error, before anything
    starts, when that is real Twilio with the simulator's public auth token."""
    from runner.settings import SettingsError

    settings = settings_of(ctx)
    try:
        settings.check_twilio_token()
    except SettingsError as exc:
        raise fail(str(exc)) from None
    return settings


def worker_command(
    ctx: typer.Context,
    burst: Annotated[
        bool, typer.Option("--burst", help="Stop once the queue is empty (for scripts).")
    ] = False,
) -> None:
    """Run an arq worker: pacing passes, calls, texts; start as many as you need."""

    from dialer.context import DialerConfig
    from dialer.worker import make_worker
    from runner.embedded import redis_url

    settings = _carrier_settings(ctx)
    with migrated_store(settings), redis_url(settings) as url:
        config = DialerConfig.from_settings(settings, url)
        console.print(
            f"worker on queue {config.queue_name}; "
            f"carrier: {'Twilio' if settings.uses_real_twilio else settings.twilio_api_base}"
        )
        asyncio.set_event_loop(event_loop())  # arq's Worker runs on the current loop
        worker = make_worker(config, burst=burst)
        freeze_imports()
        worker.run()


def serve_logging(level: str) -> type[AbstractAccessLogger]:
    """Log to stderr at ``level``; the access log class for ``web.run_app``.

    The access log has no query strings, headers or bodies: a query string could carry
    what a customer is (a phone number, a name), the Referer repeats one, and Twilio's
    webhooks post the caller's number in their bodies.
    """
    from aiohttp.abc import AbstractAccessLogger

    logging.basicConfig(level=level, format=LOG_FORMAT, force=True)

    class AccessLog(AbstractAccessLogger):
        """client address, method, path, status, bytes, milliseconds"""

        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            self.logger.info(
                "%s %s %s %s %s %.1fms",
                request.remote or "-",
                request.method,
                request.path,
                response.status,
                response.body_length,
                time * 1000,
            )

    return AccessLog


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            envvar="TELECAMPAIGN_LOG_LEVEL",
            help=f"What to log: {', '.join(LOG_LEVELS)} (INFO logs every request).",
        ),
    ] = "INFO",
) -> None:
    """Serve the web app and Twilio's webhooks (Twilio reaches them at PUBLIC_BASE_URL)."""
    from aiohttp import web

    from runner.embedded import redis_url
    from runner.web.app import create_app

    level = log_level.strip().upper()
    if level not in LOG_LEVELS:
        raise fail(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    settings = _carrier_settings(ctx)
    access_log = serve_logging(level)
    with migrated_store(settings), redis_url(settings) as url:
        app = create_app(settings, redis_url=url)
        freeze_imports()
        logging.getLogger("telecampaign").info("serving on http://%s:%s", host, port)
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            access_log=logging.getLogger("aiohttp.access"),
            access_log_class=access_log,
            loop=event_loop(),
        )


def simulator_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    time_scale: Annotated[
        float, typer.Option(min=0.1, help="Simulated seconds per real second.")
    ] = 1.0,
    human: Annotated[float, typer.Option(help="Share of calls a person answers.")] = 0.30,
    machine: Annotated[float, typer.Option(help="Share an answering machine answers.")] = 0.15,
    busy: Annotated[float, typer.Option(help="Share that is busy.")] = 0.08,
    failed: Annotated[float, typer.Option(help="Share that fails.")] = 0.07,
    talk: Annotated[float, typer.Option(help="Mean talk time, seconds.")] = 180.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the draws.")] = None,
    agents: Annotated[
        int,
        typer.Option(help="Simulated agents to work the running campaigns (needs the store)."),
    ] = 0,
    ledger: Annotated[
        Path | None,
        typer.Option(help="Append the carrier's ledger (every request and callback) here."),
    ] = None,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults to inject, e.g. rest=0.02,duplicate=0.05,reorder=0.05,delay=0.02,"
            "replay=0.01,forge=0.01 (shares; names left out are 0)."
        ),
    ] = "",
) -> None:
    """Run the carrier simulator: Twilio's REST subset with signed callbacks.

    Point the dialer at it with TWILIO_API_BASE=http://HOST:PORT. The rest of the calls
    (1 - human - machine - busy - failed) ring out unanswered.
    """
    from simulation.carrier.config import Outcome, SimulatorConfig
    from simulation.carrier.faults import FaultRates
    from simulation.carrier.server import run_simulator

    settings = settings_of(ctx)
    no_answer = round(1.0 - human - machine - busy - failed, 6)
    if no_answer < 0:
        raise fail("the shares of human, machine, busy and failed add up to more than 1")
    try:
        fault_rates = FaultRates.parse(faults)
    except ValueError as error:
        raise fail(f"--faults {error}") from None
    config = SimulatorConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        rates={
            Outcome.HUMAN: human,
            Outcome.MACHINE: machine,
            Outcome.BUSY: busy,
            Outcome.FAILED: failed,
            Outcome.NO_ANSWER: no_answer,
        },
        time_scale=time_scale,
        mean_talk_seconds=talk,
        seed=seed,
        inbound_sms_url=settings.public_base_url.rstrip("/") + "/twilio/sms/inbound",
        faults=fault_rates,
        ledger_path=ledger,
    )
    console.print(f"carrier simulator on http://{host}:{port} (x{time_scale:g})")
    if not agents:
        freeze_imports()
        run_async(run_simulator(config, host, port))
        return
    from runner.demo.dialing_run import simulator_with_agents

    with migrated_store(settings):
        freeze_imports()
        run_async(simulator_with_agents(settings, config, host, port, agents=agents, seed=seed))


def dialing_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="The campaign's name.")],
    pacing: Annotated[str | None, typer.Option(help="preview, progressive or predictive.")] = None,
    abandon_target: Annotated[
        float | None,
        typer.Option(help="Most abandoned share of live answers (at most 0.03)."),
    ] = None,
    sms_after: Annotated[
        int | None, typer.Option(help="Calls that reach no one before one text (0: never).")
    ] = None,
    retry: Annotated[
        list[str] | None,
        typer.Option(help="OUTCOME=MINUTES before another try, e.g. busy=20 (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show a campaign's dialing settings, or change them (pacing, abandon target, retries)."""
    from sqlalchemy import func, select

    from store.db import transaction
    from store.models import Campaign, ListEntry

    changes: dict[str, Any] = {}
    if pacing is not None:
        changes["pacing"] = pacing
    if abandon_target is not None:
        changes["abandon_target"] = abandon_target
    if sms_after is not None:
        changes["sms_after_failed_calls"] = sms_after
    settings = settings_of(ctx)
    with migrated_store(settings) as engine, transaction(engine) as session:
        row = session.scalars(select(Campaign).where(Campaign.name == campaign)).first()
        if row is None:
            raise fail(f"no campaign named {campaign!r}; `telecampaign campaigns` lists them")
        updated = _changed_dialing(row, changes, retry or [])
        kind = row.kind.value
        offer = session.scalar(
            select(ListEntry.offer)
            .where(ListEntry.campaign_id == row.id, ListEntry.offer.is_not(None))
            .group_by(ListEntry.offer)
            .order_by(func.count().desc())
            .limit(1)
        )
    _print_dialing(settings, campaign, updated, kind, offer, as_json=as_json)


def _changed_dialing(row: Campaign, changes: dict[str, Any], retry: list[str]) -> CampaignSettings:
    """The campaign's settings with ``changes`` and the ``--retry`` delays, as a new
    version when anything changed; a plain error when they cannot be used."""
    from sqlalchemy.orm import object_session

    from campaigns.settings.resolve import SettingsError
    from campaigns.settings.versions import change_settings, in_force
    from store.audit import Actor

    current = in_force(row)
    if retry:
        delays = dict(current.retry_minutes)
        for item in retry:
            outcome, _, minutes = item.partition("=")
            if not minutes.strip().isdigit():
                raise fail(f"--retry {item!r}: write OUTCOME=MINUTES, e.g. busy=20")
            delays[outcome.strip()] = int(minutes)
        changes["retry_minutes"] = delays
    if not changes:
        return current
    session = object_session(row)
    assert session is not None
    try:
        change_settings(session, row, changes, Actor.cli())
    except SettingsError as exc:
        raise fail(f"dialing settings of {row.name!r} not changed: {exc}") from None
    return in_force(row)


def _print_dialing(
    settings: Settings,
    campaign: str,
    updated: CampaignSettings,
    kind: str,
    offer: str | None,
    *,
    as_json: bool,
) -> None:
    """The settings as a table (or JSON), with the text the SMS fallback would send."""
    from dialer.sms import campaign_sms

    text = campaign_sms(
        updated,
        kind,
        company=settings.company_name,
        first_name="Alex",
        callback_number=settings.callback_number,
        offer=offer,
    )
    sms = {
        "text": text.text,
        "encoding": text.encoding,
        "segments": text.segments,
        "characters": text.characters,
    }
    shown = {k: v for k, v in updated.as_json().items() if k in DIALING_KEYS}
    if as_json:
        console.print_json(json.dumps({**shown, "sms_fallback": sms}))
        return
    table = Table(title=f"dialing: {campaign} (every setting: `telecampaign settings show`)")
    table.add_column("setting")
    table.add_column("value")
    for key, value in shown.items():
        unit = " min" if key == "retry_minutes" else ""
        said = (
            ", ".join(f"{k} {v}{unit}" for k, v in value.items())
            if isinstance(value, dict)
            else value
        )
        table.add_row(key, str(said))
    console.print(table)
    console.print(
        f"SMS fallback ({text.encoding}, {text.segments} segment"
        f"{'s' if text.segments != 1 else ''}, {text.characters} characters):",
        highlight=False,
    )
    console.print(f"  {text.text}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("serve")(serve_command)
    app.command("simulator")(simulator_command)
    app.command("dialing")(dialing_command)
