"""Files and folders that hold customer data: readable by their owner only.

The database, reject files, exports, reports and the demo data hold names and phone
numbers, so other local users must not read them whatever the umask says. A file is
created 0600, and an existing one is narrowed to 0600 before anything is written to it:
the mode given to open applies only when the file is created, and overwriting a file
another tool left 0644 must not leave the new contents readable. Folders are created
0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
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
    """Open ``path`` to write UTF-8 text from the start, readable by its owner only.

    Missing folders on the way are created 0700; an existing folder is left as it is
    (it may be the user's own), only the file is made private.
    """
    return os.fdopen(_private_fd(path), "w", encoding="utf-8", newline=newline)


def open_private_binary(path: Path) -> BinaryIO:
    """As ``open_private``, for bytes."""
    return os.fdopen(_private_fd(path), "wb")


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
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _private_fd(path: Path) -> int:
    _make_folders(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the file may have existed with a wider mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_folders(path: Path) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for folder in missing:
        # mkdir applies the mode to the last folder only, and through the umask.
        folder.chmod(FOLDER_MODE)
