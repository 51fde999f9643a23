"""Field encryption at rest and keyed-hash lookup for personal data (DESIGN decision 8).

One secret (kept in a key file, see :func:`generate_secret`) yields two independent keys via
HKDF-SHA256: an AES-256-GCM key that encrypts fields such as ID and phone numbers, and an HMAC
key that hashes them for exact lookups ("is there a household with this ID number?") without
decrypting every row. Losing the secret makes the encrypted fields unreadable.

Free text (call-back notes, file names, cadres' reasons) went in as plain text before
migration 0004; :meth:`FieldCipher.seal` and :meth:`FieldCipher.unseal` encrypt it now and
still read those older rows. ``docs/privacy.md`` lists what is encrypted and what is not.
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

    def seal(self, text: str | None) -> str | None:
        """:meth:`encrypt` for an optional free-text field: ``None`` or empty stays ``None``."""
        return self.encrypt(text) if text else None

    def unseal(self, stored: str | None) -> str | None:
        """The text of a field written by :meth:`seal`, or of a row written before it was.

        Rows from before migration 0004 hold plain text, and the audit log can never be
        rewritten, so a value that is not shaped like a token is that older plain text.
        A value shaped like one must decrypt: a tampered token raises, never shows raw.
        """
        if not stored:
            return None
        if not _looks_sealed(stored):
            return stored
        return self.decrypt(stored)

    def lookup_hash(self, value: str) -> str:
        """Deterministic HMAC-SHA256 (64 hex characters) of ``value`` for exact lookups.

        Only Unicode NFKC and surrounding whitespace are normalized here; pass the field's
        canonical form (``normalize_id_number``, ``normalize_phone``) so that two spellings
        of one number meet.
        """
        canonical = unicodedata.normalize("NFKC", value).strip()
        return hmac.new(self._hmac_key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


_MIN_TOKEN_CHARS = len(_PREFIX) + (4 * (_NONCE_BYTES + _TAG_BYTES)) // 3


def _looks_sealed(value: str) -> bool:
    """Whether ``value`` has the shape of an :meth:`FieldCipher.encrypt` token."""
    body = value[len(_PREFIX) :]
    return (
        value.startswith(_PREFIX)
        and len(value) >= _MIN_TOKEN_CHARS
        and _BASE64URL.fullmatch(body) is not None
    )
