"""A dialing run (the demo's, the evaluation's) wires its carrier simulator to its dialer."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from dialer.context import DialerConfig
from runner.demo.dialing_run import simulator_for
from runner.settings import Settings
from simulation.carrier.config import SimulatorConfig

TOKEN = "a-real-accounts-token"
ACCOUNT = "AC" + "1" * 32


def test_the_simulator_of_a_run_takes_the_settings_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    settings = Settings(TELECAMPAIGN_HOME=tmp_path / "home")  # type: ignore[call-arg]
    config = DialerConfig.from_settings(
        settings, "redis://127.0.0.1:1/0", public_base_url="http://127.0.0.1:8080"
    )
    simulator = simulator_for(config, SimulatorConfig(seed=7), time_scale=600.0)
    assert (simulator.account_sid, simulator.auth_token) == (ACCOUNT, TOKEN)
    assert (simulator.seed, simulator.time_scale) == (7, 600.0)
    assert simulator.inbound_sms_url == "http://127.0.0.1:8080/twilio/sms/inbound"
    # a callback the simulator signs passes the web app's check of the settings' token
    url, params = "http://127.0.0.1:8080/twilio/voice/status/1", {"CallStatus": "ringing"}
    signature = RequestValidator(simulator.auth_token).compute_signature(url, params)
    assert RequestValidator(settings.twilio_auth_token.get_secret_value()).validate(
        url, params, signature
    )
