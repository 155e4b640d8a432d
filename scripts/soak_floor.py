"""The soak's floor: people working the preview list through the console's API, customers
texting STOP (and forged STOPs), and a watch on every attempt's state as it changes, for
regressions and replays (see ``scripts/soak.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import aiohttp
from sqlalchemy import Engine, select

from scripts.console_agents import Agent, Recorder
from scripts.soak_fleet import Soak
from store.models import Attempt

POLL_SECONDS = 1.0


# -- the people and the customers ---------------------------------------------------------


async def preview_person(soak: Soak, base: str, username: str, stop: asyncio.Event) -> None:
    """Works the preview list through the console's API as a person would: take the next
    customer, dial, talk, record the outcome; signs in again when the session is refused
    (a restarted web process keeps sessions: they are encrypted cookies)."""
    campaign = soak.campaigns["soak-preview"]
    rec = Recorder()
    agent = Agent(base, username, random.Random(username), soak.args.scale)
    signed_in = False
    try:
        while not stop.is_set():
            await asyncio.sleep(0.3)
            try:
                if not signed_in:
                    await agent.sign_in()
                    await agent.join(campaign)
                    signed_in = True
                async with agent.http.get("/api/agent/call") as response:
                    if response.status == 401:
                        signed_in = False
                        continue
                    if response.status != 200:
                        continue
                    body = await response.json()
                await _preview_step(agent, rec, body["state"], campaign)
            except (aiohttp.ClientError, TimeoutError, RuntimeError, KeyError, ValueError):
                await asyncio.sleep(1.0)  # the web process is restarting: try again
    finally:
        await agent.close()


async def _preview_step(agent: Agent, rec: Recorder, state: dict[str, Any], campaign: int) -> None:
    headers = {"X-CSRF-Token": agent.csrf}
    now = state["state"]
    if now in ("offline", "paused"):
        await agent.join(campaign)
    elif now == "ready":
        async with agent.http.post("/api/agent/preview/next", json={}, headers=headers) as r:
            body = await r.json() if r.status == 200 else {}
        entry = (body.get("preview") or {}).get("entry_id")
        if entry is None:
            await asyncio.sleep(1.0)
            return
        async with agent.http.post(
            "/api/agent/preview/dial", json={"entry_id": entry}, headers=headers
        ) as r:
            await r.read()
    elif now == "preview" and state.get("entry_id") and state.get("attempt_id") is None:
        async with agent.http.post(
            "/api/agent/preview/dial", json={"entry_id": state["entry_id"]}, headers=headers
        ) as r:
            await r.read()
    elif now == "wrap" and state.get("attempt_id") is not None:
        await agent.handle("wrap", state["attempt_id"], rec, "call")


async def customers_texting(soak: Soak, phones: list[str], stop: asyncio.Event) -> None:
    """Now and then a customer texts STOP (kept, with the moment it was answered), and
    somebody posts a STOP with a signature that does not hold."""
    rng = random.Random(soak.args.seed + 1)
    account = "AC00000000000000000000000000000000"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            phone = rng.choice(phones)
            forged = rng.random() < 0.2
            if phone in soak.stops and not forged:
                continue
            form = {"From": phone, "To": "+15005550006", "Body": "STOP"}
            if forged:
                form["Forged"] = "true"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.post(
                    f"{soak.sim_base}/simulator/sms/inbound",
                    data=form,
                    headers={"Authorization": aiohttp.encode_basic_auth(account, soak.token)},
                ) as response:
                    body = await response.json()
                if not forged and response.status == 200 and body.get("status") == 200:
                    soak.stops[phone] = time.time()
                    soak.faults["stop_texts"] += 1
                elif forged:
                    soak.faults["forged_stop_texts"] += 1


# -- watching the store -------------------------------------------------------------------


def _attempt_states(engine: Engine) -> list[tuple[int, tuple[Any, ...]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Attempt.id,
                Attempt.status,
                Attempt.answered_by,
                Attempt.agent_id,
                Attempt.answered_at,
                Attempt.provider_sid,
            )
        ).all()
    return [
        (int(i), (str(s), None if b is None else str(b), agent, answered, sid is not None))
        for i, s, b, agent, answered, sid in rows
    ]


async def watch_store(soak: Soak, stop: asyncio.Event) -> None:
    """Every attempt's state as it changes (a poll a second), for regressions and replays."""
    last: dict[int, tuple[Any, ...]] = {}
    while not stop.is_set():
        try:
            rows = await asyncio.to_thread(_attempt_states, soak.engine)
        except Exception as error:
            soak.log(f"store poll failed ({type(error).__name__}); trying again")
            rows = []
        seen = time.time()
        for attempt_id, state in rows:
            if last.get(attempt_id) != state:
                last[attempt_id] = state
                soak.changes.setdefault(attempt_id, []).append((seen, state))
        await asyncio.sleep(POLL_SECONDS)
