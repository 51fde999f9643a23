"""``hotline poster``: a village's A4 poster, its QR code opening Telegram or WeChat.

Telegram's QR holds a deep link (``t.me/<bot>?start=v_<village>``). WeChat's is a
permanent parametric QR code of the Official Account (``QR_LIMIT_STR_SCENE``, scene
``v_<village>``), asked of WeChat's API with the account's credentials: scanning it
follows the account and binds the village, like the deep link.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_telegram import bot_username, fail
from bot.config import Settings

if TYPE_CHECKING:
    from bot.poster import PosterInfo


class PosterChannel(StrEnum):
    """Which app the poster's QR code opens."""

    TELEGRAM = "telegram"
    WECHAT = "wechat"


def poster(
    village: Annotated[str, typer.Option(help="Village code, e.g. gangkou-bailing.")],
    channel: Annotated[
        PosterChannel, typer.Option(help="telegram (deep link) or wechat (parametric QR).")
    ] = PosterChannel.TELEGRAM,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the PNG and PDF (default: DATA_DIR/posters).")
    ] = None,
    language: Annotated[str, typer.Option(help="zh_CN or en.")] = "zh_CN",
    username: Annotated[
        str | None,
        typer.Option("--bot-username", help="The bot's @username (default: settings or getMe)."),
    ] = None,
    link_template: Annotated[
        str | None,
        typer.Option(help="QR link with {payload} instead of Telegram's (a web chat…)."),
    ] = None,
) -> None:
    """Write an A4 poster (PNG and PDF) with the QR code that opens the hotline for a village."""
    settings = Settings()
    if channel is PosterChannel.TELEGRAM:
        _telegram_poster(settings, village, out, language, username, link_template)
        return
    if not settings.wechat_enabled():
        fail(
            "设置 HOTLINE_WECHAT_TOKEN / _APP_ID / _APP_SECRET 后才能生成公众号二维码。"
            "Set HOTLINE_WECHAT_TOKEN, _APP_ID and _APP_SECRET for a WeChat QR code."
        )
    from bot.poster import write

    info = _village_poster(settings, village, language)
    url = asyncio.run(_wechat_qr(settings, village))
    png, pdf = write(replace(info, qr_link=url), out or settings.data_dir / "posters")
    typer.echo(f"{png}\n{pdf}\nQR: {url}")


def _telegram_poster(
    settings: Settings,
    village: str,
    out: Path | None,
    language: str,
    username: str | None,
    link_template: str | None,
) -> None:
    """The poster whose QR opens the Telegram bot (or ``link_template``) bound to ``village``."""
    from bot.poster import write

    template = link_template or settings.poster_link_template
    if template is not None and "{payload}" not in template:
        fail("the link template needs {payload}, e.g. https://example.gov.cn/chat?start={payload}")
    info = _village_poster(settings, village, language)
    name = username or settings.telegram_bot_username or ""
    if template is None and not name:
        name = bot_username(settings)
    info = replace(info, bot_username=name, link_template=template)
    png, pdf = write(info, out or settings.data_dir / "posters")
    typer.echo(f"{png}\n{pdf}\nQR: {info.link}")


def _village_poster(settings: Settings, village: str, language: str) -> PosterInfo:
    """The poster's words for ``village`` (its township, region and hotline)."""
    from bot.poster import PosterInfo
    from intake.policy import load_policies

    policies = load_policies(settings.policy_dir)
    found = next(
        ((p, t, v) for p in policies.values() for t, v in p.villages() if v.code == village),
        None,
    )
    if found is None:
        fail(f"no village {village!r} in the policies")
    policy, township, place = found
    return PosterInfo(
        village_code=place.code,
        village=place.name,
        township=township.name,
        region=f"{policy.region.parents.county or ''}{policy.region.name}",
        hotline=policy.region.hotline,
        bot_username="",
        language=language,
    )


async def _wechat_qr(settings: Settings, village: str) -> str:
    """The permanent QR code's URL for ``v_<village>`` (WeChat returns the same for a scene)."""
    from bot.channels.wechat import WeChatApi, WeChatError
    from bot.services import build_services

    services = build_services(settings)
    api = WeChatApi(
        services.db,
        app_id=str(settings.wechat_app_id),
        app_secret=str(settings.wechat_app_secret),
        base_url=settings.wechat_api_url,
    )
    try:
        return (await api.village_qr(village)).url
    except WeChatError as error:
        fail(f"微信没有给出二维码。WeChat gave no QR code: {error}")
    finally:
        await api.aclose()
        services.db.dispose()
