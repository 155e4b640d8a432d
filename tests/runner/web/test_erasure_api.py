"""POST /api/customers/erase: the manager's alone; erases, lists unknown ids, and leaves
the reports of the campaigns the customers were on as they were."""

from __future__ import annotations

from sqlalchemy import Engine, select

from store.db import transaction
from store.models import Customer, ListEntry
from tests.runner.campaign_store import launched_list
from tests.runner.web.openapi_check import call
from tests.runner.web_harness import Client, RunWeb, login_as

ERASE = "/api/customers/erase"
SAVED = "/api/reports/saved/spring retention"


def _customers_on_the_list(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        stmt = select(Customer.external_id).join(ListEntry, ListEntry.customer_id == Customer.id)
        return sorted(session.scalars(stmt))


def test_a_manager_erases_and_the_saved_report_is_the_same(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)
    on_list = _customers_on_the_list(engine)
    chosen = on_list[:5]

    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        status, before = await call(client, "GET", SAVED)
        assert status == 200
        status, result = await call(
            client, "POST", ERASE, body={"ids": [*chosen, "NO-SUCH-ID"]}, token=token
        )
        assert status == 200, result
        assert (result["erased"], result["unknown"]) == (chosen, ["NO-SUCH-ID"])
        assert result["removed"]["customers"] == 5
        status, after = await call(client, "GET", SAVED)
        assert (status, after) == (200, before)
        status, again = await call(client, "POST", ERASE, body={"ids": chosen[:1]}, token=token)
        assert (status, again["already_erased"], again["erased"]) == (200, chosen[:1], [])

    run_web(scenario)
    assert set(_customers_on_the_list(engine)).isdisjoint(chosen)


def test_bad_bodies_name_the_field(run_web: RunWeb, engine: Engine) -> None:
    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        for body in ({"ids": []}, {"ids": [""]}, {}, {"ids": ["C1"], "also": 1}):
            status, answer = await call(
                client, "POST", ERASE, body=body, token=token, valid_request=False
            )
            assert (status, answer["error"]) == (400, "invalid"), body
            assert answer["field"] in ("ids", "also"), answer

    run_web(scenario)


def test_only_a_manager_may_erase(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)
    chosen = _customers_on_the_list(engine)[:1]

    async def scenario(client: Client) -> None:
        for role in ("agent", "retention"):
            token = await login_as(client, role)
            status, answer = await call(client, "POST", ERASE, body={"ids": chosen}, token=token)
            assert (status, answer["error"]) == (403, "forbidden"), role
        await login_as(client, "manager")
        status, answer = await call(
            client, "POST", ERASE, body={"ids": chosen}, valid_request=False
        )
        assert (status, answer["error"]) == (403, "csrf")

    run_web(scenario)
    assert _customers_on_the_list(engine)[:1] == chosen
