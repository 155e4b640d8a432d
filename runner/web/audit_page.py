"""The manager's view of the audit trail: events newest first, filtered by actor and
action, a page at a time. The trail itself is ``store.audit``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from dialer.webhooks import DIALER
from runner.web.render import render_page
from store.audit import AuditAction, AuditFilter, count_events, list_events

__all__ = ["PAGE_SIZE", "add_audit_routes"]

PAGE_SIZE = 50


def _page_number(text: str | None) -> int:
    try:
        return max(1, int(text or "1"))
    except ValueError:
        return 1


async def audit_page(request: web.Request) -> web.Response:
    user = request.query.get("user", "").strip().lower()
    action = request.query.get("action", "").strip()
    errors = {}
    if action and action not in {a.value for a in AuditAction}:
        errors["action"] = "no such action: choose one from the list"
        action = ""
    which = AuditFilter(actor=user or None, actions=(action,) if action else ())
    page = _page_number(request.query.get("page"))

    def read(session: Session) -> tuple[int, list[dict[str, Any]]]:
        total = count_events(session, which)
        rows = list_events(session, which, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        return total, [row.as_json() for row in rows]

    total, events = await request.app[DIALER].gateway.read_apart(read)
    pages = max(1, -(-total // PAGE_SIZE))
    here = request.app.router["manager-audit"].url_for()

    def page_url(number: int) -> str:
        query = {k: v for k, v in (("user", user), ("action", action)) if v}
        return str(here.with_query({**query, "page": str(number)}))

    context = {
        "events": events,
        "total": total,
        "page": page,
        "pages": pages,
        "previous_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
        "who": user,  # not "user": every page has the logged-in user under that name
        "action": action,
        "actions": [a.value for a in AuditAction],
        "errors": errors,
    }
    return render_page(request, "manager_audit.html.j2", context, status=400 if errors else 200)


def add_audit_routes(app: web.Application) -> None:
    app.router.add_get("/manager/audit", audit_page, name="manager-audit")
