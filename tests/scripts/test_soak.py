"""The soak, run short: the dialer's promises hold under every kind of fault.

Every change to the dialer or the web app goes through this: the whole operation as
production runs it (web processes, workers, the carrier simulator with its agents, people
on the console) under worker and web kills, Redis flushed and restarted, a simulator
restart, carrier errors and hostile callbacks, reconciled with the carrier's ledger.
"""

from __future__ import annotations

import json

import pytest

from scripts.soak import COUNTS, main

pytestmark = pytest.mark.slow

FAULTS = (
    "worker_kill",
    "web_kill",
    "redis_flushall",
    "redis_restart",
    "simulator_restart",
    "rest_500",
    "rest_429",
    "callback_duplicate",
    "callback_reorder",
    "callback_delay",
    "callback_forged",
    "stop_texts",
)


def test_a_short_soak_breaks_no_promise(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--quick", "--minutes", "1.5", "--customers", "2500", "--json"])
    figures = json.loads(capsys.readouterr().out)
    broken = {name: figures[name] for name in COUNTS if figures[name]}
    assert broken == {}, figures["examples"]
    assert code == 0
    assert figures["carrier_calls"] > 200
    missing = [fault for fault in FAULTS if not figures["faults"].get(fault)]
    assert missing == []
