"""WeChat's message security: URL verification, signatures and safe mode (安全模式).

Everything WeChat signs is ``sha1`` of its parts sorted as strings and joined: the server
URL check signs ``(token, timestamp, nonce)``; safe mode's ``msg_signature`` adds the
ciphertext. Safe mode encrypts with AES-256-CBC: the key is the 43-character
EncodingAESKey read as base64 (plus one ``=``), the IV its first 16 bytes, the plaintext
``16 random bytes | 4-byte big-endian length | message | app id`` padded PKCS#7-style to a
multiple of **32** bytes (not AES's 16: WeChat's own samples do so, and ciphertexts from
WeChat carry pads up to 32). Written on ``cryptography`` rather than wechatpy, whose
client is blocking ``requests`` (decisions: WeChat channel).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .safexml import XmlRejected, cdata, parse_flat

AES_KEY_LENGTH = 43
_BLOCK = 32


class WeChatCryptoError(ValueError):
    """A request that is not provably from WeChat, or a ciphertext that does not open."""


class SignatureError(WeChatCryptoError):
    """The signature does not match: not from WeChat (or the token is misconfigured)."""


class DecryptError(WeChatCryptoError):
    """The ciphertext is malformed, or was made with another key or for another app."""


def sign(*parts: str) -> str:
    """WeChat's signature: ``sha1`` hex of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """Whether ``signature`` is WeChat's over ``(token, timestamp, nonce)`` (constant time)."""
    return _same(sign(token, timestamp, nonce), signature)


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of hex signatures (WeChat sends lower case)."""
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))


def verify_url(token: str, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """Answer WeChat's server-URL check: the ``echostr`` to echo back, or :class:`SignatureError`.

    The check is a GET with the four parameters when the URL is saved in the admin console;
    echoing ``echostr`` proves we hold the token. Safe mode changes nothing here.
    """
    if not check_signature(token, signature, timestamp, nonce):
        raise SignatureError("signature does not match")
    return echostr


class MessageCipher:
    """Safe-mode encryption for one Official Account (token, EncodingAESKey, app id).

    >>> cipher = MessageCipher("token", "a" * 43, "wx0123456789abcdef")
    >>> cipher.decrypt(cipher.encrypt("<xml/>"))
    '<xml/>'
    """

    def __init__(self, token: str, aes_key: str, app_id: str) -> None:
        self.token = token
        self.app_id = app_id
        self._key = _read_aes_key(aes_key)

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """The base64 ciphertext of ``message`` (``random_prefix``: 16 bytes, tests only)."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8")
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The message inside ``encrypted``; :class:`DecryptError` unless it is for our app."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("ciphertext is not base64") from None
        if not data or len(data) % 16:
            raise DecryptError("ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise DecryptError("bad padding (wrong EncodingAESKey?)")
        content = plain[16:-pad]
        if len(content) < 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise DecryptError("length field runs past the plaintext")
        message, app_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise DecryptError("message is for another app id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("message is not UTF-8") from None

    def open(self, body: bytes, *, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        """The inner XML of a safe-mode POST, after checking ``msg_signature``.

        Raises :class:`SignatureError`, :class:`DecryptError`, or
        :class:`~.safexml.XmlRejected` for an envelope that is not WeChat's.
        """
        encrypted = parse_flat(body).get("Encrypt")
        if not encrypted:
            raise XmlRejected("no <Encrypt> element")
        expected = sign(self.token, timestamp, nonce, encrypted)
        if not _same(expected, msg_signature):
            raise SignatureError("msg_signature does not match")
        return self.decrypt(encrypted).encode("utf-8")

    def seal(
        self, reply_xml: str, *, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> str:
        """The safe-mode envelope WeChat expects in place of a plain passive reply."""
        encrypted = self.encrypt(reply_xml, random_prefix=random_prefix)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml>\n<Encrypt>{cdata(encrypted)}</Encrypt>\n"
            f"<MsgSignature>{cdata(signature)}</MsgSignature>\n"
            f"<TimeStamp>{int(timestamp)}</TimeStamp>\n"
            f"<Nonce>{cdata(nonce)}</Nonce>\n</xml>"
        )

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))


def _read_aes_key(aes_key: str) -> bytes:
    """The 32-byte key of a 43-character EncodingAESKey, or a ValueError naming the setting."""
    problem = "HOTLINE_WECHAT_AES_KEY must be the 43-character EncodingAESKey"
    if len(aes_key) != AES_KEY_LENGTH:
        raise ValueError(problem)
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(problem) from None
    if len(key) != 32:
        raise ValueError(problem)
    return key
