"""Customer rows checked against the people erased on request (``store.suppression``).

A row with an erased customer id is rejected: it is the erased person. A row with a
number an erased person had is stored without the number, as any unusable number is
(the row, its holdings and bills stay; nobody is called on it): numbers change hands,
and a new holder of the line is a customer still, but calling the line may reach the
person who asked to be forgotten. Neither value is written to the reject file, which
must not bring the erased data back either.
"""

from __future__ import annotations

from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from store.import_checks import Outcome
from store.models import Suppression
from store.results import FIELD_EMPTY, Reject
from store.suppression import CUSTOMER_ID, PHONE, SuppressionKey, suppressed

__all__ = ["ERASED_ID", "ERASED_NUMBER", "has_erasures", "screen_erased"]

ERASED_ID = (
    "erased on request (GDPR art. 17): this customer's data was erased and may not be "
    "stored again; leave the row out of the file"
)
ERASED_NUMBER = (
    "erased on request (GDPR art. 17): this number belonged to a customer whose data was "
    "erased, so it is never called again; give the customer another number"
)


def has_erasures(engine: Engine) -> bool:
    with Session(engine) as session:
        return bool(session.scalar(select(exists().where(Suppression.id.is_not(None)))))


def screen_erased(engine: Engine, key: SuppressionKey, outcomes: list[Outcome]) -> list[Outcome]:
    """The batch with erased ids rejected and erased numbers left out."""
    rows = [o.record for o in outcomes if o.record is not None]
    with Session(engine) as session:
        ids = suppressed(session, key, CUSTOMER_ID, [r["external_id"] for r in rows])
        phones = suppressed(session, key, PHONE, [r["phone"] for r in rows if r.get("phone")])
    if not ids and not phones:
        return outcomes
    return [_screened(o, ids, phones) for o in outcomes]


def _screened(outcome: Outcome, ids: set[str], phones: set[str]) -> Outcome:
    record = outcome.record
    if record is None:
        return outcome
    if record["external_id"] in ids:
        return Outcome(
            outcome.line, None, None, [Reject(outcome.line, "customer_id", "", ERASED_ID)]
        )
    if record.get("phone") in phones:
        problem = Reject(outcome.line, "phone", "", ERASED_NUMBER)
        return outcome._replace(
            record={**record, "phone": None},
            problems=[*outcome.problems, problem],
            fates=(*outcome.fates, FIELD_EMPTY),
        )
    return outcome
