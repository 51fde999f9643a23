"""The Alibaba Cloud SMS client: its signature, and a signed SendSms over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fakes.sms_gateway import FakeAliyunSms
from sms_support import PHONE, SIGN, client_for

from notifications.sms.aliyun import canonical_query, rpc_signature

#: Alibaba's documented example (SMS "HTTP 协议及签名"): secret ``testSecret``.
DOCUMENTED = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_the_signature_matches_alibabas_documented_example() -> None:
    assert rpc_signature("GET", DOCUMENTED, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert "SignName=%E9%98%BF%E9%87%8C" in canonical_query(DOCUMENTED)
    assert "TemplateParam=%7B%22customer%22%3A%22test%22%7D" in canonical_query(DOCUMENTED)


def test_spaces_and_stars_are_encoded_as_alibaba_signs_them() -> None:
    assert canonical_query({"a": "x y*z~"}) == "a=x%20y%2Az~"


@pytest.fixture
def gateway() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as gw:
        yield gw


async def test_a_signed_send_is_accepted_with_a_biz_id(gateway: FakeAliyunSms) -> None:
    client = client_for(gateway)
    try:
        result = await client.send_sms(
            phone=PHONE,
            sign_name=SIGN,
            template_code="SMS_100001",
            params={"code": "K7QD-3MXA"},
            out_id="application:12",
        )
    finally:
        await client.aclose()
    assert result.ok and result.biz_id and result.biz_id.endswith("^0")
    (call,) = gateway.accepted(PHONE)
    assert call.template_params == {"code": "K7QD-3MXA"}
    assert call.params["OutId"] == "application:12"
    assert call.query == "", "the phone travels in the body, never in a logged URL"


async def test_a_wrong_secret_is_refused_as_a_signature_mismatch(gateway: FakeAliyunSms) -> None:
    client = client_for(gateway)
    client._secret = "not-the-secret"
    try:
        result = await client.send_sms(
            phone=PHONE, sign_name=SIGN, template_code="SMS_100002", params={}
        )
    finally:
        await client.aclose()
    assert (result.http_status, result.code) == (400, "SignatureDoesNotMatch")
    assert gateway.accepted() == []


async def test_a_nonce_is_never_reused(gateway: FakeAliyunSms) -> None:
    client = client_for(gateway, nonce=lambda: "always-the-same")
    try:
        first = await client.send_sms(
            phone=PHONE, sign_name=SIGN, template_code="SMS_100002", params={}
        )
        second = await client.send_sms(
            phone=PHONE, sign_name=SIGN, template_code="SMS_100002", params={}
        )
    finally:
        await client.aclose()
    assert first.ok
    assert second.code == "SignatureNonceUsed"


async def test_a_refused_connection_raises_a_transport_error() -> None:
    with FakeAliyunSms() as gw:
        pass  # stopped: its port now refuses connections
    client = client_for(gw)
    try:
        with pytest.raises(httpx.ConnectError):
            await client.send_sms(phone=PHONE, sign_name=SIGN, template_code="x", params={})
    finally:
        await client.aclose()
