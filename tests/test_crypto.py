"""Tests for intake.crypto: field encryption at rest and keyed lookup hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.crypto import FieldCipher, FieldCipherError, generate_secret

SECRET = "test-secret-0123456789abcdefghijklmnopqrstuv"
OTHER_SECRET = "test-secret-other-0123456789abcdefghijklmno"
TOKEN_SHAPE = re.compile(r"v1:[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def cipher() -> FieldCipher:
    return FieldCipher(SECRET)


@pytest.mark.parametrize(
    "plaintext",
    ["", "420102199001011236", "13812345678", "张三 湖北省恩施州利川市", "👨‍🌾 emoji", "a" * 5000],
)
def test_round_trip(cipher: FieldCipher, plaintext: str) -> None:
    token = cipher.encrypt(plaintext)
    assert TOKEN_SHAPE.fullmatch(token)
    assert cipher.decrypt(token) == plaintext


@given(st.text())
def test_round_trip_any_text(plaintext: str) -> None:
    cipher = FieldCipher(SECRET)
    assert cipher.decrypt(cipher.encrypt(plaintext)) == plaintext


def test_ciphertext_hides_plaintext_and_differs_each_time(cipher: FieldCipher) -> None:
    tokens = {cipher.encrypt("420102199001011236") for _ in range(20)}
    assert len(tokens) == 20
    assert all("420102" not in token for token in tokens)


def test_a_new_cipher_with_the_same_secret_decrypts(cipher: FieldCipher) -> None:
    assert FieldCipher(SECRET).decrypt(cipher.encrypt("王五")) == "王五"


def _flip(token: str, index: int) -> str:
    body = token[3:]
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    blob[index] ^= 0x01
    return "v1:" + base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 11, 12, 15, -17, -1])  # nonce, ciphertext, tag
def test_tampering_is_detected(cipher: FieldCipher, index: int) -> None:
    token = cipher.encrypt("李四 13812345678")
    with pytest.raises(FieldCipherError):
        cipher.decrypt(_flip(token, index))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1:",
        "v1:abc",
        "v2:" + "A" * 60,
        "plain text",
        "v1:" + "A" * 40 + "!",
        "v1:" + "A" * 40 + "=",
        "v1:" + "A" * 41,  # impossible base64 length
    ],
)
def test_malformed_tokens_are_refused(cipher: FieldCipher, token: str) -> None:
    with pytest.raises(FieldCipherError):
        cipher.decrypt(token)


def test_truncated_token_is_refused(cipher: FieldCipher) -> None:
    token = cipher.encrypt("赵六")
    with pytest.raises(FieldCipherError):
        cipher.decrypt(token[:-4])


def test_relabelled_version_is_refused(cipher: FieldCipher) -> None:
    token = cipher.encrypt("赵六")
    with pytest.raises(FieldCipherError):
        cipher.decrypt("v2:" + token[3:])


def test_wrong_key_fails(cipher: FieldCipher) -> None:
    token = cipher.encrypt("420102199001011236")
    with pytest.raises(FieldCipherError):
        FieldCipher(OTHER_SECRET).decrypt(token)


def test_lookup_hash_is_stable_and_key_dependent(cipher: FieldCipher) -> None:
    value = "420102199001011236"
    digest = cipher.lookup_hash(value)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert FieldCipher(SECRET).lookup_hash(value) == digest
    assert FieldCipher(OTHER_SECRET).lookup_hash(value) != digest
    assert cipher.lookup_hash("420102199001011237") != digest


def test_lookup_hash_normalizes_unicode_width_and_surrounding_space(cipher: FieldCipher) -> None:
    assert cipher.lookup_hash(" ４２０１０２１９９００１０１１２３６\n") == cipher.lookup_hash(
        "420102199001011236"
    )


def test_lookup_hash_is_not_a_plain_or_secret_keyed_hash(cipher: FieldCipher) -> None:
    value = b"420102199001011236"
    digest = cipher.lookup_hash(value.decode())
    assert digest != hashlib.sha256(value).hexdigest()
    assert digest != hmac.new(SECRET.encode(), value, hashlib.sha256).hexdigest()


def test_encryption_and_hash_keys_are_independent(cipher: FieldCipher) -> None:
    # White-box: HKDF with different info strings gives unrelated keys, so the lookup hash
    # (stored next to the ciphertext) says nothing about the encryption key.
    hash_key = cipher._hmac_key
    assert len(hash_key) == 32
    token = cipher.encrypt("x")
    with pytest.raises(FieldCipherError):
        _cipher_with_raw_aes_key(hash_key).decrypt(token)


def _cipher_with_raw_aes_key(key: bytes) -> FieldCipher:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    other = FieldCipher(OTHER_SECRET)
    other._aead = AESGCM(key)
    return other


@pytest.mark.parametrize("secret", ["", "   "])
def test_empty_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        FieldCipher(secret)


def test_generate_secret() -> None:
    secrets_made = {generate_secret() for _ in range(10)}
    assert len(secrets_made) == 10
    for secret in secrets_made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
        cipher = FieldCipher(secret)
        assert cipher.decrypt(cipher.encrypt("ok")) == "ok"


def test_seal_keeps_nothing_as_nothing_and_unseal_reads_older_plain_text() -> None:
    cipher = FieldCipher(generate_secret())
    assert cipher.seal(None) is None and cipher.seal("") is None
    assert cipher.unseal(None) is None
    sealed = cipher.seal("请回电")
    assert sealed is not None and sealed != "请回电" and cipher.unseal(sealed) == "请回电"
    # Text written before the field was encrypted, even text that starts like a token.
    for plain in ("请回电，晚上在家", "v1:short", "v1:" + "中" * 40):
        assert cipher.unseal(plain) == plain
    with pytest.raises(FieldCipherError):
        FieldCipher(generate_secret()).unseal(sealed)
