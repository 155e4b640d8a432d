"""One call from dial to conversion, driven through the web pages in headless Chromium.

The test process runs the deployment as the demo does (``runner.demo.dialing_run``): the web
app with Twilio's webhooks, the carrier simulator (every call answered by a person, talk
lasting until someone hangs up) and an arq worker, on one event loop, against a clock
shifted to a weekday morning in New York so the calling window is open. No simulated
agents: the only agent is a person in the browser.

The agent logs in at ``/login``, logs in to the campaign on ``/agent``, pauses, and goes
ready once the worker runs; the dialer calls, the simulator answers, and the call
reaches the console through the server-sent events. The customer hangs up (the carrier's
REST call update), the agent records "accepted", and a manager in a second browser
context sees the conversion on the live dashboard. Screenshots of the console and the
dashboard go to ``$E2E_ARTIFACTS`` (default ``tests/e2e/artifacts/``).

Chromium is Debian's (``apt-get install chromium``, which ``.ci/run`` does); Playwright
drives it and never downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import aiohttp
import pytest
from arq.worker import Worker
from playwright.async_api import Page, async_playwright, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.settings.model import CampaignSettings
from dialer.clock import DialerClock, save_clock
from dialer.context import DialerConfig, open_dialer
from dialer.worker import make_worker
from runner.demo.dialing_run import close_worker, free_port, serving
from runner.settings import Settings
from runner.web.app import create_app
from runner.web.users import add_user
from simulation.carrier.config import Outcome, SimulatorConfig
from simulation.carrier.server import create_simulator_app
from store.audit import Actor
from store.db import transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Disposition,
    EntryStatus,
    Group,
    ListEntry,
    Product,
)
from tests.runner.campaign_store import build_scored_base

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
# what Chromium needs on these machines: no sandbox as root, no GPU, and no calls home
# (the closed network refuses them)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or Path(__file__).parent / "artifacts")

PASSWORD = "correct horse battery"
SECRET = "e2e-secret-key-0123456789-abcdefghijklmnop"
CAMPAIGN = "E2E fiber cross-sell"
CUSTOMERS = 3
# a Wednesday, 10:00 in New York: inside the calling window, not a holiday
START = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
TIME_SCALE = 4.0  # rings last a second or two; the call itself lasts until hung up
EVERYONE_ANSWERS = {
    Outcome.HUMAN: 1.0,
    Outcome.MACHINE: 0.0,
    Outcome.BUSY: 0.0,
    Outcome.NO_ANSWER: 0.0,
    Outcome.FAILED: 0.0,
}
WAIT_MS = 90_000  # for anything that needs the dialer: generous on two busy cores
PAGE_MS = 30_000  # for what the page shows after a click

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium: apt-get install -y chromium chromium-driver",
    ),
]


@dataclass
class Store:
    campaign_id: int
    agent_id: int


def _store(engine: Engine, pacing: str = "progressive") -> Store:
    """A running cross-sell campaign of scored New York customers, an agent and a
    manager."""
    customers = build_scored_base(engine, CUSTOMERS, p_churn=[0.41, 0.22, 0.12])
    with transaction(engine) as session:
        fiber = session.scalars(select(Product).where(Product.code == "BB_1")).one()
        campaign = Campaign(
            name=CAMPAIGN,
            kind=CampaignKind.CROSS_SELL,
            status=CampaignStatus.RUNNING,
            settings=CampaignSettings.for_kind(
                CampaignKind.CROSS_SELL, {"pacing": pacing}
            ).as_json(),
            settings_version=1,
            plan={},
            launched_at=START - dt.timedelta(days=1),
        )
        session.add(campaign)
        session.flush()
        session.add_all(
            ListEntry(
                campaign_id=campaign.id,
                customer_id=customer_id,
                product_id=fiber.id,
                offer="Fiber 100 at half price for 6 months",
                group=Group.TREATMENT,
                status=EntryStatus.PENDING,
                priority=CUSTOMERS - i,
                details={},
            )
            for i, customer_id in enumerate(customers)
        )
        campaign_id = campaign.id
    agent = add_user(engine, "ann", "Ann Agent", "agent", PASSWORD, actor=Actor.cli())
    add_user(engine, "max", "Max Manager", "manager", PASSWORD, actor=Actor.cli())
    return Store(campaign_id=campaign_id, agent_id=agent.id)


class Deployment:
    """Web app and carrier served now; the arq worker started on demand."""

    def __init__(self, settings: Settings, redis_url: str, engine: Engine) -> None:
        self.settings, self.redis_url, self.engine = settings, redis_url, engine
        self.base = settings.public_base_url
        self.api_base = str(settings.twilio_api_base)
        self.config = DialerConfig.from_settings(settings, redis_url)
        self.worker: Worker | None = None
        self.dialing: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Deployment]:
        dialer = await open_dialer(self.config)
        try:
            # every process reads this clock from Redis as it starts
            await save_clock(
                dialer.redis, DialerClock.starting(START, TIME_SCALE), prefix=self.config.prefix
            )
            simulator = create_simulator_app(
                SimulatorConfig(
                    account_sid=self.settings.twilio_account_sid,
                    auth_token=self.settings.twilio_auth_token.get_secret_value(),
                    rates=EVERYONE_ANSWERS,
                    time_scale=TIME_SCALE,
                    mean_talk_seconds=24 * 3600.0,  # until the test hangs up
                    seed=11,
                )
            )
            app = create_app(self.settings, redis_url=self.redis_url)
            async with (
                serving(simulator, _port(self.api_base)),
                serving(app, _port(self.base)),
            ):
                try:
                    yield self
                finally:
                    await self._stop_worker()
        finally:
            await dialer.close()

    def start_worker(self) -> None:
        self.worker = make_worker(self.config, handle_signals=False)
        self.dialing = asyncio.create_task(self.worker.async_run())

    async def _stop_worker(self) -> None:
        if self.worker is not None:
            await close_worker(self.worker)
        if self.dialing is not None:
            self.dialing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.dialing

    async def hang_up(self, campaign_id: int) -> str:
        """The customer hangs up: the carrier ends the connected call (Twilio's call
        update with ``Status=completed``); returns the call's SID."""

        def live_call(session: Session) -> str | None:
            return session.scalar(
                select(Attempt.provider_sid).where(
                    Attempt.campaign_id == campaign_id,
                    Attempt.status == AttemptStatus.IN_PROGRESS,
                    Attempt.agent_id.is_not(None),
                )
            )

        sid = await asyncio.to_thread(_read, self.engine, live_call)
        assert sid, "no connected call to hang up"
        account = self.settings.twilio_account_sid
        url = f"{self.api_base}/2010-04-01/Accounts/{account}/Calls/{sid}.json"
        token = self.settings.twilio_auth_token.get_secret_value()
        headers = {"Authorization": aiohttp.encode_basic_auth(account, token)}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.post(url, data={"Status": "completed"}) as answer,
        ):
            assert answer.status == 200, await answer.text()
        return sid


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _read(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine) as session:
        return work(session)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def settings(tmp_path: Path, db_url: str, redis_prefix: str) -> Settings:
    return Settings(
        TELECAMPAIGN_HOME=tmp_path / "home",
        DATABASE_URL=db_url,
        TELECAMPAIGN_SECRET_KEY=SECRET,
        TWILIO_API_BASE=f"http://127.0.0.1:{free_port()}",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
        TELECAMPAIGN_REDIS_PREFIX=redis_prefix,
        TELECAMPAIGN_QUEUE=f"{redis_prefix}:dialer",
    )


