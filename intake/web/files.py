"""Serving a villager's file to a cadre without letting it run as a page of ours.

The bytes come from a chat (anyone can send anything, named anything), so: only pictures
and sound are shown in the browser, everything else is a download; the type is never
sniffed; a sandbox policy keeps even a mislabelled file from running script on the cadre
pages' origin; nothing is cached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import Response

from intake.attachments import Attachment, AttachmentKind, file_name_of
from intake.crypto import FieldCipher

logger = logging.getLogger(__name__)
#: A channel's way of fetching a kept file: its bytes and the type the channel reports.
Opener = Callable[[Attachment], Awaitable[tuple[bytes, str | None]]]

#: Shown in the browser (an image or a player); anything else is downloaded.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/wav",
    }
)
#: What Telegram sends when a file carries no type: photos are JPEG, voice notes Opus/OGG.
_BY_KIND = {AttachmentKind.PHOTO.value: "image/jpeg", AttachmentKind.VOICE.value: "audio/ogg"}
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
SANDBOX = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"


def media_type(row: Attachment, reported: str | None) -> str:
    """The file's type as the channel or the stored row says, else by kind."""
    for candidate in (reported, row.mime, _BY_KIND.get(row.kind)):
        value = (candidate or "").split(";", 1)[0].strip().lower()
        if _TYPE.match(value):
            return value
    return "application/octet-stream"


def download_name(row: Attachment, mime: str, file_name: str | None = None) -> str:
    """An ASCII file name for the header's plain ``filename``."""
    found = _SAFE_SUFFIX.search(file_name or "")
    suffix = found.group(0).lower() if found else _SUFFIX.get(mime, "")
    return f"attachment-{row.id}{suffix}"


def file_response(
    row: Attachment, content: bytes, reported: str | None, file_name: str | None = None
) -> Response:
    """The file as a response that shows a picture or a sound, and downloads anything else.

    ``file_name`` is the sender's name for it, decrypted by the caller (it is stored
    encrypted: people name files after themselves).
    """
    mime = media_type(row, reported)
    inline = mime in INLINE_TYPES
    name = download_name(row, mime, file_name)
    full = quote(file_name or name, safe="")
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename=\"{name}\"; filename*=UTF-8''{full}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    shown = mime if inline else "application/octet-stream"
    return Response(content, media_type=shown, headers=headers)


async def served(row: Attachment, opener: Opener, cipher: FieldCipher) -> Response:
    """The file fetched through its channel, as :func:`file_response`; 502 when the
    channel gives nothing (logged by kind only: the error may quote the file's address)."""
    try:
        content, mime = await opener(row)
    except Exception as error:
        logger.warning("could not fetch attachment %s from %s: %s", row.id, row.channel,
                       type(error))  # fmt: skip
        raise HTTPException(status_code=502, detail="the channel gave no file") from None
    return file_response(row, content, mime, file_name_of(row, cipher))
