"""The campaign manager's pages: campaigns, planning, the live dashboard with the
campaign's settings, imports, the model and the segment x product matrix.

Forms post back here (with the session's CSRF token) and are answered with a redirect,
or with the same form and an error beside each field; the live dashboard reads
``/api/campaigns/{name}/live`` every two seconds from ``static/manager.js``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from campaigns.errors import CampaignError, CampaignNameTaken, CampaignNotFoundError
from campaigns.export import export_list
from campaigns.matrix import NoMatrixError
from campaigns.plan_request import PLAN_FIELDS, PlanRequest, PlanRequestError
from dialer.webhooks import DIALER
from runner.web.api import live_view, move_campaign, run_plan
from runner.web.desk import (
    ACTIONS,
    calibration_plot,
    campaign_rows,
    import_runs,
    matrix_view,
    model_versions,
    rejects_file,
    top_reasons,
)
from runner.web.login import safe_next
from runner.web.render import render_page
from runner.web.settings_pages import (
    add_site_settings_routes,
    saved_url,
    settings_context,
    submit_settings,
)
from runner.web.trail import audit
from store.audit import AuditAction
from store.models import CampaignKind

__all__ = ["add_manager_routes"]

KIND_LABELS = {
    CampaignKind.ANTI_CHURN.value: "Anti-churn: keep customers at risk",
    CampaignKind.CROSS_SELL.value: "Cross-sell: a product from a new family",
    CampaignKind.UP_SELL.value: "Up-sell: the next tier of a product held",
    CampaignKind.WIN_BACK.value: "Win-back: customers who left",
    CampaignKind.FOLLOW_UP.value: "Follow-up: the service call",
}
BASIS = {
    "uplift": "uplift model x CLV",
    "risk_value": "risk x CLV (no uplift model yet)",
    "propensity": "acceptance propensity model x margin",
    "assumed_acceptance": "margin x an assumed 9% acceptance (no offers recorded yet)",
    "win_back_rate": "assumed win-back rate x former revenue",
}


def _form_values(form: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in PLAN_FIELDS}


async def _home(
    request: web.Request,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    rows = await request.app[DIALER].gateway.write(campaign_rows)
    context = {
        "campaigns": rows,
        "kinds": KIND_LABELS,
        "values": values or {"holdout": "0.10"},
        "errors": errors or {},
    }
    return render_page(request, "manager.html.j2", context, status=status)


async def manager_home(request: web.Request) -> web.Response:
    """The campaigns and the plan form; a query string of plan fields (the preview's "back
    to the form" link) fills the form again. Nothing is checked until the preview."""
    asked = {name: request.query[name].strip() for name in PLAN_FIELDS if name in request.query}
    return await _home(request, values=asked or None)


def form_url(request: web.Request, values: Mapping[str, str]) -> str:
    """The plan form filled with ``values`` (the empty ones left out)."""
    filled = {name: values[name] for name in PLAN_FIELDS if values.get(name)}
    return str(request.app.router["manager-home"].url_for().with_query(filled))


def _plan_problem(exc: CampaignError) -> dict[str, str]:
    """A planner refusal pinned to the field it concerns (a taken name), else the form."""
    return {"name": str(exc)} if isinstance(exc, CampaignNameTaken) else {"form": str(exc)}


async def plan_preview(request: web.Request) -> web.Response:
    """The plan form, run as a dry run: what the list would be, nothing stored yet."""
    values = _form_values(await request.post())
    try:
        result = await run_plan(request, PlanRequest(**values), dry_run=True)
    except PlanRequestError as exc:
        return await _home(request, values=values, errors=exc.fields, status=400)
    except CampaignError as exc:
        return await _home(request, values=values, errors=_plan_problem(exc), status=409)
    preview = result.preview
    # the stored plan repeats the preview's holdout draw: same seed, same customers
    stored_values = {**values, "seed": str(preview["seed"])}
    context = {
        "preview": preview,
        "values": stored_values,
        # back to the form as it was typed: a seed left empty stays empty (a new draw)
        "back_url": form_url(request, values),
        "basis": BASIS.get(preview["basis"], preview["basis"]),
        "expected_key": next(k for k in preview["expected"] if k != "value"),
    }
    return render_page(request, "manager_preview.html.j2", context)


async def plan_store(request: web.Request) -> web.Response:
    form = await request.post()
    values = _form_values(form)
    try:
        result = await run_plan(request, PlanRequest(**values), dry_run=False)
        name = result.preview["name"]
        if form.get("then") == "launch":
            await move_campaign(request, name, "launch")
    except PlanRequestError as exc:
        return await _home(request, values=values, errors=exc.fields, status=400)
    except CampaignError as exc:
        return await _home(request, values=values, errors=_plan_problem(exc), status=409)
    raise web.HTTPSeeOther(request.app.router["manager-campaign"].url_for(name=name))


async def campaign_move(request: web.Request) -> web.Response:
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    try:
        await move_campaign(request, name, action)
    except CampaignNotFoundError:
        raise web.HTTPNotFound() from None
    except CampaignError as exc:
        context = {"status": 409, "message": str(exc)}
        return render_page(request, "error.html.j2", context, status=409)
    back = safe_next(str((await request.post()).get("next", "")))
    raise web.HTTPSeeOther(back or str(request.app.router["manager-campaign"].url_for(name=name)))


async def campaign_page(
    request: web.Request,
    name: str,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> web.Response:
    """The campaign's live figures and its settings; with ``errors``, the settings form
    as it was sent, each error beside its field (400)."""
    try:
        live = await live_view(request, name)
    except CampaignNotFoundError:
        raise web.HTTPNotFound() from None
    live_url = request.app.router["api-campaign-live"].url_for(name=name)
    context = {
        "live": live,
        "live_url": str(live_url),
        **await settings_context(request, name, values, errors),
    }
    return render_page(request, "manager_campaign.html.j2", context, status=400 if errors else 200)


async def campaign_dashboard(request: web.Request) -> web.Response:
    return await campaign_page(request, request.match_info["name"])


async def campaign_settings_change(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        submitted = await submit_settings(request, name)
    except CampaignNotFoundError:
        raise web.HTTPNotFound() from None
    if submitted.errors:
        return await campaign_page(request, name, submitted.values, submitted.errors)
    raise web.HTTPSeeOther(saved_url(request, "manager-campaign", submitted.version, name=name))


async def campaign_export(request: web.Request) -> web.Response:
    """The list as CSV, holdout rows marked; it holds names and numbers, so no cache."""
    name = request.match_info["name"]

    def write(engine: Engine) -> tuple[bytes, int]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "list.csv"
            rows = export_list(engine, name, path)
            return path.read_bytes(), rows

    try:
        body, rows = await request.app[DIALER].gateway.batch(write)
    except CampaignNotFoundError:
        raise web.HTTPNotFound() from None
    await audit(request, AuditAction.EXPORT, detail={"name": name, "rows": rows})
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "campaign"
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )


async def imports(request: web.Request) -> web.Response:
    runs = await request.app[DIALER].gateway.write(import_runs)
    return render_page(request, "manager_imports.html.j2", {"runs": runs})


async def import_rejects(request: web.Request) -> web.StreamResponse:
    try:
        run_id = int(request.match_info["run_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    path = await request.app[DIALER].gateway.write(lambda s: rejects_file(s, run_id))
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path, headers={"Content-Disposition": f'attachment; filename="rejects-{run_id}.csv"'}
    )


async def model(request: web.Request) -> web.Response:
    store = request.app[DIALER].gateway.write
    versions = await store(model_versions)
    active = next((v for v in versions if v["active"] and v["kind"] == "churn"), None)
    reasons = await store(lambda s: top_reasons(s, active["version"])) if active else []
    context = {"versions": versions, "active": active, "reasons": reasons}
    return render_page(request, "manager_model.html.j2", context)


async def model_calibration(request: web.Request) -> web.StreamResponse:
    version = request.match_info["version"]
    path = await request.app[DIALER].gateway.write(lambda s: calibration_plot(s, version))
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


async def matrix(request: web.Request) -> web.Response:
    try:
        found, counts = await request.app[DIALER].gateway.write(matrix_view)
    except NoMatrixError as exc:
        return render_page(request, "manager_matrix.html.j2", {"matrix": None, "why": str(exc)})
    return render_page(
        request, "manager_matrix.html.j2", {"matrix": found, "counts": counts, "why": None}
    )


def add_manager_routes(app: web.Application) -> None:
    add = app.router
    add.add_get("/manager", manager_home, name="manager-home")
    add.add_post("/manager/plan", plan_preview, name="manager-plan")
    add.add_post("/manager/plan/store", plan_store, name="manager-plan-store")
    add.add_get("/manager/campaigns/{name}", campaign_dashboard, name="manager-campaign")
    add.add_get(
        "/manager/campaigns/{name}/export.csv", campaign_export, name="manager-campaign-export"
    )
    # before the moves' route, which would take a post to the settings for a move
    add.add_post(
        "/manager/campaigns/{name}/settings",
        campaign_settings_change,
        name="manager-campaign-settings",
    )
    add_site_settings_routes(app)
    add.add_post("/manager/campaigns/{name}/{action}", campaign_move, name="manager-campaign-move")
    add.add_get("/manager/imports", imports, name="manager-imports")
    add.add_get("/manager/imports/{run_id}/rejects", import_rejects, name="manager-rejects")
    add.add_get("/manager/model", model, name="manager-model")
    add.add_get(
        "/manager/model/{version}/calibration", model_calibration, name="manager-model-calibration"
    )
    add.add_get("/manager/matrix", matrix, name="manager-matrix")
