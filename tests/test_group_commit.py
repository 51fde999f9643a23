"""Group commit: requests that arrive while a write runs go together in the next one."""

from __future__ import annotations

import asyncio
import threading

import pytest

from notifications.group_commit import ATTEMPTS, GroupCommit


async def test_requests_arriving_during_a_write_share_the_next_one() -> None:
    calls: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            first_started.set()
            release.wait(5)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    first = asyncio.create_task(group.submit(1))
    await asyncio.to_thread(first_started.wait, 5)
    later = [asyncio.create_task(group.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40], "each caller gets its own result"
    assert calls == [[1], [2, 3, 4]]
    assert (group.batches, group.items) == (2, 4)


async def test_a_failed_write_fails_every_caller_of_its_batch_and_the_next_one_runs() -> None:
    def write(items: list[str]) -> list[str]:
        if "bad" in items:
            raise RuntimeError("database away")
        return items

    group: GroupCommit[str, str] = GroupCommit(write)
    both = [asyncio.create_task(group.submit(x)) for x in ("ok", "bad")]
    results = await asyncio.gather(*both, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await group.submit("after") == "after"


async def test_a_batch_never_exceeds_its_limit() -> None:
    sizes: list[int] = []

    def write(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    group: GroupCommit[int, int] = GroupCommit(write, limit=3)
    assert await asyncio.gather(*(group.submit(n) for n in range(7))) == list(range(7))
    assert max(sizes) <= 3 and sum(sizes) == 7


async def test_a_cancelled_caller_does_not_undo_the_write() -> None:
    written: list[int] = []
    gate = threading.Event()

    def write(items: list[int]) -> list[int]:
        gate.wait(5)
        written.extend(items)
        return items

    group: GroupCommit[int, int] = GroupCommit(write)
    caller = asyncio.create_task(group.submit(7))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    assert await group.submit(8) == 8
    assert written == [7, 8]


async def test_a_batch_that_lost_a_deadlock_is_written_again() -> None:
    tries: list[list[str]] = []

    def write(items: list[str]) -> list[str]:
        tries.append(items)
        if len(tries) < 3:
            raise RuntimeError("deadlock detected")
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(write, retry_if=lambda e: "deadlock" in str(e))
    assert await group.submit("a") == "A"
    assert tries == [["a"], ["a"], ["a"]]


async def test_a_batch_that_keeps_losing_gives_up_and_other_errors_are_not_retried() -> None:
    tries = 0

    def write(items: list[str]) -> list[str]:
        nonlocal tries
        tries += 1
        raise RuntimeError("deadlock detected" if items == ["loser"] else "our bug")

    group: GroupCommit[str, str] = GroupCommit(write, retry_if=lambda e: "deadlock" in str(e))
    with pytest.raises(RuntimeError, match="deadlock"):
        await group.submit("loser")
    assert tries == ATTEMPTS
    with pytest.raises(RuntimeError, match="our bug"):
        await group.submit("bug")
    assert tries == ATTEMPTS + 1
