"""What every fake server shares: a Starlette app under uvicorn on 127.0.0.1, in a thread
with its own event loop, started and stopped by the test (``with``, ``async with``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route


class ThreadedFake:
    """Base of the fakes: subclasses give :meth:`routes` and may hook start and stop.

    A subclass sets ``port`` (0 for an ephemeral one) and the four underscore attributes
    below (``None``, ``None``, ``None``, ``False``) in its ``__init__``.
    """

    #: Named in the thread and in the error when the server does not come up.
    name = "fake server"
    #: Seconds uvicorn waits for open requests when stopping (None: as long as they take).
    graceful_shutdown: int | None = None

    port: int
    _thread: threading.Thread | None
    _server: uvicorn.Server | None
    _loop: asyncio.AbstractEventLoop | None
    _closing: bool

    def routes(self) -> list[Route]:
        """The fake's endpoints."""
        raise NotImplementedError

    def on_loop_started(self) -> None:
        """Runs on the server's loop before it serves (e.g. to make loop-bound events)."""

    def on_stopping(self) -> None:
        """Runs before the server is told to exit (release held requests, end long polls)."""

    def start(self, timeout: float = 10.0) -> None:
        """Serve; return once connections are accepted (``RuntimeError`` if not)."""
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        options: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False}
        if self.graceful_shutdown is not None:
            options["timeout_graceful_shutdown"] = self.graceful_shutdown
        app = Starlette(routes=self.routes())
        self._server = server = uvicorn.Server(uvicorn.Config(app, **options))
        self._closing = False
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(server, sock),), name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on 127.0.0.1:{self.port}")
            time.sleep(0.005)

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self.on_loop_started()
        await server.serve(sockets=[sock])

    def stop(self, timeout: float = 10.0) -> None:
        """Let the subclass release what it holds, then shut down."""
        if self._thread is None or self._server is None:
            return
        self._closing = True
        self.on_stopping()
        self._server.should_exit = True
        self._thread.join(timeout)
        self._thread = self._server = self._loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)
