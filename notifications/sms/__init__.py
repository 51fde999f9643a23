"""The SMS channel: Alibaba Cloud SMS for people with a phone but no chat.

Hotline callers, letter writers and elderly applicants get notices and reminders by SMS
through the outbox like any channel. Public names:

* :class:`SmsSender` - the dispatcher's sender for the ``sms`` channel;
  :class:`SmsTemplate`, :func:`templates_from_setting` - the approved templates;
  :func:`enqueue_sms` - queue a templated SMS (the phone stored only encrypted).
* :class:`AliyunSmsClient` - ``SendSms`` on httpx, signature version 1.0.
* :func:`sms_router` - the provider's delivery reports and replies (TD opts out).
* Tables (``notifications.sms.models``): ``sms_daily_count``, ``sms_opt_out``,
  ``sms_receipt``.
"""

from notifications.sms.aliyun import AliyunSmsClient, SendResult
from notifications.sms.records import CHANNEL
from notifications.sms.routes import sms_router
from notifications.sms.sender import SmsSender, SmsTemplate, enqueue_sms, templates_from_setting

__all__ = [
    "CHANNEL",
    "AliyunSmsClient",
    "SendResult",
    "SmsSender",
    "SmsTemplate",
    "enqueue_sms",
    "sms_router",
    "templates_from_setting",
]
