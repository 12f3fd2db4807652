"""A throw-away PostgreSQL server on 127.0.0.1 for tests and benchmarks (Debian's postgresql package).

``PgServer(dir).start()`` runs ``initdb`` and ``pg_ctl start`` on a free port with trust authentication
for the ``liqmap`` role; ``.database(name)`` creates a fresh database and returns its URL. As root (CI runs
as root) the server runs as the ``postgres`` system user, which PostgreSQL requires. ``LIQMAP_TEST_PG``
(a ``postgresql://`` URL of an existing server whose role may create databases) replaces all of this.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.port = 0
        self.base_url = os.environ.get("LIQMAP_TEST_PG", "")
        self._as_user: list[str] = []

    @property
    def available(self) -> bool:
        return bool(self.base_url) or (find_bin("initdb") is not None and find_bin("pg_ctl") is not None)

    def start(self) -> PgServer:
        if self.base_url:
            return self
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        if os.geteuid() == 0:
            # The server must run as an unprivileged user, which cannot enter root's private temp folders
            # (pytest's are 0700): give it a folder of its own under the system temp dir.
            self.root = Path(tempfile.mkdtemp(prefix="liqmap-pg-"))
            self.data, self.sockets = self.root / "data", self.root / "sock"
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self._run([initdb, "-D", str(self.data), "-U", "liqmap", "--auth=trust", "-E", "UTF8", "--no-sync"])
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200 -c shared_buffers=128MB")
        self._run([pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "60",
                   "start"])
        self.base_url = f"postgresql://liqmap@127.0.0.1:{self.port}/postgres"
        return self

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = find_bin("pg_ctl")
        if self.port and pg_ctl is not None and self.data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run([pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def remove(self) -> None:
        """Stop the server and delete its files."""
        self.stop("immediate")
        if self.port:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port and data (a server that goes away and comes back)."""
        pg_ctl = find_bin("pg_ctl")
        assert pg_ctl is not None
        self.stop()
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        self._run([pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"])

    def database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.base_url.rsplit("/", 1)[0] + f"/{name}"

    def _run(self, command: list[str]) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd="/")
