"""Writing a file all or nothing: the one write-to-a-temporary-file-then-rename.

A reader (a user's editor, a script polling a port file, the next `assay` command) sees either the
old file or the complete new one, never half of it, and a failure part-way (a full disk, an
exception while streaming an export) leaves the target as it was and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[TextIO]:
    """A UTF-8 text stream (newlines written as given) that replaces `path` when the block ends
    without an exception.

    The temporary file sits beside the target (a rename is atomic only within one file system)
    and is fsynced before the rename, the folder after it. An existing file keeps its permission
    bits; a new one gets `mode` (default 0o666, less the umask, as `open()` would give it)."""
    path = Path(path)
    try:
        keep = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        keep = None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    out = open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode),
               "w", encoding="utf-8", newline="")
    try:
        with out:
            if keep is not None:
                os.fchmod(out.fileno(), keep)  # the umask applied at creation may have narrowed it
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: str, *, mode: int | None = None) -> None:
    """Replace `path` with the text `data`, all or nothing (see atomic_writer)."""
    with atomic_writer(path, mode=mode) as out:
        out.write(data)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable. Not every platform can open a folder; there the rename is
    as durable as the OS makes it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
