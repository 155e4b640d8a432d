"""Settings on the manager's pages: the campaign page's form and the site-wide page,
a good submit making a version with who made it, a bad one showing each field's error
and changing nothing."""

from __future__ import annotations

import html as html_text
import re

import pytest
from sqlalchemy import Engine

from campaigns.settings.versions import history
from dialer.provider import PermanentProviderError, TwilioProvider
from store.db import transaction
from store.models import Campaign
from tests.runner.campaign_store import launched_list
from tests.runner.web_harness import Client, RunWeb, form_token, login_as

OWNED = ["+12125550100", "+13125550100"]
PAGE = "/manager/campaigns/spring retention"


@pytest.fixture
def carrier(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The carrier account's numbers, as the provider would list them."""
    numbers = list(OWNED)

    async def owned_numbers(self: TwilioProvider) -> list[str]:
        return numbers

    monkeypatch.setattr(TwilioProvider, "owned_numbers", owned_numbers)
    return numbers


def _form(html: str) -> dict[str, str | list[str]]:
    """The settings form's fields as a browser would send them untouched."""
    form = html[html.index('class="settings-form"') :]
    form = form[: form.index("</form>")]
    data: dict[str, str | list[str]] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                key = name.group(1)
                prior = data.get(key)
                got = value.group(1) if value else "on"
                data[key] = [*prior, got] if isinstance(prior, list) else [got]
            continue
        data[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(
        r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S
    ):
        data[name] = body
    for name, chosen in re.findall(
        r'<select [^>]*name="([^"]+)"[^>]*>.*?<option value="([^"]+)" selected', form, re.S
    ):
        data[name] = chosen
    return data


def _post_data(data: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        out += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return out


def _error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="f-{re.escape(name)}-error">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return html_text.unescape(found.group(1))


def _versions(engine: Engine, name: str) -> list[tuple[int, str, dict[str, object]]]:
    with transaction(engine) as session:
        campaign = session.query(Campaign).filter_by(name=name).one()
        return [(v.version, v.changed_by, dict(v.values)) for v in history(session, campaign)]


def test_the_campaign_page_shows_and_changes_its_settings(
    run_web: RunWeb, engine: Engine, carrier: list[str]
) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        page = await client.get(PAGE)
        html = await page.text()
        assert page.status == 200
        assert "Version 0: the defaults" in html
        assert "No change yet" in html
        data = _form(html)
        assert data["calling_window.mon"] == "08:00-21:00"
        assert data["contact_cap.contacts"] == "3"
        data.update(
            {
                "calling_window.mon": "09:30-19:45",
                "contact_cap.contacts": "2",
                "caller_id.numbers": OWNED[0],
                "csrf_token": form_token(html),
            }
        )
        data["no_calls"] = ["sun"]
        saved = await client.post(f"{PAGE}/settings", data=_post_data(data), allow_redirects=False)
        assert saved.status == 303, await saved.text()
        assert saved.headers["Location"].endswith("?saved=1#settings")
        html = await (await client.get(saved.headers["Location"])).text()
        assert "Version 1 saved; in force from the next pacing tick." in html
        assert "changed by max" in html
        assert 'value="09:30-19:45"' in html
        assert '<code>contact_cap: {"contacts": 2}</code>' in html

        # the old form again, as from a second tab: it would undo version 1 unseen
        stale = await client.post(f"{PAGE}/settings", data=_post_data(data))
        html = await stale.text()
        assert stale.status == 400
        assert "changed since this page was loaded (now version 1, by max)" in html
        assert 'name="version" value="1"' in html

    run_web(scenario)
    ((version, who, values),) = _versions(engine, "spring retention")
    assert (version, who) == (1, "max")
    # only what the manager changed is the campaign's own: the rest follows the site
    assert values["contact_cap"] == {"contacts": 2}
    assert values["caller_id"] == {"numbers": [OWNED[0]]}
    assert values["calling_window"]["sun"] is None  # type: ignore[index]
    assert "ring_timeout" not in values


def test_a_bad_submit_shows_each_error_and_changes_nothing(
    run_web: RunWeb, engine: Engine, carrier: list[str]
) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        html = await (await client.get(PAGE)).text()
        data = _form(html)
        data.update(
            {
                "calling_window.funday": "09:00-10:00",
                "contact_cap.contacts": "0",
                "caller_id.numbers": f"{OWNED[1]}, +14155550123",
                "csrf_token": form_token(html),
            }
        )
        refused = await client.post(f"{PAGE}/settings", data=_post_data(data))
        html = await refused.text()
        assert refused.status == 400
        assert "Nothing was changed" in html
        window = _error(html, "calling_window")
        assert 'unknown weekday "funday"' in window
        assert "greater than 0" in _error(html, "contact_cap.contacts")
        # checked with the carrier although other fields were wrong: one submit, every error
        assert _error(html, "caller_id.numbers") == "+14155550123: not a number the account owns"
        assert 'name="calling_window.funday" type="text" value="09:00-10:00"' not in html
        assert 'name="contact_cap.contacts" value="0"' in html  # the form as sent, to correct

        data.pop("calling_window.funday")
        data.update(
            {
                "calling_window.tue": "18:00-09:00",
                "contact_cap.contacts": "2",
                "caller_id.numbers": "",
            }
        )
        refused = await client.post(f"{PAGE}/settings", data=_post_data(data))
        html = await refused.text()
        assert "ends (09:00) before it starts (18:00)" in _error(html, "calling_window")

        data.update({"calling_window.tue": "09:00-18:00", "caller_id.numbers": "+14155550123"})
        refused = await client.post(f"{PAGE}/settings", data=_post_data(data))
        html = await refused.text()
        assert refused.status == 400
        said = _error(html, "caller_id.numbers")
        assert "+14155550123: not a number the account owns" in said

    run_web(scenario)
    assert _versions(engine, "spring retention") == []


def test_the_carrier_not_telling_refuses_caller_ids(
    run_web: RunWeb, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched_list(engine)

    async def unreachable(self: TwilioProvider) -> list[str]:
        raise PermanentProviderError("listing the account's numbers failed: HTTP 401")

    monkeypatch.setattr(TwilioProvider, "owned_numbers", unreachable)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        html = await (await client.get(PAGE)).text()
        data = {**_form(html), "caller_id.numbers": OWNED[0], "csrf_token": form_token(html)}
        refused = await client.post(f"{PAGE}/settings", data=_post_data(data))
        assert refused.status == 400
        said = _error(await refused.text(), "caller_id.numbers")
        assert "the carrier could not list the account's numbers" in said

    run_web(scenario)
    assert _versions(engine, "spring retention") == []


def test_the_site_page_changes_the_defaults_and_profiles(run_web: RunWeb, engine: Engine) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        page = await client.get("/manager/settings")
        html = await page.text()
        assert page.status == 200
        assert "Site-wide settings" in html
        assert 'name="regulatory_profiles.GB"' in html
        data = _form(html)
        data.update(
            {
                "costs.contact": "1.25",
                "new_country": "de",
                "new_profile": "default",
                "csrf_token": form_token(html),
            }
        )
        saved = await client.post("/manager/settings", data=_post_data(data), allow_redirects=False)
        assert saved.status == 303, await saved.text()
        html = await (await client.get(saved.headers["Location"])).text()
        assert "Version 1 saved" in html
        for country in ("DE", "GB", "US", "PL"):
            assert f'name="regulatory_profiles.{country}"' in html

        data = {**_form(html), "abandon_target": "0.04", "csrf_token": form_token(html)}
        refused = await client.post("/manager/settings", data=_post_data(data))
        html = await refused.text()
        assert refused.status == 400
        assert "above the limit of 0.03" in _error(html, "abandon_target")

        agent = await login_as(client, "agent")
        denied = await client.post("/manager/settings", data={"csrf_token": agent})
        assert denied.status == 403

    run_web(scenario)
