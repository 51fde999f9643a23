"""Alibaba Cloud SMS (Dysmsapi 2017-05-25) ``SendSms``, signed and sent over httpx.

The official SDK is synchronous and pulls in the Tea runtime; this is the one call we
need, async, with a configurable endpoint so tests point it at a fake gateway.

The request is an RPC-style POST to the endpoint's root with every parameter in a form
body, signed with signature version 1.0 (HMAC-SHA1)::

    StringToSign = "POST&%2F&" + percent_encode(sorted, percent-encoded "k=v&k=v")
    Signature    = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))

The body, not the query string, carries the phone number: httpx logs request URLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from intake.columns import utcnow

__all__ = [
    "API_VERSION",
    "DEFAULT_ENDPOINT",
    "AliyunSmsClient",
    "SendResult",
    "canonical_query",
    "percent_encode",
    "rpc_signature",
]

API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com/"


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba Cloud signs it: only ``A-Z a-z 0-9 - _ . ~`` kept."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """The parameters sorted by name, each name and value percent-encoded, joined by ``&``."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Signature version 1.0 of ``params`` (without ``Signature``) for an RPC request."""
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class SendResult:
    """What the gateway answered. ``code`` is ``None`` when the body was not its JSON."""

    http_status: int
    code: str | None
    message: str = ""
    biz_id: str | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        """The gateway accepted the message (``Code`` is ``OK`` and a ``BizId`` came)."""
        return self.code == "OK" and bool(self.biz_id)


class AliyunSmsClient:
    """Sends one templated SMS per call. Raises only ``httpx`` transport errors.

    ``now`` and ``nonce`` make the signed parameters reproducible in tests.
    """

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        region_id: str = "cn-hangzhou",
        timeout: float = 10.0,
        now: Callable[[], datetime] = utcnow,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        if not access_key_id or not access_key_secret:
            raise ValueError("the SMS gateway needs an AccessKey id and secret")
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.endpoint = endpoint
        self.region_id = region_id
        self.now = now
        self.nonce = nonce
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def signed(self, action: str, business: Mapping[str, str]) -> dict[str, str]:
        """The common parameters, ``business`` and the ``Signature`` over all of them."""
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": self.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self.nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            **business,
        }
        params["Signature"] = rpc_signature("POST", params, self._secret)
        return params

    async def send_sms(
        self,
        *,
        phone: str,
        sign_name: str,
        template_code: str,
        params: Mapping[str, str],
        out_id: str | None = None,
    ) -> SendResult:
        """``SendSms`` to one mobile number with an approved template and its variables."""
        business = {
            "PhoneNumbers": phone,
            "SignName": sign_name,
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
        }
        if out_id:
            business["OutId"] = out_id
        response = await self._http.post(self.endpoint, data=self.signed("SendSms", business))
        return _result(response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def _result(response: httpx.Response) -> SendResult:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("Code"), str):
        return SendResult(response.status_code, None)
    biz_id = body.get("BizId")
    return SendResult(
        http_status=response.status_code,
        code=body["Code"],
        message=str(body.get("Message") or "")[:300],
        biz_id=str(biz_id) if biz_id else None,
        request_id=str(body.get("RequestId") or "") or None,
    )
