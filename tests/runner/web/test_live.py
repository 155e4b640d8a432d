"""The console's live event stream: an agent's state changes as they happen, one board
read per look however many streams are open, and the streams' end on shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import Engine

from dialer.webhooks import DIALER
from tests.runner.web.console_base import _campaign, _end_call, _give_call, _post
from tests.runner.web_harness import USERS, Client, RunWeb, login_as


async def _next_event(response: Any) -> dict[str, Any]:
    """The data of the next ``state`` event on a server-sent event stream."""
    event = None
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode()
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event == "state":
            data: dict[str, Any] = json.loads(line[6:])
            return data


def test_the_event_stream_reports_state_changes_and_ends_on_shutdown(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = _campaign(engine)

    async def scenario(client: Client) -> None:
        app = client.server.app
        token = await login_as(client, "agent")
        stream = await client.get("/api/agent/events")
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await _next_event(stream)
        assert (first["state"], first["call_state"]) == ("offline", None)

        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        ready = await _next_event(stream)
        assert (ready["state"], ready["campaign_id"]) == ("ready", campaign_id)

        attempt_id, _ = await _give_call(app[DIALER], campaign_id, customers[0])
        talk = await _next_event(stream)
        assert (talk["state"], talk["attempt_id"], talk["call_state"]) == (
            "talk",
            attempt_id,
            "connected",
        )

        # a second page of the same agent starts from where the agent is
        again = await client.get("/api/agent/events")
        joined = await _next_event(again)
        assert (joined["state"], joined["attempt_id"]) == ("talk", attempt_id)

        # one board read per look, however many streams are open
        reads: list[list[int]] = []
        board = app[DIALER].board
        statuses = board.statuses

        async def counted(agent_ids: Any) -> Any:
            reads.append(list(agent_ids))
            return await statuses(agent_ids)

        board.statuses = counted
        await _end_call(app[DIALER], attempt_id)
        for page in (stream, again):
            ended = await _next_event(page)
            assert (ended["state"], ended["call_state"]) == ("wrap", "ended")
        board.statuses = statuses
        assert reads
        assert all(agent_ids == [users[USERS["agent"][0]]] for agent_ids in reads)
        assert len(reads) <= 3  # looks every half second: not once per stream

        await app.shutdown()  # what the runner does first when the server stops
        for page in (stream, again):
            rest = await asyncio.wait_for(page.content.read(), 5)
            assert b"event: state" not in rest
            assert page.content.at_eof()

    run_web(scenario)
