"""One writer per run directory or prediction output: a file lock (filelock) that names its holder."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .exceptions import InputError

__all__ = ["LOCK_NAME", "held"]

LOCK_NAME = ".ocfeh.lock"
"""The lock file of a run directory (its text: the holder's PID, host and start time)."""


@contextmanager
def held(lock_file: str | Path, what: str) -> Iterator[Path]:
    """Hold ``lock_file`` for the block; another process holding it is an :class:`InputError` naming its PID.

    ``what`` names the locked thing in the message (a run directory, an output).
    """
    from filelock import FileLock, Timeout

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)

    def stamp(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())

    lock = FileLock(lock_file, timeout=0, on_acquired=stamp)
    try:
        lock.acquire()
    except Timeout:
        try:
            pid, host, since = (lock_file.read_text().split() + ["?", "?", "?"])[:3]
        except OSError:
            pid, host, since = "?", "?", "?"
        raise InputError(f"{what} is in use by another ocfeh process (PID {pid} on {host}, since {since}); wait "
                         f"for it to finish, or stop it (kill {pid}) and rerun") from None
    try:
        yield lock_file
    finally:
        lock.release()
