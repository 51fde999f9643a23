"""The parts of ``bench/telegram_webhook.py`` besides the load: the fake Bot API in its own
process (with a way to wait for a chat's next reply), process figures, and the counts that
show this service kept its guarantees under the load.

Run as a script it is the fake's process: it prints the fake's address as one JSON line
and serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.telegram_api import FakeTelegram
from processes import free_port, wait_ready
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SECRET = "bench-telegram-secret_0123456789"
#: Not a token: requests to ``/botwatch/...`` are the load generator's, never recorded.
WATCH = "watch"
UNSETTLED = ("pending", "claimed", "sending")


class WatchedFake(FakeTelegram):
    """The fake Bot API, plus ``GET /botwatch/wait?chat=&after=&timeout=``: a long poll that
    answers once the chat has a complete reply after its ``after``-th message (up to and
    including the first message with buttons: every reply of both bots ends with one),
    and ``GET /botwatch/summary``: successful calls per chat and method."""

    def __init__(self) -> None:
        super().__init__(strict_entities=False)
        self._sends: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self._ok: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._failed = 0
        self._indexed = 0
        self._arrived: dict[int, asyncio.Event] = {}

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] == WATCH:
            return await self._watch(request)
        response = await super()._api(request)
        self._index()
        return response

    def _index(self) -> None:
        """Take the calls recorded since last time into the per-chat lists; wake waiters."""
        with self._lock:
            new = self._calls[self._indexed :]
            self._indexed += len(new)
        for call in new:
            chat = call.chat_id if isinstance(call.chat_id, int) else 0
            if not call.ok:
                self._failed += 1
                continue
            self._ok[chat][call.method] += 1
            if call.method == "sendMessage":
                self._sends[chat].append({"at": call.at, "message": call.result})
                event = self._arrived.pop(chat, None)
                if event is not None:
                    event.set()

    async def _watch(self, request: Request) -> Response:
        if request.path_params["method"] == "summary":
            body = {"ok": {str(c): dict(m) for c, m in self._ok.items()}, "failed": self._failed}
            return JSONResponse(body)
        chat, after = int(request.query_params["chat"]), int(request.query_params["after"])
        deadline = time.monotonic() + float(request.query_params.get("timeout", 30))
        while True:
            fresh = self._sends[chat][after:]
            done = [i for i, s in enumerate(fresh) if s["message"].get("reply_markup")]
            if done:
                return JSONResponse(fresh[: done[0] + 1])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return JSONResponse([])
            event = self._arrived.setdefault(chat, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


def serve_fake() -> None:
    """The fake's process: print its address, serve until stdin closes."""
    with WatchedFake() as tg:
        hello = {"token": tg.token, "base_url": tg.base_url, "file_url": tg.base_file_url,
                 "watch_url": f"http://127.0.0.1:{tg.port}/bot{WATCH}/wait"}  # fmt: skip
        print(json.dumps(hello), flush=True)
        sys.stdin.read()


class FakeProcess:
    """The fake Bot API in a child process, so it never competes with the load for a GIL."""

    def __enter__(self) -> FakeProcess:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.token, self.base_url, self.file_url = (
            hello["token"],
            hello["base_url"],
            hello["file_url"],
        )
        self.watch_url: str = hello["watch_url"]
        return self

    def summary(self) -> dict[str, Any]:
        """Successful calls per chat and method, and how many calls failed."""
        response = httpx.get(self.watch_url.replace("/wait", "/summary"), timeout=30)
        return dict(response.json())

    def cpu(self) -> float:
        return proc_cpu(self.process.pid)

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


# ----------------------------------------------------------------- processes


def proc_cpu(pid: int) -> float:
    """User plus system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------- the systems under test

Servers = list[subprocess.Popen[bytes]]


@contextmanager
def our_service(
    fake: FakeProcess, work: Path, database_url: str | None, processes: int, paced: bool
) -> Iterator[tuple[Servers, list[str], str]]:
    """``hotline serve`` x ``processes`` pointed at the fake; yields (servers, webhooks, db)."""
    from bot.services import upgrade

    url = database_url or f"sqlite:///{work / 'var' / 'hotline.db'}"
    (work / "var").mkdir(parents=True, exist_ok=True)
    upgrade(url)  # once, before the servers start, so two processes never race to migrate
    env = {
        **os.environ, "HOTLINE_DATA_DIR": str(work / "var"), "HOTLINE_DATABASE_URL": url,
        "HOTLINE_LOG_LEVEL": "WARNING", "HOTLINE_TELEGRAM_TOKEN": fake.token,
        "HOTLINE_TELEGRAM_API_URL": fake.base_url, "HOTLINE_TELEGRAM_FILE_URL": fake.file_url,
        "HOTLINE_TELEGRAM_SECRET_TOKEN": SECRET, "HOTLINE_SECRET_KEY": "bench-" + "k" * 40,
    }  # fmt: skip
    if not paced:
        env["HOTLINE_TELEGRAM_MESSAGES_PER_SECOND"] = "100000"
        env["HOTLINE_TELEGRAM_PER_CHAT_INTERVAL"] = "0"
    servers, hooks = [], []
    try:
        for _ in range(processes):
            port = free_port()
            command = [str(ROOT / ".venv/bin/hotline"), "serve", "--port", str(port)]
            servers.append(subprocess.Popen(command, env=env, cwd=work))
            wait_ready(f"http://127.0.0.1:{port}/healthz")
            hooks.append(f"http://127.0.0.1:{port}/channels/telegram")
        yield servers, hooks, url
    finally:
        stop(servers)


@contextmanager
def stock_bot(fake: FakeProcess) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The stock PTB bot in its own process; yields (server, webhook)."""
    port = free_port()
    command = [
        sys.executable, str(ROOT / "bench" / "stock_ptb_bot.py"), "--port", str(port),
        "--token", fake.token, "--api-url", fake.base_url, "--file-url", fake.file_url,
        "--secret", SECRET,
    ]  # fmt: skip
    server = subprocess.Popen(command)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        yield server, f"http://127.0.0.1:{port}/telegram"
    finally:
        stop([server])


def stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=30)


@contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """A fresh schema on ``server`` for one run, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """``py-spy record`` on ``pid`` while the block runs (without pausing it); no-op if None."""
    if output is None:
        yield
        return
    command = [str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(pid), "--format", "raw",
               "--output", str(output), "--rate", "200", "--nonblocking"]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
        spy.wait(timeout=60)


def top_frames(collapsed: Path, count: int = 15) -> list[tuple[float, str]]:
    """The frames where the samples were taken (own time), as shares of all samples."""
    own: dict[str, int] = defaultdict(int)
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            own[stack.rsplit(";", 1)[-1]] += int(samples)
    total = sum(own.values()) or 1
    ranked = sorted(own.items(), key=lambda item: -item[1])[:count]
    return [(100 * n / total, frame) for frame, n in ranked]


# ----------------------------------------------------------------- our guarantees


@dataclass
class Guarantees:
    """Counts after the load, for this service: what a 2xx promised, and what was sent."""

    steps: int  # updates answered 200 with their reply seen at the fake
    inbound: dict[str, int] = field(default_factory=dict)  # inbound rows by status
    outbox: dict[str, int] = field(default_factory=dict)  # outbox rows by status
    sends_seen: int = 0  # sendMessage calls the villagers waited for
    sends_at_fake: int = 0  # successful sendMessage calls the fake recorded to our chats
    calls_at_fake: int = 0  # successful sendMessage + editMessageText to our chats
    redelivery_status: int = 0
    redelivery_changed: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        """Every step stored and answered once, each outbox row sent once, redelivery idle."""
        return (
            self.inbound == {"processed": self.steps}
            and self.sends_seen == self.sends_at_fake
            and set(self.outbox) == {"sent"}
            and self.outbox["sent"] == self.calls_at_fake
            and self.redelivery_status == 200
            and not self.redelivery_changed
        )

    def line(self) -> str:
        return (
            f"{self.steps} steps, inbound rows {self.inbound}, replies seen {self.sends_seen} "
            f"= sent {self.sends_at_fake}, outbox {self.outbox} vs {self.calls_at_fake} calls, "
            f"redelivery {self.redelivery_status} changed {self.redelivery_changed or 'nothing'}"
            f": {'kept' if self.ok() else 'BROKEN'}"
        )


def db_counts(url: str, table: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT status, count(*) FROM {table} GROUP BY status"))  # noqa: S608 - our table names
            return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def settle(url: str, timeout: float = 60) -> None:
    """Wait until no outbox row is waiting or being sent (polled, with a bound)."""
    deadline = time.monotonic() + timeout
    while any(s in UNSETTLED for s in db_counts(url, "outbox_message")):
        if time.monotonic() > deadline:
            raise TimeoutError("the outbox did not settle")
        time.sleep(0.05)


def our_calls(summary: dict[str, Any], chats: set[int], methods: tuple[str, ...]) -> int:
    return sum(n for c, m in summary["ok"].items() if int(c) in chats
               for name, n in m.items() if name in methods)  # fmt: skip


def ours_guarantees(
    replies: dict[int, list[int]], sample: dict[str, Any] | None, hook: str, url: str,
    fake: FakeProcess,
) -> Guarantees:  # fmt: skip
    """Count what the load left behind, then redeliver ``sample`` and count again."""
    settle(url)
    chats = set(replies)
    summary = fake.summary()
    found = Guarantees(
        steps=sum(len(counts) for counts in replies.values()),
        inbound=db_counts(url, "inbound_message"),
        outbox=db_counts(url, "outbox_message"),
        sends_seen=sum(sum(counts) for counts in replies.values()),
        sends_at_fake=our_calls(summary, chats, ("sendMessage",)),
        calls_at_fake=our_calls(summary, chats, ("sendMessage", "editMessageText")),
    )
    if sample is None:
        found.redelivery_changed.append("no update to redeliver")
        return found
    messages = ("sendMessage", "editMessageText")  # a second spinner answer is no message
    before = (found.inbound, found.outbox, found.calls_at_fake)
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    found.redelivery_status = httpx.post(hook, json=sample, headers=headers, timeout=30).status_code
    settle(url)
    after = (
        db_counts(url, "inbound_message"),
        db_counts(url, "outbox_message"),
        our_calls(fake.summary(), chats, messages),
    )
    names = ("inbound rows", "outbox rows", "messages sent or edited")
    for name, old, new in zip(names, before, after, strict=True):
        if old != new:
            found.redelivery_changed.append(name)
    return found


if __name__ == "__main__":
    serve_fake()
