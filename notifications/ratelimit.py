"""Send-rate limits: a global pace and a per-recipient spacing, on an injectable clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Telegram's published limits by default: ~30 messages/s overall, 1/s per chat."""

    per_second: float = 30.0
    per_recipient_interval: float = 1.0


class Pacer:
    """Hands out send slots so that neither limit is ever exceeded.

    Slots are reserved, not polled: each caller is told exactly when it may send, so a
    burst never produces a 429 and concurrent senders never exceed the global rate.
    """

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._next_global = 0.0
        self._next_for: dict[str, float] = {}
        self._paused_until = 0.0

    def reserve(self, recipient: str) -> float:
        """Reserve the earliest slot for ``recipient``; returns its time on the clock."""
        now = self._clock()
        start = max(now, self._next_global, self._paused_until, self._next_for.get(recipient, 0.0))
        self._next_global = start + 1.0 / self.limits.per_second
        self._next_for[recipient] = start + self.limits.per_recipient_interval
        if len(self._next_for) > 50_000:
            self._forget_before(now)
        return start

    async def wait_for_slot(self, recipient: str) -> None:
        """Sleep until a slot for ``recipient`` is due."""
        delay = self.reserve(recipient) - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (a channel-wide 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._next_global = max(self._next_global, self._paused_until)

    def recipient_free_at(self, recipient: str) -> float:
        """When ``recipient`` may next receive (clock time)."""
        return self._next_for.get(recipient, 0.0)

    def _forget_before(self, now: float) -> None:
        self._next_for = {k: v for k, v in self._next_for.items() if v > now}
