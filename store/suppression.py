"""The suppression list: customer ids and numbers erased on request, kept as keyed hashes.

An erased person must never be called again, so something of them has to stay; a hash is
all that stays. It is an HMAC-SHA256 under a site secret (the "salt"), not a plain hash:
phone numbers are few enough (about 10^10 per country) that anyone holding the table could
hash every possible number and read the erased numbers back from a plain SHA-256 in
minutes, and a salt stored beside each hash would not slow that down much. With the key
kept outside the database (the environment, or a 0600 file in ``TELECAMPAIGN_HOME``), a
copy of the database alone gives nothing back. The same key must stay in force: hashes
made under another key no longer match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from store.dialect import conflict_insert
from store.models import Suppression

__all__ = ["CUSTOMER_ID", "PHONE", "SuppressionKey", "suppress", "suppressed"]

PHONE = "phone"
CUSTOMER_ID = "customer_id"


@dataclass(frozen=True)
class SuppressionKey:
    """The site secret that keys the suppression hashes."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("the suppression key must be at least 32 bytes")

    def digest(self, kind: str, value: str) -> str:
        # the kind is part of the message: a customer id that looks like a number must not
        # suppress that number
        message = f"{kind}\x00{value.strip()}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def suppress(session: Session, key: SuppressionKey, kind: str, values: Iterable[str]) -> int:
    """Add the values' hashes to the list (those already on it are left); returns how many
    values were given."""
    rows = [{"kind": kind, "digest": key.digest(kind, v)} for v in values if v]
    if rows:
        stmt = conflict_insert(session, Suppression).on_conflict_do_nothing(
            index_elements=["kind", "digest"]
        )
        session.execute(stmt, rows)
    return len(rows)


def suppressed(session: Session, key: SuppressionKey, kind: str, values: Iterable[str]) -> set[str]:
    """The values whose hash is on the list."""
    by_digest = {key.digest(kind, v): v for v in values if v}
    found: set[str] = set()
    digests = list(by_digest)
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        stmt = select(Suppression.digest).where(
            tuple_(Suppression.kind, Suppression.digest).in_([(kind, d) for d in chunk])
        )
        found.update(by_digest[d] for d in session.scalars(stmt))
    return found
