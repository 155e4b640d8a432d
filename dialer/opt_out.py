"""Inbound SMS keywords: STOP opts a number out of texts at once, START opts it back in.

The keywords are the carriers' standard ones, as Twilio applies them: the whole
message, any case, surrounding spaces and punctuation ignored. An opt-out is a
do-not-contact entry for the SMS channel that the contact policy reads before every
text; an opt-in revokes it (the row stays, with ``revoked_at``, so the history is kept).
A number on the do-not-call list for every channel ("all") is not reopened by START:
that entry came from somewhere else (a registry, a request on a call).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import DncChannel, DncEntry

__all__ = ["HELP_TEXT", "Keyword", "Reply", "apply_keyword", "keyword_of"]


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_WORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.STOP),
    **dict.fromkeys(("START", "YES", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}

HELP_TEXT = "{company}: customer care {phone}. Reply STOP to stop texts, START to restart."
STOPPED_TEXT = "{company}: you will get no more texts from us. Reply START to restart."
STARTED_TEXT = "{company}: texts restarted. Reply STOP to stop, HELP for help."


@dataclass(frozen=True)
class Reply:
    keyword: Keyword | None
    changed: bool  # whether the number's opt-out state changed
    text: str | None  # what to answer, None for a message that is no keyword


def keyword_of(body: str) -> Keyword | None:
    """The keyword a message is, if the whole message is one."""
    word = body.strip().strip(".!?,;:'\"").strip().upper()
    return _WORDS.get(word)


def apply_keyword(
    session: Session,
    phone: str,
    body: str,
    *,
    now: dt.datetime,
    company: str,
    care_phone: str,
) -> Reply:
    """Act on an inbound message from ``phone`` (E.164) and say what to answer."""
    keyword = keyword_of(body)
    if keyword is None:
        return Reply(None, False, None)
    if keyword is Keyword.HELP:
        return Reply(keyword, False, HELP_TEXT.format(company=company, phone=care_phone))
    entry = session.scalars(
        select(DncEntry).where(DncEntry.phone == phone, DncEntry.channel == DncChannel.SMS)
    ).first()
    if keyword is Keyword.STOP:
        changed = entry is None or entry.revoked_at is not None
        if entry is None:
            session.add(
                DncEntry(
                    phone=phone,
                    channel=DncChannel.SMS,
                    source="sms_reply",
                    reason=f"replied {body.strip().upper()[:40]}",
                    created_at=now,
                )
            )
        elif entry.revoked_at is not None:
            entry.revoked_at = None
            entry.source, entry.reason = "sms_reply", f"replied {body.strip().upper()[:40]}"
        return Reply(keyword, changed, STOPPED_TEXT.format(company=company))
    changed = entry is not None and entry.revoked_at is None
    if entry is not None and entry.revoked_at is None:
        entry.revoked_at = now
    return Reply(keyword, changed, STARTED_TEXT.format(company=company))
