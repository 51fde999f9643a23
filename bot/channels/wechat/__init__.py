"""The WeChat Official Account (公众号) channel: its protocol, and the channel built on it.

* :mod:`.channel` - the channel itself (``/channels/wechat``, the passive reply, the
  factory); :mod:`.sender` - the outbox's sender with its template and SMS fall-backs.

* :mod:`.crypto` - server URL verification, signatures, safe-mode AES.
* :mod:`.messages` - inbound XML to frozen dataclasses; the passive text reply.
* :mod:`.api` - the async API client: customer-service and template messages, menu, QR
  codes, media; the access token shared by every worker through :mod:`.tokens`.
* :mod:`.outcomes` - what each WeChat error code means for a message.
* :mod:`.menu` - the custom menu within WeChat's limits.

Settings (passed in by the composition root): ``HOTLINE_WECHAT_TOKEN``,
``HOTLINE_WECHAT_APP_ID``, ``HOTLINE_WECHAT_APP_SECRET``, ``HOTLINE_WECHAT_AES_KEY``.
"""

from .api import Media, QrCode, WeChatApi
from .crypto import DecryptError, MessageCipher, SignatureError, check_signature, verify_url
from .menu import HOTLINE_MENU, build_menu
from .messages import (
    ImageMessage,
    Inbound,
    MenuClick,
    MessageError,
    Scan,
    Subscribe,
    TextMessage,
    Unsubscribe,
    Unsupported,
    VoiceMessage,
    parse_message,
    text_reply,
)
from .outcomes import NotDeliverable, SendOutcome, WeChatError

__all__ = [
    "HOTLINE_MENU",
    "DecryptError",
    "ImageMessage",
    "Inbound",
    "Media",
    "MenuClick",
    "MessageCipher",
    "MessageError",
    "NotDeliverable",
    "QrCode",
    "Scan",
    "SendOutcome",
    "SignatureError",
    "Subscribe",
    "TextMessage",
    "Unsubscribe",
    "Unsupported",
    "VoiceMessage",
    "WeChatApi",
    "WeChatError",
    "build_menu",
    "check_signature",
    "parse_message",
    "text_reply",
    "verify_url",
]
