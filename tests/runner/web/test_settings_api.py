"""The settings API: read and change a campaign's settings and the site's, each request
and answer checked against the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from dialer.provider import TwilioProvider
from store.audit import AuditAction
from store.models import AuditEvent
from tests.runner.campaign_store import launched_list
from tests.runner.web.openapi_check import call
from tests.runner.web_harness import Client, RunWeb, login_as

PATH = "/api/campaigns/spring retention/settings"
OWNED = "+12125550100"


@pytest.fixture(autouse=True)
def carrier(monkeypatch: pytest.MonkeyPatch) -> None:
    async def owned_numbers(self: TwilioProvider) -> list[str]:
        return [OWNED]

    monkeypatch.setattr(TwilioProvider, "owned_numbers", owned_numbers)


def test_campaign_settings_read_and_patched(run_web: RunWeb, engine: Engine) -> None:
    campaign_id = launched_list(engine)["campaign"]

    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        status, body = await call(client, "GET", PATH)
        assert status == 200, body
        assert (body["version"], body["history"]) == (0, [])
        assert body["settings"]["contact_cap"] == {"contacts": 3, "days": 30}

        change = {
            "calling_window": {"mon-fri": "09:30-19:45", "sat": "10:00-13:00", "sun": None},
            "contact_cap": {"contacts": 2, "days": 21},
            "caller_id": {"numbers": [OWNED]},
            "costs": {"contact": 1.25, "offer": 35},
        }
        status, body = await call(client, "PATCH", PATH, body=change, token=token)
        assert status == 200, body
        assert (body["version"], body["changed_by"]) == (1, "max")
        assert body["settings"]["calling_window"]["sun"] is None
        assert body["settings"]["costs"] == {"contact": 1.25, "offer": 35.0}
        assert body["history"][0]["changed"]["contact_cap"] == {"contacts": 2, "days": 21}

        bad = {
            "calling_window": {"mon": "20:00-09:00"},
            "contact_cap": {"contacts": 0},
            "caller_id": {"numbers": ["+14155550123"]},
        }
        status, body = await call(client, "PATCH", PATH, body=bad, token=token, valid_request=False)
        assert status == 422, body
        assert "before it starts" in body["errors"]["calling_window"]
        assert "greater than 0" in body["errors"]["contact_cap.contacts"]
        status, body = await call(
            client, "PATCH", PATH, body={"weekday": "fri"}, token=token, valid_request=False
        )
        assert (status, list(body["errors"])) == (422, ["weekday"])
        status, body = await call(
            client,
            "PATCH",
            PATH,
            body={"caller_id": {"numbers": ["+14155550123"]}},
            token=token,
        )
        assert status == 422
        assert "not a number the account owns" in body["errors"]["caller_id.numbers"]
        status, body = await call(client, "GET", PATH)
        assert body["version"] == 1  # nothing refused was stored
        # the change is on the audit trail, by who and with the version, nothing refused is
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    AuditEvent.actor_name,
                    AuditEvent.target_type,
                    AuditEvent.target_id,
                    AuditEvent.detail,
                ).where(AuditEvent.action == AuditAction.SETTINGS_CHANGE)
            ).all()
        assert [(who, kind, int(i), d["version"]) for who, kind, i, d in rows] == [
            ("max", "campaign", campaign_id, 1)
        ]

        status, body = await call(client, "GET", "/api/campaigns/nobody/settings")
        assert status == 404

    run_web(scenario)


def test_site_settings_and_who_may(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        status, body = await call(client, "GET", "/api/settings")
        assert status == 200
        assert body["settings"]["regulatory_profiles"] == {"US": "us", "GB": "uk", "PL": "pl"}
        change = {"regulatory_profiles": {"US": "us", "GB": "uk", "PL": "pl", "DE": "default"}}
        status, body = await call(client, "PATCH", "/api/settings", body=change, token=token)
        assert (status, body["version"]) == (200, 1)
        assert body["settings"]["regulatory_profiles"]["DE"] == "default"
        status, body = await call(
            client, "PATCH", "/api/settings", body={"abandon_target": 0.04}, token=token
        )
        assert status == 422
        assert "above the limit of 0.03" in body["errors"]["abandon_target"]
        status, body = await call(
            client, "PATCH", "/api/settings", body={"ring_timeout": 30}, valid_request=False
        )
        assert (status, body["error"]) == (403, "csrf")

        await login_as(client, "retention")
        status, body = await call(client, "GET", "/api/settings")
        assert status == 200  # the retention team may read
        agent = await login_as(client, "agent")
        status, body = await call(client, "GET", "/api/settings")
        assert status == 403
        status, body = await call(
            client, "PATCH", "/api/settings", body={"ring_timeout": 30}, token=agent
        )
        assert status == 403

    run_web(scenario)
