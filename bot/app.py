"""The FastAPI application factory: routes, the outbox dispatcher and the ticking scheduler.

APScheduler only ticks (DESIGN decision 5): every due thing lives in the database, and
the jobs here wake the worker to claim it, so several workers are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from bot.channels import telegram as telegram_channel
from bot.channels import webhook
from bot.config import Settings
from bot.services import Services, build_services
from bot.sessions import purge_expired
from intake.attachments import Attachment
from intake.web import STATIC_DIR as CADRE_STATIC
from intake.web import WebDeps, cadre_router
from intake.web.deps import OpenAttachment
from intake.web.security import SecurityHeaders
from notifications.digest import post_notice, send_digests
from notifications.dispatcher import Dispatcher
from notifications.sender import Sender

SESSION_GRACE = timedelta(days=30)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be injected (tests pass a fake clock and seeded ids)."""
    settings = settings or Settings()
    services = services or build_services(settings)
    telegram = _telegram(settings, services)
    dispatcher = Dispatcher(
        services.db,
        _senders(services, telegram),
        now=services.clock,
        limits={telegram_channel.CHANNEL: telegram_channel.limits_from(settings)},
        is_group={telegram_channel.CHANNEL: telegram_channel.is_group_chat},
    )
    if telegram is not None:
        telegram.wake = dispatcher.wake.set

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        scheduler = AsyncIOScheduler()
        _schedule(scheduler, services, dispatcher)
        scheduler.start()
        await run_in_threadpool(dispatcher.recover)
        task = asyncio.create_task(dispatcher.run_forever(stop))
        if telegram is not None:
            await telegram.start(polling=settings.telegram_polling)
        try:
            yield
        finally:
            if telegram is not None:
                await telegram.stop()
            stop.set()
            scheduler.shutdown(wait=False)
            await task
            if telegram is not None:
                await telegram.close()
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
    app.state.telegram = telegram
    if telegram is not None:
        app.include_router(telegram.router())
    app.include_router(
        webhook.router(
            services.conversations,
            secret=settings.resolved_secret("webhook_secret"),
            max_body_bytes=settings.webhook_max_body_bytes,
        )
    )
    app.include_router(cadre_router(cadre_deps(services, telegram)))
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


def cadre_deps(
    services: Services, telegram: telegram_channel.TelegramChannel | None = None
) -> WebDeps:
    """What the cadre pages need, with applicants' notices going to the outbox and, with a
    Telegram bot, the files villagers sent it fetched through the Bot API (getFile)."""
    settings = services.settings
    openers: dict[str, OpenAttachment] = {}
    if telegram is not None:
        bot = telegram.bot

        async def open_telegram_file(attachment: Attachment) -> tuple[bytes, str | None]:
            found = await bot.get_file(attachment.file_id)
            return bytes(await found.download_as_bytearray()), attachment.mime

        openers[telegram_channel.CHANNEL] = open_telegram_file
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
    )


def _telegram(settings: Settings, services: Services) -> telegram_channel.TelegramChannel | None:
    """The Telegram channel when a bot token is configured."""
    if not settings.telegram_token:
        return None
    return telegram_channel.TelegramChannel.from_settings(settings, services.conversations)


def _senders(
    services: Services, telegram: telegram_channel.TelegramChannel | None = None
) -> dict[str, Sender]:
    settings = services.settings
    senders: dict[str, Sender] = {}
    if telegram is not None:
        senders[telegram_channel.CHANNEL] = telegram.sender
    if settings.webhook_callback_url:
        senders[webhook.CHANNEL] = webhook.WebhookSender(
            settings.webhook_callback_url, settings.resolved_secret("webhook_secret")
        )
    return senders


def _schedule(scheduler: AsyncIOScheduler, services: Services, dispatcher: Dispatcher) -> None:
    """Ticks only: recovery of unprocessed messages, abandoned sends, old sessions."""

    async def recover_inbound() -> None:
        await run_in_threadpool(services.conversations.recover)

    async def recover_outbox() -> None:
        await run_in_threadpool(dispatcher.recover)

    def purge_sessions() -> None:
        with services.db.write() as db:
            purge_expired(db, now=services.clock(), grace=SESSION_GRACE)

    scheduler.add_job(
        recover_inbound,
        "interval",
        seconds=30,
        id="recover-inbound",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        recover_outbox, "interval", seconds=60, id="recover-outbox", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        purge_sessions, "interval", hours=1, id="purge-sessions", max_instances=1, coalesce=True
    )

    def cadre_digests() -> None:
        send_digests(
            services.db,
            calendar=services.calendar,
            policies=services.policies,
            now=services.clock(),
            base_url=services.settings.public_url,
        )

    scheduler.add_job(
        cadre_digests, "interval", minutes=10, id="cadre-digest", max_instances=1, coalesce=True
    )
