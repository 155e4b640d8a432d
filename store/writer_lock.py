"""One writer at a time on a SQLite file, handed over the moment it is free.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps and looks again: 1, 2, 5, 10 ... and then 100 ms at a
time. While it sleeps, any other writer that comes along takes the lock first, so under a
steady stream of short transactions from several processes (the dialer's workers and the
web app) a writer can wait hundreds of milliseconds, or seconds, for a lock that was free
most of that time, and the lock sits unused between a release and the next look.

``WriterLockConnection`` queues writers on an exclusive ``flock`` of a file beside the
database (``<database>-writer``) before they ask for SQLite's lock: the kernel wakes the
next waiter as soon as the holder lets go, so the hand-over takes microseconds. The
lock is taken by ``begin_immediate`` and let go by ``commit``, ``rollback`` or ``close``,
whichever ends the transaction. Each connection opens the file itself, so connections of
one process queue against each other as well as against other processes.

Writers that do not use it (an import from the command line, say) still take SQLite's
lock through its busy handler; the ones queued here then wait for them there, as before.
A process that dies lets go of its ``flock`` with its files.
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path
from typing import IO, Any

__all__ = ["WriterLockConnection", "lock_path"]


def lock_path(database: str) -> Path:
    """The file whose ``flock`` queues the writers of ``database``."""
    return Path(f"{database}-writer")


class WriterLockConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue on the database's lock file.

    Use as ``sqlite3.connect(path, factory=WriterLockConnection)`` and begin write
    transactions with ``begin_immediate()``; the driver's autocommit (``isolation_level
    = None``) must be on, so that no transaction begins without it.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_file: IO[bytes] | None = open(lock_path(str(database)), "ab")  # noqa: SIM115
        self._held = False

    def begin_immediate(self) -> None:
        """Wait for the lock file, then for SQLite's write lock, and begin."""
        assert self._lock_file is not None, "the connection is closed"
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)  # waits outside Python's lock
        self._held = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def _release(self) -> None:
        if self._held and self._lock_file is not None:
            self._held = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
