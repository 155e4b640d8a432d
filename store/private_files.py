"""Files and folders that hold customer data: readable by their owner only.

The database, reject files, exports, reports and the demo data hold names and phone
numbers, so other local users must not read them whatever the umask says. Folders are
created 0700.

A file is never written in place. Its contents go to a new file beside it, created 0600
with O_EXCL and O_NOFOLLOW, which then replaces the target in one rename:

- a local user who opened the old file while it was readable keeps a handle on the old
  contents only (narrowing an existing file's mode would not take that handle away);
- a symlink planted at the path is replaced itself; whatever it points at is left alone;
- a crash or an exception while writing leaves the old file whole, never a truncated one.

The handles ``open_private`` and ``open_private_binary`` give write the new file; the file
takes its name when the handle is closed or its ``with`` block ends normally. An exception
in the block, or a handle dropped unclosed, removes it instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TextIO

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "open_private",
    "open_private_binary",
    "private_database_file",
    "private_folder",
    "write_private_text",
]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` owner-only, or narrow it to 0700 when it exists and is ours."""
    _make_folders(path)
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        path.chmod(FOLDER_MODE)
    return path


def open_private(path: Path, *, newline: str | None = None) -> TextIO:
    """A handle to write UTF-8 text that replaces ``path`` when it is closed, 0600.

    Missing folders on the way are created 0700; an existing folder is left as it is
    (it may be the user's own). Until the handle is closed, ``path`` keeps what it had.
    """
    return _PrivateText(_new_file(path), newline=newline)


def open_private_binary(path: Path) -> BinaryIO:
    """As ``open_private``, for bytes."""
    return _PrivateBinary(_new_file(path))


def write_private_text(path: Path, text: str) -> None:
    with open_private(path) as handle:
        handle.write(text)


def private_database_file(path: Path) -> None:
    """Create an empty SQLite file owner-only, or narrow an existing one that is ours.

    SQLite gives its -wal, -shm and journal files the database file's mode, so this
    covers them too. A missing folder is left for SQLite to report, as it always has.
    """
    if not path.parent.is_dir():
        return
    # An existing database is never opened here: closing any descriptor of a file drops
    # every POSIX lock this process holds on it, SQLite's included (fcntl semantics), so a
    # second engine made in a process whose first one is connected (the web app's reader)
    # would let another process take the database for its own, check its write-ahead log
    # in and delete it under this one, whose later writes then overwrite the other's.
    try:
        info = os.stat(path)
    except FileNotFoundError:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
        return
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, FILE_MODE)


class _NewFile(io.FileIO):
    """The new file beside the target; closed, it takes the target's name or is removed.

    It is put in place only when the handle written through says the writing is done
    (``done``): a close from an exception or from the garbage collector removes it.
    """

    def __init__(self, fd: int, temp: Path, target: Path) -> None:
        super().__init__(fd, "wb")
        self.temp = temp
        self.target = target
        self.done = False

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.done:
                # on disk before it takes the name, or a crash could leave the name empty
                os.fsync(self.fileno())
        except BaseException:
            self.done = False
            raise
        finally:
            super().close()
            _settle(self.temp, self.target, done=self.done)


class _PrivateText(io.TextIOWrapper):
    def __init__(self, file: _NewFile, *, newline: str | None) -> None:
        super().__init__(io.BufferedWriter(file), encoding="utf-8", newline=newline)
        self._file = file

    def close(self) -> None:
        _finish(self, self._file, super().close)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            super().close()  # not done: the new file is removed, the old one stays

    def __del__(self) -> None:
        _abandon(super().close)


class _PrivateBinary(io.BufferedWriter):
    def __init__(self, file: _NewFile) -> None:
        super().__init__(file)
        self._file = file

    def close(self) -> None:
        _finish(self, self._file, super().close)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            super().close()  # not done: the new file is removed, the old one stays

    def __del__(self) -> None:
        _abandon(super().close)


def _finish(handle: io.IOBase, file: _NewFile, close: Callable[[], None]) -> None:
    """A close asked for: the writing is done, unless the last of it cannot be written."""
    try:
        if not handle.closed:
            handle.flush()  # raises on a full disk, say: then the new file is removed
            file.done = True
    finally:
        close()


def _abandon(close: Callable[[], None]) -> None:
    # a handle nobody closed: its writer never finished, so its file is removed.
    # ValueError: __init__ failed, there is nothing open to close
    with contextlib.suppress(ValueError):
        close()


def _new_file(path: Path) -> _NewFile:
    _make_folders(path.parent)
    # mkstemp: O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, a name nobody else has open
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        return _NewFile(fd, Path(temp), path)
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise


def _settle(temp: Path, target: Path, *, done: bool) -> None:
    if not done:
        temp.unlink(missing_ok=True)
        return
    try:
        os.replace(temp, target)  # a symlink at target is replaced itself, never followed
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _make_folders(path: Path) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for folder in missing:
        # mkdir applies the mode to the last folder only, and through the umask.
        folder.chmod(FOLDER_MODE)
