"""An OS lock on a folder, held for the life of a run."""
from __future__ import annotations

import fcntl
import os
import stat
from contextlib import contextmanager
from typing import Iterator

LOCK_FILE = ".topogcn.lock"


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock."""


@contextmanager
def folder_lock(folder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if needed) while the
    block runs.  A second process asking for it gets
    :class:`FolderInUseError` naming the holder's pid at once.  The lock is
    the kernel's (``flock``): it ends with the process that holds it, so a
    killed run leaves no stale lock; the pid in the lock file is for the
    message only."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    try:  # never through a link: a planted link would have the pid written into its target
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError:
        if os.path.islink(path):
            raise FolderInUseError(f"'{path}' is a symbolic link, not topogcn's lock file; "
                                   f"remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FolderInUseError(f"'{path}' is not a regular file (topogcn's lock file); "
                               f"remove it")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderInUseError(
                f"'{folder}' is in use by another topogcn run (pid {holder}); wait for it to "
                f"finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
