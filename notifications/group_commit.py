"""Group commit: writes asked for while one is running go together in the next.

The dispatcher marks rows ``sending`` and records what the channel answered one row at a
time as far as its loop is concerned, but many rows are in flight at once; writing each in
its own transaction makes the database's single writer (SQLite) or the commit round trips
(PostgreSQL) the bottleneck. A :class:`GroupCommit` takes each request on the event loop
and runs the requests that arrived meanwhile as one call of ``write`` in a worker thread,
one transaction: an idle system writes at once, a busy one writes in batches, and every
caller still waits for its own row's commit before it goes on.

A batch the database aborted to break a deadlock (PostgreSQL picks a victim when the
heartbeat and a batch lock rows in different orders) committed nothing and is written
again, up to :data:`ATTEMPTS` times, when ``retry_if`` says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

#: Tries of one batch that keeps losing deadlocks before its callers get the error.
ATTEMPTS = 4
Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """``await submit(item)`` returns ``write([..., item, ...])``'s result for ``item``.

    ``write`` gets the items in arrival order and returns one result per item, in that
    order; it runs in a thread, one call at a time. If it raises, every caller of that
    batch gets the error.
    """

    def __init__(
        self,
        write: Callable[[list[Item]], Sequence[Result]],
        limit: int = 200,
        retry_if: Callable[[BaseException], bool] = lambda _error: False,
    ):
        self.write = write
        self.limit = limit
        self.retry_if = retry_if
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: How many batches were written, and how many items they held (for benchmarks).
        self.batches = 0
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait for the commit of the batch it went in."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # an error nobody waits for any more is no warning
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await asyncio.shield(future)  # a cancelled caller does not undo the batch

    async def _write_all(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
                try:
                    results = await self._write_batch([item for item, _ in batch])
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self.batches += 1
                self.items += len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writer = None

    async def _write_batch(self, items: list[Item]) -> Sequence[Result]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await asyncio.to_thread(self.write, items)
            except Exception as error:
                if attempt == ATTEMPTS or not self.retry_if(error):
                    raise
        raise AssertionError("unreachable")


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
