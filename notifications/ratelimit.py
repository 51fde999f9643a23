"""Send-rate limits: an overall pace and a per-recipient window, on an injectable clock.

Telegram allows about 30 messages per second overall and about one per second in a chat
("short bursts" tolerated), 20 a minute in a group. It counts the requests it *receives*;
we can only time the requests we *send*, and the two differ by the network's jitter. So
each limit is kept over a window a little wider than Telegram's (``margin``): no more than
``per_second`` sends ever start within ``1 + margin`` seconds, which holds Telegram's
1-second count below the limit as long as the jitter stays under ``margin``.

The sends are also spread evenly, one slot every ``(1 + margin) / per_second`` seconds, so
a message that arrives now waits a fraction of a second, never a whole burst. A send that
went out late (a busy event loop, a slow database write) may be followed by the next one
sooner, catching up at most :data:`CATCH_UP` slots; the window above still holds, since it
counts the times sends actually went. A channel that was idle (no send for over a second)
has nothing to catch up: its first send starts an even stream again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: How many slots a late sender may make up for.
CATCH_UP = 2
#: A channel with no send for this long was idle, not late: nothing to make up.
IDLE_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """Telegram's published limits by default.

    ``per_recipient_burst`` messages may go to one recipient back to back, then one per
    ``per_recipient_interval`` seconds (a villager's answer is often two short messages).
    Groups get ``per_group_per_minute``. ``margin`` widens every window (see the module).
    """

    per_second: float = 30.0
    per_recipient_interval: float = 1.0
    per_recipient_burst: int = 3
    per_group_per_minute: int = 20
    margin: float = 0.05

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.per_recipient_interval < 0:
            raise ValueError("rates must be positive")
        if self.per_recipient_burst < 1 or self.per_group_per_minute < 1:
            raise ValueError("bursts must be at least 1")

    @property
    def spacing(self) -> float:
        """The shortest gap between two sends on the channel."""
        return (1.0 + self.margin) / self.per_second


class _Window:
    """The last ``size`` event times; an event fits when the oldest left ``width`` ago."""

    __slots__ = ("times", "width")

    def __init__(self, size: int, width: float) -> None:
        self.times: deque[float] = deque(maxlen=size)
        self.width = width

    def free_at(self) -> float:
        if len(self.times) < (self.times.maxlen or 0):
            return 0.0
        return self.times[0] + self.width

    def add(self, at: float) -> None:
        self.times.append(at)


class Pacer:
    """Tells each send when it may go so that no limit is ever exceeded.

    :meth:`acquire` waits for the recipient's window outside the lock (one slow chat never
    holds up the others), then for the channel's next slot under the lock (slots are handed
    out one at a time, in the order asked).
    """

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        is_group: Callable[[str], bool] = lambda _recipient: False,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._is_group = is_group
        self._global = _Window(max(1, int(limits.per_second)), 1.0 + limits.margin)
        self._next_slot = float("-inf")
        self._paused_until = 0.0
        self._recipients: dict[str, _Window] = {}
        self._lock = asyncio.Lock()

    def ready_at(self, recipient: str) -> float:
        """When ``recipient`` may next receive (clock time; in the past when free now)."""
        window = self._recipients.get(recipient)
        return window.free_at() if window is not None else 0.0

    def channel_ready_at(self) -> float:
        """When the channel's next send may start."""
        return max(self._global.free_at(), self._next_slot, self._paused_until)

    async def acquire(self, recipient: str) -> None:
        """Wait until a send to ``recipient`` is allowed, and count it."""
        while True:
            wait = self.ready_at(recipient) - self._clock()
            if wait > 0:
                await self._sleep(wait)
                continue
            async with self._lock:
                wait = self.channel_ready_at() - self._clock()
                while wait > 0:
                    await self._sleep(wait)
                    wait = self.channel_ready_at() - self._clock()
                now = self._clock()
                if self.ready_at(recipient) <= now:
                    self._take(recipient, now)
                    return

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (a channel-wide 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _take(self, recipient: str, now: float) -> None:
        self._global.add(now)
        spacing = self.limits.spacing
        late = now - self._next_slot
        if late > IDLE_SECONDS:  # start an even stream
            self._next_slot = now + spacing
        else:
            self._next_slot = max(self._next_slot, now - CATCH_UP * spacing) + spacing
        window = self._recipients.get(recipient)
        if window is None:
            window = self._recipient_window(recipient)
            self._recipients[recipient] = window
        window.add(now)
        if len(self._recipients) > 50_000:
            self._forget(now)

    def _recipient_window(self, recipient: str) -> _Window:
        limits = self.limits
        if self._is_group(recipient):
            return _Window(limits.per_group_per_minute, 60.0 + limits.margin)
        burst = limits.per_recipient_burst
        return _Window(burst, burst * limits.per_recipient_interval + limits.margin)

    def _forget(self, now: float) -> None:
        self._recipients = {k: w for k, w in self._recipients.items() if w.free_at() > now}
