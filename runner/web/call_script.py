"""The call script an agent reads: ``templates/calls/<kind>.md.j2`` filled in from the
customer card, then markdown to HTML.

Customer data goes in escaped twice over: jinja2 escapes HTML, and the finalizer
backslash-escapes the markdown punctuation, so a name like ``*Bob* <b>`` is shown as
typed, never as emphasis or markup. markdown-it runs with raw HTML off as well.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from campaigns.offers import SCRIPTS
from runner.web.card import customer_zone
from store.models import CampaignKind

__all__ = ["CALLS", "render_call_script"]

CALLS = Path(__file__).resolve().parents[2] / "templates"
# markdown punctuation that HTML escaping leaves alone (& < > " ' are jinja2's)
_SCRIPT_NAME = re.compile(r"calls/[a-z0-9][a-z0-9_-]*\.md\.j2")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def _markdown_safe(value: object) -> object:
    if isinstance(value, str) and not isinstance(value, Markup):
        return _MARKDOWN.sub(r"\\\1", value)
    return value


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(CALLS),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_markdown_safe,
        keep_trailing_newline=True,
    )


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False})


def _part_of_day(now: dt.datetime, zone_name: str | None) -> str:
    zone = customer_zone(zone_name)
    hour = now.astimezone(zone).hour if zone is not None else now.hour
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def render_call_script(
    card: dict[str, Any],
    *,
    agent_name: str,
    company: str,
    company_phone: str,
    now: dt.datetime,
) -> str:
    """The script for the card's campaign kind as HTML; '' when the card has no campaign."""
    campaign = card.get("campaign")
    if not campaign:
        return ""
    offer = card.get("offer") or {}
    template = offer.get("script_template") or ""
    if not _SCRIPT_NAME.fullmatch(template):  # only call scripts, whatever a list row says
        template = SCRIPTS[CampaignKind(campaign["kind"])]
    customer = card["customer"]
    details = offer.get("details") or {}
    context = {
        "part_of_day": _part_of_day(now, customer.get("timezone")),
        "agent": {"name": agent_name, "first_name": (agent_name.split() or [agent_name])[0]},
        "company": {"name": company, "phone": company_phone},
        "customer": customer,
        "reasons": card["risk"]["reasons"],
        "offer": offer.get("text") or "",
        "product": offer.get("product"),
        "exit_reason": details.get("exit_reason"),
        "details": details,
    }
    text = _environment().get_template(template).render(context)
    html: str = _markdown().render(text)
    return html
