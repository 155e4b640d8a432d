"""The carrier simulator's ledger and the faults it injects, for the soak's reconciliation."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import aiohttp
import pytest

from dialer.provider import TransientProviderError, connect_to_agent_twiml
from simulation.carrier.config import SimulatorConfig
from simulation.carrier.faults import FaultRates
from simulation.carrier.ledger import read_ledger
from simulation.carrier.state import SimulatorState
from tests.simulation.carrier.test_simulator import BUSY, HUMAN, SID, TOKEN, World, world


def _run(scenario, **config):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        async with world(**config) as w:
            return await scenario(w)

    return asyncio.run(main())


def test_the_ledger_holds_each_request_call_and_callback(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def scenario(w: World) -> tuple[str, str]:
        w.receiver.answers["11"] = connect_to_agent_twiml(7)
        human = await w.provider.place_call(attempt_id=11, to=HUMAN)
        busy = await w.provider.place_call(attempt_id=12, to=BUSY)
        await w.state.idle()
        return human, busy

    human, busy = _run(scenario, time_scale=600, mean_talk_seconds=30, ledger_path=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # phone numbers: the owner only
    records = list(read_ledger(path))
    rest = [r for r in records if r["kind"] == "rest"]
    assert {(r["sid"], r["attempt"], r["status"]) for r in rest} == {
        (human, "11", 201),
        (busy, "12", 201),
    }
    calls = {r["sid"]: r for r in records if r["kind"] == "call"}
    assert calls[human]["status"] == "completed"
    assert calls[human]["answered_by"] == "human"
    assert calls[human]["bridged"] is not None  # an agent's leg was dialled
    assert calls[busy]["status"] == "busy"
    assert calls[busy]["answered_by"] is None
    callbacks = [r for r in records if r["kind"] == "callback"]
    assert all(r["signature"] == "valid" and r["status"] == 200 for r in callbacks)
    answers = [r for r in callbacks if r["event"] == "answer"]
    assert [(r["attempt"], r["dial"]) for r in answers] == [("11", True)]


def test_a_restarted_simulator_still_answers_for_calls_it_finished(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def scenario(w: World) -> str:
        sid = await w.provider.place_call(attempt_id=21, to=BUSY)
        await w.state.idle()
        return sid

    sid = _run(scenario, time_scale=1000, ledger_path=path)
    reborn = SimulatorState(SimulatorConfig(ledger_path=path))
    assert reborn.calls[sid].status == "busy"
    reborn.ledger.close()


def test_calls_live_at_a_shutdown_end_in_the_ledger_without_a_callback(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def main() -> str:
        async with world(time_scale=1, ledger_path=path) as w:
            sid = await w.provider.place_call(attempt_id=31, to=BUSY)
            await asyncio.sleep(0.1)
            return sid

    sid = asyncio.run(main())
    calls = [r for r in read_ledger(path) if r["kind"] == "call"]
    assert [(r["sid"], r["status"], r["restart"]) for r in calls] == [(sid, "canceled", True)]


def test_rest_faults_answer_as_twilio_does(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def scenario(w: World) -> list[int]:
        statuses = []
        for n in range(16):
            try:
                await w.provider.place_call(attempt_id=100 + n, to=BUSY)
                statuses.append(201)
            except TransientProviderError as error:
                statuses.append(int(error.status or 0))
        await w.state.idle()
        return statuses

    statuses = _run(
        scenario,
        time_scale=1000,
        ledger_path=path,
        faults=FaultRates(rest=1.0, stall_seconds=0.5),
    )
    assert set(statuses) <= {201, 429, 500}
    rest = [r for r in read_ledger(path) if r["kind"] == "rest"]
    assert {r["fault"] for r in rest} == {"500", "429", "stall", "lost"}
    assert all((r["status"] == 201) == (r["fault"] == "stall") for r in rest)
    # a lost answer is a call made all the same: the ledger holds its SID
    assert all((r["sid"] is not None) == (r["fault"] in ("stall", "lost")) for r in rest)


def test_callback_faults_are_recorded_and_forgeries_fail_the_signature(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    faults = FaultRates(
        duplicate=0.5,
        reorder=0.5,
        delay=0.2,
        replay=1.0,
        forge=0.5,
        delay_min_seconds=1,
        delay_max_seconds=2,
    )

    async def scenario(w: World) -> None:
        for n in range(6):
            w.receiver.answers[str(200 + n)] = connect_to_agent_twiml(7)
            await w.provider.place_call(attempt_id=200 + n, to=HUMAN)
        await w.state.idle()

    _run(scenario, time_scale=600, mean_talk_seconds=5, ledger_path=path, faults=faults)
    callbacks = [r for r in read_ledger(path) if r["kind"] == "callback"]
    kinds = {r["fault"] for r in callbacks} | {r["signature"] for r in callbacks}
    assert {"duplicate", "reorder", "delay", "replay", "forged", "valid"} <= kinds


def test_the_ledger_endpoint_asks_for_the_account(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def scenario(w: World) -> tuple[int, int, str]:
        await w.provider.place_call(attempt_id=41, to=BUSY)
        await w.state.idle()
        url = str(w.simulator.make_url("/simulator/ledger"))
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as anonymous:
                refused = anonymous.status
            owner_auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
            async with http.get(url, headers=owner_auth) as owner:
                return refused, owner.status, await owner.text()

    refused, ok, body = _run(scenario, time_scale=1000, ledger_path=path)
    assert (refused, ok) == (401, 200)
    assert '"kind":"call"' in body


@pytest.mark.parametrize(
    ("spec", "message"),
    [("rest=2", "between 0 and 1"), ("nonsense=0.1", "name=share"), ("forge=x", "not a number")],
)
def test_a_bad_fault_spec_names_its_part(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultRates.parse(spec)


def test_a_text_is_fetched_before_and_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    async def scenario(w: World) -> tuple[str, str]:
        sid = await w.provider.send_sms(attempt_id=51, to=HUMAN, body="Call us back")
        await w.state.idle()
        return sid, await w.provider.message_status(sid)

    sid, status = _run(scenario, time_scale=1000, ledger_path=path, sms_delivery_rate=1.0)
    assert status == "delivered"
    reborn = SimulatorState(SimulatorConfig(ledger_path=path))
    assert reborn.messages[sid].status == "delivered"
    reborn.ledger.close()
