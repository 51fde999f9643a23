"""Callback bodies as WeChat's servers post them, for tests of the WeChat channel.

Element names and order follow WeChat's documentation of each message kind; every value
is CDATA except the numbers, as WeChat sends them.
"""

from __future__ import annotations

import time

from bot.channels.wechat.crypto import MessageCipher, sign

ACCOUNT = "gh_fa1e0acc0042"
CREATED = 1795570200  # 2026-11-25 09:30 +08:00


def inbound_xml(
    openid: str,
    msg_type: str,
    *,
    account: str = ACCOUNT,
    created: int = CREATED,
    msg_id: int | None = None,
    **fields: str,
) -> bytes:
    """One callback body: ``<xml>`` with the common fields, then ``fields`` in order."""
    parts = [
        f"<ToUserName><![CDATA[{account}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return ("<xml>" + "".join(parts) + "</xml>").encode("utf-8")


def signed_query(
    token: str, *, timestamp: str | None = None, nonce: str = "8675309"
) -> dict[str, str]:
    """The query WeChat puts on every callback: ``signature``, ``timestamp``, ``nonce``."""
    stamp = timestamp or str(int(time.time()))
    return {"signature": sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce}


def safe_mode_post(
    cipher: MessageCipher, inner: bytes, *, timestamp: str = str(CREATED), nonce: str = "8675309"
) -> tuple[dict[str, str], bytes]:
    """The query and body of a safe-mode (``encrypt_type=aes``) callback carrying ``inner``."""
    encrypted = cipher.encrypt(inner.decode("utf-8"))
    query = signed_query(cipher.token, timestamp=timestamp, nonce=nonce)
    query.update(encrypt_type="aes", msg_signature=sign(cipher.token, timestamp, nonce, encrypted))
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return query, body.encode("utf-8")