def test_agent_converts_a_call_and_the_manager_sees_it(
    engine: Engine,
    settings: Settings,
    redis_url: str,
    artifacts: Path,
    request: pytest.FixtureRequest,
) -> None:
    store = _store(engine)
    deployment = Deployment(settings, redis_url, engine)
    # the default backends' screenshots by plain names; other backends' named after them
    backends = request.node.callspec.id
    suffix = "" if backends == "sqlite-embedded" else f"-{backends}"
    shots = {
        name: artifacts / f"{name}{suffix}.png"
        for name in ("agent-call", "agent-recorded", "manager-dashboard")
    }
    problems: list[str] = []
    asyncio.run(_scenario(deployment, store, shots, problems))
    assert problems == [], problems

    def recorded(session: Session) -> list[tuple[str, int | None, AttemptStatus]]:
        return [
            (code, agent, status)
            for code, agent, status in session.execute(
                select(Disposition.code, Disposition.agent_id, Attempt.status).join(
                    Attempt, Attempt.id == Disposition.attempt_id
                )
            )
        ]

    assert _read(engine, recorded) == [("accepted", store.agent_id, AttemptStatus.COMPLETED)]


async def _scenario(
    deployment: Deployment, store: Store, shots: dict[str, Path], problems: list[str]
) -> None:
    async with deployment.running(), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            agent = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await agent.new_page()
            page.on("pageerror", lambda error: problems.append(f"agent page: {error}"))

            # the agent logs in and picks the campaign; paused until the dialer runs
            await _agent_on_campaign(page, deployment.base, store.campaign_id)
            await page.select_option("#pause-code", "break")
            await page.click("#pause-form button[type=submit]")
            await expect(page.locator("#state-badge")).to_have_text("paused", timeout=PAGE_MS)

            deployment.start_worker()
            await page.click("#ready-btn")
            await expect(page.locator("#state-badge")).to_have_text("ready", timeout=PAGE_MS)

            # the dialer calls, the customer answers, the call reaches the console
            await expect(page.locator("#call-state")).to_have_text("connected", timeout=WAIT_MS)
            await expect(page.locator("#state-badge")).to_have_text("on a call")
            await expect(page.locator("#c-name")).to_have_text("Customer 1")
            await expect(page.locator("#c-offer")).to_contain_text("Fiber 100")
            await expect(page.locator("#c-risk")).to_have_text("41%")
            # the customer's local time on the dialer's clock (a morning in New York), not
            # the machine's wall clock
            await expect(page.locator("#c-localtime")).to_have_text(
                re.compile(r"^10:\d\d AM \(America/New_York\)$")
            )
            await expect(page.locator("#c-script")).to_contain_text(
                "this is Ann from Northwind Telecom"
            )
            await expect(page.locator("button.dispo-accepted")).to_be_disabled()
            await page.screenshot(path=shots["agent-call"], full_page=True)

            # the customer hangs up; the console offers the outcomes
            await deployment.hang_up(store.campaign_id)
            await expect(page.locator("#call-state")).to_have_text("ended", timeout=WAIT_MS)
            await expect(page.locator("#state-badge")).to_have_text("wrap-up")
            accepted = page.locator("button.dispo-accepted")
            await expect(accepted).to_be_enabled(timeout=PAGE_MS)
            # a break after this call, so the dialer rings nobody else meanwhile
            await page.select_option("#then", "paused:break")
            await page.fill("#notes", "Takes Fiber 100 from next month.")
            await accepted.click()
            await expect(page.locator("#dispo-done")).to_have_text(
                "Recorded: accepted.", timeout=PAGE_MS
            )
            await expect(page.locator("#state-badge")).to_have_text("paused")
            await expect(page.locator("#t-conversions")).to_have_text("1", timeout=PAGE_MS)
            await page.screenshot(path=shots["agent-recorded"], full_page=True)

            # the manager sees the conversion on the live dashboard
            manager = await browser.new_context(viewport={"width": 1400, "height": 900})
            board = await manager.new_page()
            board.on("pageerror", lambda error: problems.append(f"dashboard: {error}"))
            await _log_in(board, deployment.base, "max", "/manager")
            await board.goto(f"{deployment.base}/manager/campaigns/{quote(CAMPAIGN)}")
            await expect(board.locator("[data-live=conversions]")).to_have_text(
                "1", timeout=WAIT_MS
            )
            await expect(board.locator("[data-live=connected]")).to_have_text("1")
            await expect(board.locator("#agents")).to_contain_text("Ann Agent")
            await expect(board.locator("#agents")).to_contain_text("paused (break)")
            await board.screenshot(path=shots["manager-dashboard"], full_page=True)
            await manager.close()
            await agent.close()
        finally:
            await browser.close()


