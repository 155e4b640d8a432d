"""The carrier simulator's ledger: every request it accepted and every callback it sent.

The ledger is the carrier's own account of what happened, kept apart from the product's
store so that a soak can reconcile the two: a call the carrier placed that the store does
not know of, a final status the store does not hold, a forged callback the web app took.
It is a file of JSON lines, appended and flushed one record at a time, so it survives the
simulator's restart and a reader never sees half a record. The lines hold phone numbers:
the file is readable by its owner only.

Records (``kind``), times in seconds since the epoch, wall clock:

    rest      a REST request to create a call or a message: ``resource``, ``status`` (the
              HTTP status answered), ``fault`` (500, 429, stall or null), ``sid``, ``to``,
              ``from``, ``attempt`` (our attempt id, from the callback URL)
    call      a call that ended: ``sid``, ``to``, ``from``, ``attempt``, ``created``,
              ``answered``, ``ended``, ``status`` (Twilio's final word), ``answered_by``
              (human, machine or null), ``bridged`` (when an agent's leg was dialled) and
              ``restart`` (true: cut short by the simulator's restart, no callback sent)
    message   a text that reached a final status: ``sid``, ``to``, ``attempt``, ``status``
    callback  a request the simulator sent to the web app: ``event`` (status, answer,
              amd, sms-status, sms-inbound), ``sid``, ``attempt``, ``signature`` (valid,
              forged or replay), ``fault`` (duplicate, reorder, delay or null), ``status``
              (the HTTP status answered, null when it could not be delivered) and, for the
              answer webhook, ``dial`` (whether the TwiML it got dials an agent)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CarrierLedger", "read_ledger"]


class CarrierLedger:
    """Appends records to ``path``; with no path it keeps nothing (the demo, the tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.fchmod(self._fd, 0o600)  # an existing file keeps no wider mode

    def record(self, kind: str, **fields: Any) -> None:
        if self._fd is None:
            return
        line = json.dumps({"kind": kind, "at": time.time(), **fields}, separators=(",", ":"))
        with self._lock:
            # one write of a whole line on an O_APPEND file: lines never interleave
            os.write(self._fd, (line + "\n").encode())

    def records(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """What the file holds so far (also what an earlier run of the simulator wrote)."""
        if self.path is None or not self.path.exists():
            return iter(())
        return read_ledger(self.path, kind)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_ledger(path: Path, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """The ledger's records in the order written, only those of ``kind`` when given; a
    last line still being written is left out."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                return
            record: dict[str, Any] = json.loads(line)
            if kind is None or record["kind"] == kind:
                yield record
