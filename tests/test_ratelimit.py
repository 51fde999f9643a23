"""The pacer on a fake clock: no window ever over the limit, even slots, bursts, pauses."""

from __future__ import annotations

import asyncio
import itertools

from notifications.ratelimit import Limits, Pacer


class Time:
    """A clock that only moves when the pacer sleeps; sleeping yields, as a real sleep does."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.now += seconds


def pacer(limits: Limits, time: Time, groups: bool = False) -> Pacer:
    return Pacer(limits, clock=time, sleep=time.sleep, is_group=lambda r: groups and r[0] == "-")


async def sends(p: Pacer, time: Time, recipients: list[str]) -> list[float]:
    times = []
    for recipient in recipients:
        await p.acquire(recipient)
        times.append(time.now)
    return times


def most_in_window(times: list[float], width: float) -> int:
    return max(sum(1 for u in times if t <= u < t + width) for t in times)


async def test_never_more_than_the_limit_in_any_second_and_evenly_spread() -> None:
    time = Time()
    limits = Limits(per_second=30)
    times = await sends(pacer(limits, time), time, [str(n) for n in range(300)])
    assert most_in_window(times, 1.0 + limits.margin) <= 30
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert gaps == {round(limits.spacing, 6)}
    assert 300 / (times[-1] - times[0] + limits.spacing) > 0.95 * 30 * 0.999


async def test_a_late_sender_catches_up_a_little_but_never_breaks_the_window() -> None:
    time = Time()
    limits = Limits(per_second=10)
    p = pacer(limits, time)
    times = await sends(p, time, ["a", "b"])
    time.now += 0.5  # the event loop was busy
    times += await sends(p, time, [str(n) for n in range(40)])
    assert most_in_window(times, 1.0 + limits.margin) <= 10
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0


async def test_one_chat_gets_a_short_burst_then_one_a_second() -> None:
    time = Time()
    limits = Limits(per_second=30, per_recipient_interval=1.0, per_recipient_burst=3)
    times = await sends(pacer(limits, time), time, ["v"] * 7)
    assert times[2] - times[0] < 0.2
    assert most_in_window(times, 3.0) <= 3
    assert times[3] - times[0] >= 3.0


async def test_groups_get_twenty_a_minute() -> None:
    time = Time()
    times = await sends(pacer(Limits(), time, groups=True), time, ["-100"] * 25)
    assert most_in_window(times, 60.0) <= 20


async def test_a_pause_holds_every_send() -> None:
    time = Time()
    p = pacer(Limits(), time)
    await p.acquire("a")
    p.pause(5)
    await p.acquire("b")
    assert time.now >= 105.0


async def test_a_slow_chat_does_not_hold_up_the_others() -> None:
    time = Time()
    limits = Limits(per_second=30, per_recipient_burst=1)
    p = pacer(limits, time)
    await p.acquire("slow")
    order: list[str] = []

    async def send(recipient: str) -> None:
        await p.acquire(recipient)
        order.append(recipient)

    await asyncio.gather(send("slow"), send("fast"))
    assert order == ["fast", "slow"]