def test_agent_previews_a_customer_then_dials(
    engine: Engine, settings: Settings, redis_url: str, artifacts: Path
) -> None:
    store = _store(engine, pacing="preview")
    deployment = Deployment(settings, redis_url, engine)
    problems: list[str] = []
    asyncio.run(_preview_scenario(deployment, store, artifacts, problems))
    assert problems == [], problems

    def recorded(session: Session) -> list[tuple[str, int | None]]:
        return [
            (code, agent)
            for code, agent in session.execute(select(Disposition.code, Disposition.agent_id))
        ]

    assert _read(engine, recorded) == [("refused", store.agent_id)]


async def _preview_scenario(
    deployment: Deployment, store: Store, artifacts: Path, problems: list[str]
) -> None:
    async with deployment.running(), async_playwright() as pw:
        deployment.start_worker()
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            page.on("pageerror", lambda error: problems.append(f"agent page: {error}"))
            await _agent_on_campaign(page, deployment.base, store.campaign_id)
            # a preview campaign dials nothing on its own
            await expect(page.locator("#no-call-text")).to_contain_text("Preview dialing")
            await page.keyboard.press("n")
            await expect(page.locator("#state-badge")).to_have_text("preview", timeout=PAGE_MS)
            await expect(page.locator("#call-state")).to_have_text("preview")
            await expect(page.locator("#c-name")).to_have_text("Customer 1")
            await expect(page.locator("#c-offer")).to_contain_text("Fiber 100")
            await expect(page.locator("button.dispo-accepted")).to_be_disabled()
            await page.screenshot(path=artifacts / "agent-preview.png", full_page=True)

            # skipped, the next customer comes; that one is dialed
            await page.click("#skip-btn")
            await expect(page.locator("#preview-note")).to_contain_text("Skipped")
            await page.click("#next-btn")
            await expect(page.locator("#c-name")).to_have_text("Customer 2", timeout=PAGE_MS)
            await page.click("#dial-btn")
            await expect(page.locator("#call-state")).to_have_text("connected", timeout=WAIT_MS)
            await expect(page.locator("#state-badge")).to_have_text("on a call")
            await expect(page.locator("#c-name")).to_have_text("Customer 2")

            await deployment.hang_up(store.campaign_id)
            await expect(page.locator("#call-state")).to_have_text("ended", timeout=WAIT_MS)
            refused = page.locator("button.dispo-refused")
            await expect(refused).to_be_enabled(timeout=PAGE_MS)
            await page.select_option("#then", "paused:break")
            await refused.click()
            await page.fill("#refusal_reason", "price")
            await page.select_option("#funnel_stage", "offer")
            await page.click("#refusal-form button[type=submit]")
            await expect(page.locator("#dispo-done")).to_have_text(
                "Recorded: refused.", timeout=PAGE_MS
            )
            await expect(page.locator("#state-badge")).to_have_text("paused")
            await context.close()
        finally:
            await browser.close()


async def _agent_on_campaign(page: Page, base: str, campaign_id: int) -> None:
    """Ann logs in, the console goes live, and she logs in to the campaign: ready."""
    await _log_in(page, base, "ann", "/agent")
    await expect(page.locator("#live")).to_have_text("live", timeout=PAGE_MS)
    await page.select_option("#campaign", str(campaign_id))
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#state-badge")).to_have_text("ready", timeout=PAGE_MS)


async def _log_in(page: Page, base: str, username: str, home: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("form button[type=submit]")
    await expect(page).to_have_url(f"{base}{home}", timeout=PAGE_MS)
