"""``hotline telegram ...`` (the bot's webhook at Telegram) and ``hotline poster``.

    hotline telegram set-webhook https://hotline.example.org/channels/telegram
    hotline telegram info
    hotline telegram delete-webhook
    hotline poster --village gangkou-bailing --out posters/
    hotline poster --village gangkou-bailing --link-template 'https://x.gov.cn/chat?s={payload}'

The bot token comes from ``HOTLINE_TELEGRAM_TOKEN``; the webhook's secret token is
``HOTLINE_TELEGRAM_SECRET_TOKEN`` (or the one generated in the data directory), the same
the running service checks. Errors are printed by kind only: PTB's messages can hold the
token.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from telegram import Bot
from telegram.error import TelegramError

from bot.config import Settings

T = TypeVar("T")

telegram_app = typer.Typer(
    help="The Telegram bot: register, remove and inspect its webhook.", no_args_is_help=True
)


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of the webhook route.")],
    drop_pending: Annotated[
        bool, typer.Option(help="Discard updates waiting at Telegram.")
    ] = False,
    max_connections: Annotated[int, typer.Option(min=1, max=100)] = 40,
) -> None:
    """Tell Telegram where to post updates, with the secret token, and publish /commands."""
    from bot.channels.telegram import publish_commands
    from bot.channels.telegram_updates import ALLOWED_UPDATES

    settings = Settings()
    if not url.startswith("https://"):
        fail("Telegram only posts to https:// URLs")
    if not url.rstrip("/").endswith(settings.telegram_webhook_path.rstrip("/")):
        typer.echo(f"warning: the service listens on {settings.telegram_webhook_path}", err=True)
    secret = settings.resolved_secret("telegram_secret_token")

    async def register(bot: Bot) -> None:
        await bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=max_connections,
            drop_pending_updates=drop_pending,
        )
        await publish_commands(bot)

    _run(settings, register)
    typer.echo(f"webhook set: {url}")


@telegram_app.command("delete-webhook")
def delete_webhook(
    drop_pending: Annotated[
        bool, typer.Option(help="Discard updates waiting at Telegram.")
    ] = False,
) -> None:
    """Stop Telegram posting updates (e.g. before ``serve --telegram-polling``)."""
    settings = Settings()

    async def remove(bot: Bot) -> None:
        await bot.delete_webhook(drop_pending_updates=drop_pending)

    _run(settings, remove)
    typer.echo("webhook deleted")


@telegram_app.command("info")
def info() -> None:
    """Show the bot, its webhook, the updates waiting and the last error Telegram saw."""
    settings = Settings()

    async def read(bot: Bot) -> dict[str, Any]:
        hook = await bot.get_webhook_info()
        return {
            "bot": f"@{bot.username}",
            "webhook": hook.url or "(none: polling or not set)",
            "pending updates": hook.pending_update_count,
            "max connections": hook.max_connections,
            "allowed updates": ", ".join(hook.allowed_updates or ()) or "(all)",
            "last error": _last_error(hook.last_error_date, hook.last_error_message),
        }

    for key, value in _run(settings, read).items():
        typer.echo(f"{key + ':':17} {value if value is not None else '-'}")


def bot_username(settings: Settings) -> str:
    """The bot's @username, asked of Telegram (``getMe``)."""
    if not settings.telegram_token:
        fail("give --bot-username, or set HOTLINE_TELEGRAM_BOT_USERNAME or HOTLINE_TELEGRAM_TOKEN")

    async def read(bot: Bot) -> str:
        return str(bot.username)

    return _run(settings, read)


def _run(settings: Settings, action: Callable[[Bot], Awaitable[T]]) -> T:
    """Run ``action`` with an initialised ``Bot`` (``getMe`` checks the token first)."""
    if not settings.telegram_token:
        fail("HOTLINE_TELEGRAM_TOKEN is not set")
    bot = Bot(
        settings.telegram_token,
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
    )

    async def go() -> T:
        async with bot:
            return await action(bot)

    try:
        return asyncio.run(go())
    except TelegramError as error:
        fail(f"Telegram refused: {type(error).__name__}")


def _last_error(date: Any, message: str | None) -> str | None:
    if not message:
        return None
    if isinstance(date, dtm.datetime):
        return f"{date.isoformat(timespec='seconds')} {message}"
    return message


def fail(message: str) -> NoReturn:
    """Say what is wrong on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)
