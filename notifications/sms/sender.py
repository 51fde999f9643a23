"""The SMS channel adapter of the outbox dispatcher: approved templates only, capped, opt-out.

An SMS row's ``recipient`` is the phone's keyed hash (one person, one recipient: the
dispatcher keeps their messages in order) and its payload carries the phone encrypted::

    {"phone": "v1:...", "template": "application_received", "params": {"code": "K7QD-3MXA"},
     "ref": "application:12"}

:func:`enqueue_sms` builds such a row. SMS in mainland China may only carry a template the
provider approved, so a payload without a known ``template`` (free text) is refused.

Before each send, in one transaction: a phone that replied TD is ``Stopped``; a phone that
had its ``daily_cap`` messages this Beijing day waits until ``resume_hour`` o'clock the next
morning (never at midnight). What the gateway answers decides the rest:

==========================================  =============================================
``OK`` with a ``BizId``                     delivered; the receipt row waits for the report
``isv.BUSINESS_LIMIT_CONTROL``              this phone's provider limit: retry after the
                                            minute / hour, or the next morning (day)
``isv.DAY_LIMIT_CONTROL``                   the account's daily quota: channel waits till
                                            the next morning
balance, key, signature, permission errors  channel waits :data:`CONFIG_PAUSE`, logged as an
                                            error (someone must fix the account)
``Throttling*``, ``isp.SYSTEM_ERROR``, 5xx  retried (the gateway did nothing)
no connection / connect timeout             retried (the request never left)
read timeout, connection lost mid-way       *uncertain*: never retried
any other code (number, template, params)   failed for good, with the provider's reason
==========================================  =============================================

A slot of the daily cap is given back whenever the answer proves nothing went out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from sqlmodel import Session

from intake.columns import utcnow
from intake.crypto import FieldCipher, FieldCipherError
from intake.db import Database
from intake.identity import normalize_phone
from notifications import outbox
from notifications.sender import Delivered, Failed, Outcome, RetryLater, Stopped, Uncertain
from notifications.sms import records
from notifications.sms.aliyun import AliyunSmsClient, SendResult

log = logging.getLogger(__name__)

CHANNEL = records.CHANNEL
#: Seconds the channel waits after an account error (balance, key, signature, permission).
CONFIG_PAUSE = 300.0
#: httpx errors raised before a request reached the gateway: safe to send again.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Codes that stop every send until a person fixes the account or the settings.
_ACCOUNT_ERRORS = frozenset(
    {
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidTimeStamp.Expired",
        "Forbidden.RAM",
        "isp.RAM_PERMISSION_DENY",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.MONTH_LIMIT_CONTROL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SIGN_STATE_ILLEGAL",
        "isv.DENY_IP_RANGE",
    }
)
#: Codes after which the same request may simply be sent again.
_TRANSIENT = frozenset(
    {"isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError", "SignatureNonceUsed"}
)
#: ``isv.BUSINESS_LIMIT_CONTROL`` messages name the window that is full.
_WINDOW_SECONDS = {"分钟": 60.0, "小时": 3600.0}


@dataclass(frozen=True)
class SmsTemplate:
    """A template the provider approved: its code and, if known, its variable names."""

    code: str
    params: tuple[str, ...] | None = None


def templates_from_setting(raw: Mapping[str, Any]) -> dict[str, SmsTemplate]:
    """``{"kind": "SMS_1"}`` or ``{"kind": {"code": "SMS_1", "params": ["code"]}}`` parsed."""
    parsed: dict[str, SmsTemplate] = {}
    for kind, value in raw.items():
        if isinstance(value, str) and value:
            parsed[kind] = SmsTemplate(value)
        elif isinstance(value, Mapping) and isinstance(value.get("code"), str):
            names = value.get("params")
            params = tuple(str(n) for n in names) if isinstance(names, list | tuple) else None
            parsed[kind] = SmsTemplate(value["code"], params)
        else:
            raise ValueError(f"SMS template {kind!r} needs a template code")
    return parsed


def enqueue_sms(
    session: Session,
    cipher: FieldCipher,
    *,
    phone: str,
    template: str,
    params: Mapping[str, str],
    ref: str | None = None,
    contact_id: int | None = None,
    priority: outbox.Priority = outbox.Priority.NOTICE,
    not_before: datetime | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> outbox.OutboxMessage | None:
    """Queue a templated SMS in the caller's transaction (the phone stored only encrypted).

    Raises ``ValueError`` (without the number in it) when ``phone`` is no mobile number.
    """
    mobile = _mobile(phone)
    if mobile is None:
        raise ValueError("an SMS needs a mainland mobile number")
    payload: dict[str, Any] = {
        "phone": cipher.encrypt(mobile),
        "template": template,
        "params": dict(params),
    }
    if ref:
        payload["ref"] = ref
    return outbox.enqueue(
        session,
        channel=CHANNEL,
        recipient=cipher.lookup_hash(mobile),
        payload=payload,
        contact_id=contact_id,
        priority=priority,
        not_before=not_before,
        dedupe_key=dedupe_key,
        now=now,
    )


@dataclass(frozen=True)
class _Message:
    phone: str
    phone_hash: str
    kind: str
    template: SmsTemplate
    params: dict[str, str]
    ref: str | None


class SmsSender:
    """Sends outbox rows of the ``sms`` channel through Alibaba Cloud SMS.

    ``sign_name`` is the approved signature (签名); ``templates`` maps a notice kind to its
    approved template; ``daily_cap`` messages per phone per Beijing day (at least 1).
    """

    channel = CHANNEL

    def __init__(
        self,
        client: AliyunSmsClient,
        db: Database,
        cipher: FieldCipher,
        *,
        sign_name: str,
        templates: Mapping[str, SmsTemplate],
        daily_cap: int = 5,
        resume_hour: int = 8,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        if daily_cap < 1:
            raise ValueError("the SMS daily cap must be at least 1")
        if not 0 <= resume_hour <= 23:
            raise ValueError("resume_hour is an hour of the day")
        self.client = client
        self.db = db
        self.cipher = cipher
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.daily_cap = daily_cap
        self.resume_hour = resume_hour
        self.now = now

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Send one templated SMS to the phone in ``payload`` (see the module's table)."""
        message = self._message(recipient, payload)
        if not isinstance(message, _Message):
            return message
        day = records.beijing_day(self.now())
        refused = await asyncio.to_thread(self._admit, message.phone_hash, day)
        if refused is not None:
            return refused
        try:
            result = await self.client.send_sms(
                phone=message.phone,
                sign_name=self.sign_name,
                template_code=message.template.code,
                params=message.params,
                out_id=message.ref,
            )
        except httpx.HTTPError as error:
            outcome = transport_outcome(error)
        else:
            outcome = self.outcome_of(result)
        await asyncio.to_thread(self._settle, message, day, outcome)
        return outcome

    def _message(self, recipient: str, payload: dict[str, Any]) -> _Message | Failed:
        """The payload checked: an approved template, its variables, a decryptable mobile."""
        kind = payload.get("template")
        if not isinstance(kind, str) or not kind:
            return Failed("SMS needs an approved template; free text is not sent")
        template = self.templates.get(kind)
        if template is None:
            return Failed(f"no approved SMS template for {kind!r}")
        params = _params(payload.get("params"), template)
        if isinstance(params, Failed):
            return params
        try:
            phone = _mobile(self.cipher.decrypt(str(payload.get("phone") or "")))
        except FieldCipherError:
            return Failed("the phone could not be decrypted (another secret key?)")
        if phone is None:
            return Failed("not a mobile number: SMS needs one")
        phone_hash = self.cipher.lookup_hash(phone)
        if phone_hash != recipient:
            return Failed("the row's recipient is not the phone in its payload")
        ref = payload.get("ref")
        return _Message(phone, phone_hash, kind, template, params, str(ref)[:64] if ref else None)

    def _admit(self, phone_hash: str, day: date) -> Outcome | None:
        """Opt-out, then a slot of the daily cap, in one transaction; ``None``: go ahead."""
        with self.db.write() as session:
            if records.is_opted_out(session, phone_hash):
                return Stopped("the person replied TD (opted out of SMS)")
            if records.reserve(session, phone_hash, day, self.daily_cap):
                return None
        wait = records.next_day_at(self.now(), self.resume_hour) - self.now()
        return RetryLater(
            f"daily cap of {self.daily_cap} SMS for this phone reached",
            after=wait.total_seconds(),
        )

    def _settle(self, message: _Message, day: date, outcome: Outcome) -> None:
        """Record an accepted message, or give its slot back if it surely did not go."""
        with self.db.write() as session:
            if isinstance(outcome, Delivered):
                if outcome.external_id:
                    records.record_accepted(
                        session,
                        outcome.external_id,
                        phone_hash=message.phone_hash,
                        template=message.kind,
                        ref=message.ref,
                        at=self.now(),
                    )
            elif not isinstance(outcome, Uncertain):
                records.give_back(session, message.phone_hash, day)

    def outcome_of(self, result: SendResult) -> Outcome:
        """What the gateway's answer means for the row (see the module's table)."""
        code = result.code
        if code is None:
            if result.http_status >= 300:
                return RetryLater(f"the SMS gateway answered HTTP {result.http_status}")
            return Uncertain("the SMS gateway's answer was not understood; it may have gone")
        reason = f"{code}: {result.message}"[:500]
        if code == "OK":
            return Delivered(result.biz_id)
        if code == "isv.BUSINESS_LIMIT_CONTROL":
            return RetryLater(reason, after=self._window_wait(result.message))
        if code == "isv.DAY_LIMIT_CONTROL":
            return RetryLater(reason, after=self._until_morning(), flood=True)
        if code in _ACCOUNT_ERRORS:
            log.error("the SMS gateway refused the account: %s; check HOTLINE_SMS_*", code)
            return RetryLater(reason, after=CONFIG_PAUSE, flood=True)
        if code.startswith("Throttling"):
            return RetryLater(reason, after=1.0, flood=True)
        if code in _TRANSIENT or result.http_status >= 500:
            return RetryLater(reason)
        return Failed(reason)

    def _window_wait(self, message: str) -> float:
        for word, seconds in _WINDOW_SECONDS.items():
            if word in message:
                return seconds
        if "天" in message:
            return self._until_morning()
        return 60.0

    def _until_morning(self) -> float:
        now = self.now()
        return (records.next_day_at(now, self.resume_hour) - now).total_seconds()


def transport_outcome(error: httpx.HTTPError) -> Outcome:
    """A connection problem: retried if the request never left, else uncertain."""
    name = type(error).__name__
    if isinstance(error, _NEVER_SENT):
        return RetryLater(f"SMS gateway not reached ({name})")
    return Uncertain(f"no answer from the SMS gateway ({name}); it may have been delivered")


def _mobile(raw: str) -> str | None:
    phone = normalize_phone(raw)
    return phone if phone is not None and "-" not in phone else None


def _params(raw: object, template: SmsTemplate) -> dict[str, str] | Failed:
    """The template variables as strings, checked against the approved names if known."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        return Failed("SMS template params must be an object of names to values")
    if any(not isinstance(v, str | int) or isinstance(v, bool) for v in raw.values()):
        return Failed("SMS template values must be text or whole numbers")
    params = {name: str(value) for name, value in raw.items()}
    if template.params is not None and set(params) != set(template.params):
        missing = sorted(set(template.params) - set(params))
        extra = sorted(set(params) - set(template.params))
        return Failed(f"SMS template {template.code} variables: missing {missing}, extra {extra}")
    return params
