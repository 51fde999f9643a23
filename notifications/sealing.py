"""Outbox payloads sealed at rest: what villagers are told can hold a cadre's reason.

A notice that an application was returned or declined carries the reason the cadre typed,
and a reply can carry a tracking code. Rows wait in the outbox (and in SQLite's WAL) until
sent, so the payload is stored as one encrypted token under ``"sealed"``, with the
service's field key. Bookkeeping the dispatcher adds later (``parts_sent``) stays beside
it in the clear. The :class:`~intake.db.Database` carries the key, so every writer seals
without being told; rows written before (or by a database with no key) are plain and
read as they are.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlmodel import Session

SEALED = "sealed"
SEALER_KEY = "sealer"
#: What the dispatcher itself writes into a row: kept beside the token, in the clear.
BOOKKEEPING = frozenset({"parts_sent"})


class Sealer(Protocol):
    """What seals a payload: :class:`intake.crypto.FieldCipher` is one."""

    def encrypt(self, plaintext: str) -> str:
        """A token for ``plaintext``."""
        ...

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``."""
        ...


def sealer_of(session: Session) -> Sealer | None:
    """The key the session's database seals with (see ``Database(sealer=...)``)."""
    sealer: Sealer | None = session.info.get(SEALER_KEY)
    return sealer


def seal_payload(payload: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """``payload`` as it is stored: one token, plus any bookkeeping already sealed beside."""
    if sealer is None or SEALED in payload:
        return payload
    content = {k: v for k, v in payload.items() if k not in BOOKKEEPING}
    kept = {k: v for k, v in payload.items() if k in BOOKKEEPING}
    return {SEALED: sealer.encrypt(json.dumps(content, ensure_ascii=False)), **kept}


def open_payload(payload: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """The payload a sender needs; a plain (older) payload is returned as it is."""
    token = payload.get(SEALED)
    if token is None:
        return payload
    if sealer is None:
        raise ValueError("a sealed outbox payload needs the service's key to be read")
    opened: dict[str, Any] = json.loads(sealer.decrypt(str(token)))
    return {**opened, **{k: v for k, v in payload.items() if k != SEALED}}
