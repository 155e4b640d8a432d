"""The plan preview's "back to the form" link brings the form back as it was typed."""

from __future__ import annotations

import html as markup
import re

from sqlalchemy import Engine

from tests.runner.campaign_store import build_scored_base
from tests.runner.web_harness import Client, RunWeb, form_token, login_as


def _value(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page)
    assert found, f"no input {name}"
    return markup.unescape(found.group(1))


def _back(page: str) -> str:
    found = re.search(r'<a href="([^"]+)"[^>]*>Back to the form</a>', page)
    assert found, "no link back to the form"
    return markup.unescape(found.group(1))


def test_back_to_the_form_refills_it(run_web: RunWeb, engine: Engine) -> None:
    build_scored_base(engine, 120)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        token = form_token(await (await client.get("/manager")).text())
        typed = {
            "kind": "anti-churn",
            "name": "Winter & friends #2",
            "agents": "3",
            "hours": "2.5",
            "contacts_per_hour": "4",
            "holdout": "0.25",
            "seed": "",
        }
        preview = await client.post("/manager/plan", data={**typed, "csrf_token": token})
        page = await preview.text()
        assert preview.status == 200, page
        back = _back(page)
        assert back.startswith("/manager?")
        form = await client.get(back.split("#")[0])
        page = await form.text()
        assert form.status == 200
        assert '<option value="anti-churn" selected>' in page
        for name in ("name", "agents", "hours", "contacts_per_hour", "holdout"):
            assert _value(page, name) == typed[name], name
        # the seed was left empty, so the form leaves it empty for a new draw
        assert _value(page, "seed") == ""
        assert _value(page, "size") == ""

        # with no query the form starts as ever: empty, a 10% holdout
        page = await (await client.get("/manager")).text()
        assert _value(page, "name") == ""
        assert _value(page, "holdout") == "0.10"

    run_web(scenario)


def test_a_typed_seed_comes_back_too(run_web: RunWeb, engine: Engine) -> None:
    build_scored_base(engine, 60)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        token = form_token(await (await client.get("/manager")).text())
        typed = {"kind": "anti-churn", "name": "spring", "size": "20", "seed": "42"}
        page = await (
            await client.post("/manager/plan", data={**typed, "csrf_token": token})
        ).text()
        form = await (await client.get(_back(page).split("#")[0])).text()
        assert (_value(form, "size"), _value(form, "seed"), _value(form, "holdout")) == (
            "20",
            "42",
            "",
        )

    run_web(scenario)
