"""One process at a time in an embedded index's directory.

Embedded Chroma keeps its HNSW segments and SQLite in the directory and assumes it is their only
writer: a second process (`serve --role gateway` beside `--role worker` on one data directory)
would overwrite the first's segments. An exclusive `flock` on a file in the directory makes the
second process fail at once, with a message that says what to do. Within one process the lock is
shared (Chroma shares one client per path there), counted, and released with its last holder.
The kernel drops it when the process dies, so a crash never leaves the directory locked.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import IO

__all__ = ["DirectoryInUse", "DirectoryLock"]

LOCK_NAME = ".ragstack.lock"

_held: dict[Path, tuple[IO[str], int]] = {}
_guard = threading.Lock()


class DirectoryInUse(Exception):
    """Another process holds the directory; `holder` is its pid when known."""

    def __init__(self, directory: Path, holder: str) -> None:
        super().__init__(f"{directory} is in use by another process ({holder})")
        self.directory = directory
        self.holder = holder


class DirectoryLock:
    """This process's hold on `directory` (created if missing); release it once."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory.resolve()
        self._released = False
        with _guard:
            file, count = _held.get(self.directory, (None, 0))
            if file is None:
                file = _lock(self.directory)
            _held[self.directory] = (file, count + 1)

    def release(self) -> None:
        """Give up this hold; the lock goes with the process's last one. Idempotent."""
        if self._released:
            return
        self._released = True
        with _guard:
            file, count = _held[self.directory]
            if count > 1:
                _held[self.directory] = (file, count - 1)
                return
            del _held[self.directory]
            file.close()  # closing the descriptor drops the flock


def _lock(directory: Path) -> IO[str]:
    path = directory / LOCK_NAME
    file = open(path, "a+")  # noqa: SIM115 - held open while the lock is
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip()
        file.close()
        raise DirectoryInUse(directory, f"pid {holder}" if holder else "pid unknown") from None
    file.seek(0)
    file.truncate()
    file.write(str(os.getpid()))
    file.flush()
    return file
