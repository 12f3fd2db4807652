"""A server holding an embedded store file says so beside it (``<file>.server.json``, owner-only).

Read commands use it to read through the server (:mod:`liqmap.store.remote`); a writer that finds the file
held uses it to say which server holds it and where.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def announce_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.server.json")


@contextlib.contextmanager
def announced(db_path: str | Path, url: str) -> Iterator[str]:
    """Announce a server beside its store file for as long as the block runs; yields the reader key."""
    key = secrets.token_urlsafe(24)
    path = announce_path(db_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "pid": os.getpid(), "key": key}, out)
    try:
        yield key
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_announcement(db_path: str | Path) -> dict[str, Any] | None:
    """The live server announced beside ``db_path``, or None (no file, unreadable, or its process is gone)."""
    try:
        info = json.loads(announce_path(db_path).read_text())
        pid = int(info["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None
