"""The FastAPI application factory: routes, the outbox dispatcher and the ticking scheduler.

APScheduler only ticks (DESIGN decision 5): every due thing lives in the database, and
the jobs here wake the worker to claim it, so several workers are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from bot.channels.base import Channel, ChannelFactory
from bot.channels.registry import CHANNELS
from bot.config import Settings
from bot.services import Services, build_services
from bot.sessions import purge_expired
from intake.web import STATIC_DIR as CADRE_STATIC
from intake.web import WebDeps, cadre_router
from intake.web.deps import OpenAttachment
from intake.web.security import SecurityHeaders
from notifications.digest import post_notice
from notifications.dispatcher import Dispatcher
from notifications.jobs import JOBS, Job, JobContext, install

SESSION_GRACE = timedelta(days=30)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be injected (tests pass a fake clock and seeded ids)."""
    settings = settings or Settings()
    services = services or build_services(settings)
    channels = build_channels(settings, services)
    dispatcher = dispatcher_for(services, channels)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        scheduler = AsyncIOScheduler()
        _schedule(scheduler, services, dispatcher)
        scheduler.start()
        await run_in_threadpool(dispatcher.recover)
        task = asyncio.create_task(dispatcher.run_forever(stop))
        for channel in channels:
            await channel.start()
        try:
            yield
        finally:
            for channel in channels:
                await channel.stop()
            stop.set()
            scheduler.shutdown(wait=False)
            await task
            for channel in channels:
                await channel.close()
            services.db.dispose()

    # FastAPI's API pages list every route and its parameters: they help nobody on a
    # public address but someone probing it, so they are served only on request.
    docs = settings.api_docs
    app = FastAPI(
        title="fanpin-hotline",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(SecurityHeaders, prefix="/cadre")
    app.state.services = services
    app.state.dispatcher = dispatcher
    app.state.channels = {channel.name: channel for channel in channels}
    for channel in channels:
        routes = channel.router()
        if routes is not None:
            app.include_router(routes)
    app.include_router(cadre_router(cadre_deps(services, channels)))
    app.mount("/cadre/static", StaticFiles(directory=CADRE_STATIC), name="cadre-static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """Someone opening the service's address wants the cadre pages."""
        return RedirectResponse("/cadre/", status_code=303)

    @app.get("/healthz", tags=["ops"])
    def health() -> dict[str, Any]:
        with services.db.read() as db:
            db.connection()
        return {"ok": True, "regions": sorted(services.policies)}

    return app


def build_channels(
    settings: Settings,
    services: Services,
    factories: Sequence[ChannelFactory] = CHANNELS,
) -> list[Channel[Any]]:
    """The configured channels, in the registry's order."""
    built = (factory(settings, services) for factory in factories)
    return [channel for channel in built if channel is not None]


def dispatcher_for(services: Services, channels: Sequence[Channel[Any]]) -> Dispatcher:
    """The outbox dispatcher with every channel's sender, limits and group rule; each
    channel is woken up through it when it queued replies."""
    senders = {c.name: c.sender for c in channels if c.sender is not None}
    dispatcher = Dispatcher(
        services.db,
        senders,
        now=services.clock,
        limits={c.name: c.limits for c in channels},
        is_group={c.name: c.is_group for c in channels},
    )
    for channel in channels:
        channel.wake = dispatcher.wake.set
        channel.offer = dispatcher.offer
    services.conversations.taker = dispatcher
    return dispatcher


def cadre_deps(services: Services, channels: Sequence[Channel[Any]] = ()) -> WebDeps:
    """What the cadre pages need, with applicants' notices going to the outbox and the files
    villagers sent fetched through each channel that keeps them (Telegram, WeChat)."""
    settings = services.settings
    openers: dict[str, OpenAttachment] = {
        channel.name: channel.opener for channel in channels if channel.opener is not None
    }
    return WebDeps(
        db=services.db,
        cipher=services.cipher,
        policies=services.policies,
        calendar=services.calendar,
        clock=services.clock,
        cookie_secret=settings.resolved_secret("cookie_secret"),
        cookie_secure=settings.secure_cookie(),
        post_notice=post_notice,
        attachment_openers=openers,
        bot_username=settings.telegram_bot_username,
    )


def _schedule(scheduler: AsyncIOScheduler, services: Services, dispatcher: Dispatcher) -> None:
    """Ticks only: the jobs table (:data:`notifications.jobs.JOBS`: timers, reminders, the
    ladder, the cadres' digest) plus this process's own housekeeping, installed as one table.

    The housekeeping rows need the bot layer (inbound recovery, sessions), which
    ``notifications`` may not import, so they are added here to the same table.
    """

    def recover_inbound(_ctx: JobContext) -> None:
        services.conversations.recover()

    def recover_outbox(_ctx: JobContext) -> None:
        dispatcher.recover()

    def purge_sessions(_ctx: JobContext) -> None:
        with services.db.write() as db:
            purge_expired(db, now=services.clock(), grace=SESSION_GRACE)

    context = JobContext(
        db=services.db,
        policies=services.policies,
        calendar=services.calendar,
        clock=services.clock,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        cipher=services.cipher,
        base_url=services.settings.public_url,
    )
    housekeeping = (
        Job("inbound.recover", timedelta(seconds=30), recover_inbound),
        Job("outbox.recover", timedelta(seconds=60), recover_outbox),
        Job("sessions.purge", timedelta(hours=1), purge_sessions),
    )
    install(scheduler, context, jobs=(*JOBS, *housekeeping))
