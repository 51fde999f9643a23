"""Field encryption at rest and keyed-hash lookup for personal data (DESIGN decision 8).

One secret (kept in a key file, see :func:`generate_secret`) yields two independent keys via
HKDF-SHA256: an AES-256-GCM key that encrypts fields such as ID and phone numbers, and an HMAC
key that hashes them for exact lookups ("is there a household with this ID number?") without
decrypting every row. Losing the secret makes the encrypted fields unreadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["FieldCipher", "FieldCipherError", "generate_secret"]

_ENCRYPTION_INFO = b"fanpin-hotline field encryption"
_LOOKUP_INFO = b"fanpin-hotline lookup hash"
_PREFIX = "v1:"
# The version tag is authenticated too, so a token cannot be relabelled as another format.
_ASSOCIATED_DATA = b"fanpin-hotline " + _PREFIX.encode()
_NONCE_BYTES = 12
_TAG_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class FieldCipherError(Exception):
    """A token could not be decrypted: malformed, tampered with, or made with another key."""


def generate_secret() -> str:
    """A new random secret (256 bits, url-safe base64) for a key file."""
    return secrets.token_urlsafe(32)


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class FieldCipher:
    """Encrypts text fields (AES-256-GCM) and makes keyed lookup hashes (HMAC-SHA256).

    The secret must be high-entropy, as made by :func:`generate_secret`: HKDF does not
    stretch a weak passphrase.

    >>> cipher = FieldCipher(generate_secret())
    >>> cipher.decrypt(cipher.encrypt("张三")) == "张三"
    True
    """

    def __init__(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("FieldCipher needs a non-empty secret")
        raw = secret.encode("utf-8")
        self._aead = AESGCM(_derive(raw, _ENCRYPTION_INFO))
        self._hmac_key = _derive(raw, _LOOKUP_INFO)

    def encrypt(self, plaintext: str) -> str:
        """``"v1:" + base64url(nonce || ciphertext || tag)``, with a fresh random nonce."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _ASSOCIATED_DATA)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token from :meth:`encrypt`; FieldCipherError if it is not one."""
        if not token.startswith(_PREFIX):
            raise FieldCipherError("unknown token format")
        body = token[len(_PREFIX) :]
        if not _BASE64URL.fullmatch(body):
            raise FieldCipherError("token is not base64url")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise FieldCipherError("token is not base64url") from exc
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise FieldCipherError("token is too short")
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, _ASSOCIATED_DATA)
        except InvalidTag as exc:
            raise FieldCipherError("token was tampered with or made with another key") from exc
        return plain.decode("utf-8")

    def lookup_hash(self, value: str) -> str:
        """Deterministic HMAC-SHA256 (64 hex characters) of ``value`` for exact lookups.

        Only Unicode NFKC and surrounding whitespace are normalized here; pass the field's
        canonical form (``normalize_id_number``, ``normalize_phone``) so that two spellings
        of one number meet.
        """
        canonical = unicodedata.normalize("NFKC", value).strip()
        return hmac.new(self._hmac_key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
