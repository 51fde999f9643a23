"""Taking the test database away for real, and bringing it back.

* **PostgreSQL**: the service reaches the server through a TCP relay on 127.0.0.1
  (:class:`Relay`). ``down()`` cuts every relayed connection and hangs up on new ones, as a
  server restart or a network cut does; ``up()`` lets connections through again;
  ``refuse(n)`` hangs up on the next ``n`` connections only (a flapping network).
* **SQLite**: ``down()`` closes the pooled connections and moves the database file aside,
  leaving a directory in its place, so opening it fails as with a lost or unmounted disk;
  ``up()`` puts the file back.

Use :func:`outage_for` before building services: on PostgreSQL the settings it returns
point at the relay.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import Settings
from intake.db import Database


class Relay:
    """A TCP relay to ``host:port`` that can cut its connections on demand."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._refusing: int | None = 0  # None: refuse every connection
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        """Cut every open connection and hang up on every new one."""
        with self._lock:
            self._refusing = None
        self._cut()

    def refuse(self, count: int) -> None:
        """Cut every open connection and hang up on the next ``count`` new ones."""
        with self._lock:
            self._refusing = count
        self._cut()

    def up(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._refusing = 0

    def close(self) -> None:
        """Stop listening and cut everything."""
        self.listener.close()
        self._cut()

    def _cut(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _hang_up(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._take_refusal():
                _hang_up(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hang_up(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def _take_refusal(self) -> bool:
        with self._lock:
            if self._refusing is None:
                return True
            if self._refusing > 0:
                self._refusing -= 1
                return True
            return False


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    _hang_up(source)
    _hang_up(sink)


def _hang_up(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Outage:
    """The database of one test, taken away and given back."""

    def __init__(self, url: str, relay: Relay | None) -> None:
        self.relay = relay
        database = make_url(url).database
        self.path = Path(database) if relay is None and database else None

    def down(self, db: Database) -> None:
        """The database is gone: every new connection (and for PostgreSQL, every open one)
        fails."""
        if self.relay is not None:
            self.relay.down()
            return
        assert self.path is not None
        db.dispose()  # an open connection would keep using the moved file
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.rename(f"{part}.away")
        self.path.mkdir()

    def up(self, db: Database) -> None:
        """The database is back."""
        if self.relay is not None:
            self.relay.up()
            return
        assert self.path is not None
        db.dispose()
        self.path.rmdir()
        for suffix in ("", "-wal", "-shm"):
            away = Path(f"{self.path}{suffix}.away")
            if away.exists():
                away.rename(f"{self.path}{suffix}")


@contextmanager
def outage_for(settings: Settings) -> Iterator[tuple[Settings, Outage]]:
    """``settings`` as they must be for an outage to be staged, and the outage."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        yield settings, Outage(settings.database_url, None)
        return
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    try:
        yield settings.model_copy(update={"database_url": relayed}), Outage(relayed, relay)
    finally:
        relay.close()


def is_sqlite(settings: Settings) -> bool:
    """Whether ``settings`` use SQLite (some outages can only be staged on PostgreSQL)."""
    return make_url(settings.database_url).get_backend_name() == "sqlite"
