"""The dispatcher through a PostgreSQL outage: rows it had claimed go out once the database
is back, not after a lease.

The outage is real: the dispatcher reaches PostgreSQL through a TCP proxy that the test cuts
(every connection dropped, new ones refused) and restores on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.services import Services
from intake.db import Database
from notifications.dispatcher import Dispatcher
from notifications.outbox import Priority, enqueue
from notifications.ratelimit import Limits
from notifications.sender import Delivered, Outcome


class Proxy:
    """127.0.0.1:<port> → the database server; :meth:`cut` is an outage, :meth:`restore` ends it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()
        await asyncio.gather(*self.tasks, return_exceptions=True)  # every link has ended

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.links.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


class Gate:
    """A channel whose first message is held until the test opens the gate."""

    channel = "test"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.started = asyncio.Event()
        self.opened = asyncio.Event()

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        text = str(payload["text"])
        if text == "first":
            self.started.set()
            await self.opened.wait()
        self.sent.append(text)
        return Delivered()


async def eventually(predicate: Callable[[], object], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def put(services: Services, recipient: str, text: str) -> None:
    with services.db.write() as db:
        enqueue(
            db,
            channel="test",
            recipient=recipient,
            payload={"text": text},
            priority=Priority.INTERACTIVE,
            now=services.clock(),
        )


async def test_rows_claimed_when_the_database_went_away_go_out_once_it_is_back(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    if services.db.is_sqlite:
        pytest.skip("an embedded SQLite file cannot go away; the outage is PostgreSQL's")
    put(services, "a", "first")
    replies = [f"r{n}" for n in range(5)]
    for n, text in enumerate(replies):
        put(services, f"b{n}", text)
    url = make_url(services.db.url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.restore()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database(through, sealer=services.cipher)  # as the service has its key
    sender = Gate()
    dispatcher = Dispatcher(
        db, {"test": sender}, now=services.clock, limits=Limits(per_second=4), lookahead=10
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop, idle_seconds=0.05))
    try:
        await asyncio.wait_for(sender.started.wait(), 15)  # every row is claimed by now
        await proxy.cut()
        sender.opened.set()
        await eventually(lambda: "loop for test failed" in caplog.text)  # it waits to retry
        assert sender.sent == ["first"]
        await proxy.restore()
        await eventually(lambda: len(sender.sent) == 1 + len(replies))  # the clock is still
    finally:
        stop.set()
        await task
        db.dispose()
        await proxy.cut()
    assert sorted(sender.sent[1:]) == replies
