"""The call and text jobs: one attempt each, claimed, then handed to the carrier.

Jobs:
    place_call          the contact policy once more, under a per-customer lock, then the
                        carrier; transient carrier errors retry with backoff (arq Retry)
    send_sms            likewise for a text (SMS fallback), rendered from templates/sms
"""

from __future__ import annotations

import logging
from typing import Any, cast

from arq import Retry
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from campaigns.settings.model import CampaignSettings
from dialer.attempt_claim import claim_attempt
from dialer.context import Dialer, DialerConfig
from dialer.outcomes import apply_status
from dialer.provider import PermanentProviderError, TransientProviderError
from dialer.sms import campaign_sms
from store.dialect import is_sqlite
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Customer,
    ListEntry,
)

__all__ = ["MAX_TRIES", "backoff", "place_call", "send_sms"]

log = logging.getLogger("telecampaign.dialer")
S = AttemptStatus
MAX_TRIES = 6
_ATTEMPTS = cast(Table, Attempt.__table__)


def backoff(job_try: int) -> float:
    """Real seconds before the next try of a job that met a transient error."""
    return float(min(60, 2 ** (job_try - 1)))


async def place_call(ctx: dict[str, Any], attempt_id: int, customer_id: int | None = None) -> str:
    """Dial one queued attempt; what happened, in a word (for the job result).

    ``customer_id`` (the attempt's, for the per-customer lock) is looked up when not given.
    """
    dialer: Dialer = ctx["dialer"]
    ready = await claim_attempt(dialer, attempt_id, Channel.CALL, customer_id)
    if isinstance(ready, str):
        if ready in ("blocked", "not running"):
            await _free_previewer(dialer, attempt_id)
        return ready
    phone, dialing, shown = ready
    try:
        sid = await dialer.provider.place_call(
            attempt_id=attempt_id,
            to=phone,
            machine_detection=dialing.machine_detection.enabled,
            ring_timeout=dialing.ring_timeout,
            from_number=shown,
        )
    except TransientProviderError as error:
        return await _transient(ctx, dialer, attempt_id, S.INITIATED, error)
    except PermanentProviderError as error:
        await _failed(dialer, attempt_id, error)
        await _free_previewer(dialer, attempt_id)
        return "failed"
    await _keep_sid(dialer, attempt_id, sid)
    return "dialled"


async def _free_previewer(dialer: Dialer, attempt_id: int) -> None:
    """An agent who dialed the attempt from a preview is ready again: it never rang."""
    agent = await dialer.board.end_call(attempt_id, dialer.clock.now())
    if agent is None:
        return
    now = dialer.clock.utcnow()

    def ready(session: Session) -> None:
        campaign_id = session.scalar(select(Attempt.campaign_id).where(Attempt.id == attempt_id))
        session.add(
            AgentEvent(
                agent_id=agent,
                campaign_id=campaign_id,
                attempt_id=attempt_id,
                state="ready",
                at=now,
            )
        )

    await dialer.gateway.write(ready)


async def send_sms(ctx: dict[str, Any], attempt_id: int) -> str:
    """Send one scheduled text, rendered from the campaign kind's SMS template."""
    dialer: Dialer = ctx["dialer"]
    ready = await claim_attempt(dialer, attempt_id, Channel.SMS, None)
    if isinstance(ready, str):
        return ready
    phone, texting, shown = ready
    body = await dialer.gateway.write(lambda s: _sms_body(s, attempt_id, dialer.config, texting))
    try:
        sid = await dialer.provider.send_sms(
            attempt_id=attempt_id, to=phone, body=body, from_number=shown
        )
    except TransientProviderError as error:
        return await _transient(ctx, dialer, attempt_id, S.QUEUED, error)
    except PermanentProviderError as error:
        await _failed(dialer, attempt_id, error)
        return "failed"
    await _keep_sid(dialer, attempt_id, sid)
    return "sent"


async def _keep_sid(dialer: Dialer, attempt_id: int, sid: str) -> None:
    """The carrier's id for the attempt, unless a callback already brought it.

    The carrier's first callback races the answer to the dial. On SQLite whichever comes
    second finds the id there with a read and takes no write lock; on PostgreSQL an
    UPDATE that matches nothing costs no more than that read would."""
    if is_sqlite(dialer.engine):
        known: str | None = await dialer.gateway.read(
            lambda s: s.connection().scalar(_SID, {"attempt_id": attempt_id})
        )
        if known is not None:
            return
    await dialer.gateway.write_one(
        lambda s: s.connection().execute(_KEEP_SID, {"attempt_id": attempt_id, "sid": sid})
    )


_SID = select(_ATTEMPTS.c.provider_sid).where(_ATTEMPTS.c.id == bindparam("attempt_id"))
_KEEP_SID = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"), _ATTEMPTS.c.provider_sid.is_(None))
    .values(provider_sid=bindparam("sid"))
)


def _sms_body(
    session: Session, attempt_id: int, config: DialerConfig, settings: CampaignSettings
) -> str:
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    campaign = session.get(Campaign, attempt.campaign_id)
    customer = session.get(Customer, attempt.customer_id)
    entry = session.get(ListEntry, attempt.list_entry_id) if attempt.list_entry_id else None
    assert campaign is not None
    assert customer is not None
    first_name = customer.name.split()[0] if customer.name.strip() else None
    return campaign_sms(
        settings,
        campaign.kind.value,
        company=config.company,
        first_name=first_name,
        callback_number=config.callback_number,
        offer=entry.offer if entry is not None else None,
    ).text


async def _transient(
    ctx: dict[str, Any],
    dialer: Dialer,
    attempt_id: int,
    started: AttemptStatus,
    error: TransientProviderError,
) -> str:
    """Put the attempt back and retry the job later; give up after ``MAX_TRIES``.

    When the carrier may have placed it all the same (``maybe_placed``) the attempt stays
    started and is not tried again: a call the carrier took brings its SID with its first
    callback, and one it did not is closed by the reaper after ``LOST_AFTER``."""
    if error.maybe_placed:
        log.warning(
            "attempt %s: the carrier's answer was lost (%s); waiting for its callbacks",
            attempt_id,
            error,
        )
        return "unknown"
    job_try = int(ctx.get("job_try", 1))
    if job_try >= MAX_TRIES:
        await _failed(dialer, attempt_id, error)
        return "failed"
    back = S.QUEUED if started is S.INITIATED else S.SCHEDULED

    def undo(session: Session) -> None:
        session.execute(
            update(Attempt)
            .where(
                Attempt.id == attempt_id,
                Attempt.status == started,
                Attempt.provider_sid.is_(None),
            )
            .values(status=back, started_at=None)
            .execution_options(synchronize_session=False)
        )

    await dialer.gateway.write(undo)
    log.warning(
        "attempt %s: carrier unavailable (%s), try %s of %s",
        attempt_id,
        error.status,
        job_try,
        MAX_TRIES,
    )
    raise Retry(defer=backoff(job_try))


async def _failed(dialer: Dialer, attempt_id: int, error: Exception) -> None:
    code = getattr(error, "code", None) or getattr(error, "status", None) or "provider"
    now = dialer.clock.utcnow()
    change = await dialer.gateway.write(
        lambda s: apply_status(s, attempt_id, S.FAILED, now=now, error_code=str(code))
    )
    await dialer.after_change(change.texts, change.campaign_id)
    log.warning("attempt %s: the carrier refused it (%s)", attempt_id, code)
