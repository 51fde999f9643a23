"""One-time codes that join a helper's chat account to their helper row.

The township makes a code for a helper (``hotline helper invite``); the helper opens the
deep link ``/start h_<code>`` in Telegram or types the bare code in any channel, confirms
their name, and the chat is linked. The rules, and why:

- **single use** — redeeming is one conditional UPDATE (``used_at IS NULL``), so two chats
  racing with one code link only one;
- **72 hours** — a code forwarded or photographed later is worth nothing;
- **stored as a keyed hash** — the table never holds a usable code;
- **guessing throttled per chat** — :data:`MAX_FAILURES` wrong codes within
  :data:`FAILURE_WINDOW` make that chat wait out the window. 10 symbols of 29 (4 × 10¹⁴
  codes) at 5 tries an hour leave guessing hopeless for any one chat.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from intake import audit
from intake.crypto import FieldCipher
from intake.helpers.models import Helper, HelperLink, HelperState, UserLink
from intake.tracking import ALPHABET
from intake.users import LoginThrottle, User

__all__ = [
    "FAILURE_WINDOW",
    "LINK_LIFETIME",
    "MAX_FAILURES",
    "LinkOutcome",
    "LinkTarget",
    "check_chat_link",
    "check_link_code",
    "deep_link_payload",
    "linked_helper",
    "looks_like_link_code",
    "new_link_code",
    "new_user_link_code",
    "normalize_link_code",
    "redeem_chat_link",
    "redeem_link_code",
]

LINK_LIFETIME = timedelta(hours=72)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=1)
CODE_SYMBOLS = 10
_DEEP_LINK_PREFIX = "h_"
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class LinkOutcome(StrEnum):
    """What a typed code turned out to be (each has its own polite answer in the chat)."""

    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    THROTTLED = "throttled"


def _hash(cipher: FieldCipher, code: str) -> str:
    return cipher.lookup_hash("helper-link:" + code)


def normalize_link_code(raw: str) -> str:
    """Upper-case, half-width, without separators or the deep link's ``h_`` prefix."""
    text = raw.translate(_HALF_WIDTH).strip()
    if text.lower().startswith(_DEEP_LINK_PREFIX):
        text = text[len(_DEEP_LINK_PREFIX) :]
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_link_code(raw: str) -> bool:
    """Whether typed text has a link code's shape (10 symbols of the code alphabet, any
    case, separators allowed): the menu then checks it instead of "not understood"."""
    text = raw.translate(_HALF_WIDTH).strip()
    if len(text) > 24:
        return False
    code = normalize_link_code(text)
    return len(code) == CODE_SYMBOLS and all(ch in ALPHABET for ch in code)


def linked_helper(session: Session, channel: str, external_id: str) -> Helper | None:
    """The active helper whose verified chat this is, if any."""
    query = select(Helper).where(
        Helper.chat_channel == channel,
        Helper.chat_external_id == external_id,
        Helper.state == HelperState.ACTIVE,
    )
    return session.exec(query.order_by(col(Helper.id))).first()


def deep_link_payload(code: str) -> str:
    """The ``/start`` payload of a code (Telegram allows ``[A-Za-z0-9_-]``, ≤ 64)."""
    return _DEEP_LINK_PREFIX + normalize_link_code(code)


def new_link_code(
    session: Session, cipher: FieldCipher, *, helper_id: int, actor: str, now: datetime
) -> str:
    """Make a code for the helper and return it: the only time it exists in clear."""
    link = functools.partial(HelperLink, helper_id=helper_id)
    return _issue(session, cipher, link, "helper", helper_id, actor=actor, now=now)


def _issue(
    session: Session,
    cipher: FieldCipher,
    link: Callable[..., HelperLink | UserLink],
    kind: str,
    subject_id: int,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Store a new code's keyed hash as ``link(...)`` and record it; the code, grouped."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_SYMBOLS))
    session.add(
        link(
            code_hash=_hash(cipher, code),
            created_by=actor[:64],
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    audit.record(
        session, actor=actor, action=f"{kind}.link_created", subject_kind=kind,
        subject_id=subject_id, at=now,
    )  # fmt: skip
    return code[:5] + "-" + code[5:]


def _throttle_key(channel: str, external_id: str) -> str:
    return f"helper_link:{channel}:{external_id}"[:160]


def _throttle(session: Session, channel: str, external_id: str) -> LoginThrottle | None:
    key = _throttle_key(channel, external_id)
    return session.exec(select(LoginThrottle).where(LoginThrottle.key == key)).first()


def _throttled(row: LoginThrottle | None, now: datetime) -> bool:
    return (
        row is not None and row.failures >= MAX_FAILURES and now < row.window_start + FAILURE_WINDOW
    )


def _fail(
    session: Session, row: LoginThrottle | None, channel: str, chat: str, now: datetime
) -> None:
    if row is None or now >= row.window_start + FAILURE_WINDOW:
        row = row or LoginThrottle(key=_throttle_key(channel, chat), window_start=now)
        row.window_start, row.failures = now, 0
    row.failures += 1
    session.add(row)


def check_link_code(
    session: Session, cipher: FieldCipher, raw: str, *, channel: str, external_id: str,
    now: datetime,
) -> tuple[LinkOutcome, Helper | None]:  # fmt: skip
    """Look a typed code up without using it (the helper confirms their name next).

    A wrong, expired or used code counts against the chat; the caller commits so the
    count holds even when the answer is a refusal.
    """
    row = _throttle(session, channel, external_id)
    if _throttled(row, now):
        return LinkOutcome.THROTTLED, None
    link = session.exec(
        select(HelperLink).where(HelperLink.code_hash == _hash(cipher, normalize_link_code(raw)))
    ).first()
    helper = session.get(Helper, link.helper_id) if link else None
    outcome = _outcome(link, helper, now)
    if outcome is not LinkOutcome.OK:
        _fail(session, row, channel, external_id, now)
        return outcome, None
    return outcome, helper


def _outcome(link: HelperLink | None, helper: Helper | None, now: datetime) -> LinkOutcome:
    if link is None or helper is None or helper.state != HelperState.ACTIVE:
        return LinkOutcome.UNKNOWN
    if link.used_at is not None:
        return LinkOutcome.USED
    if now >= link.expires_at:
        return LinkOutcome.EXPIRED
    return LinkOutcome.OK


def redeem_link_code(
    session: Session, cipher: FieldCipher, raw: str, *, channel: str, external_id: str,
    now: datetime,
) -> Helper | None:  # fmt: skip
    """Use the code (once) and link the chat to its helper; ``None`` if it cannot be used.

    Call only after :func:`check_link_code` said OK and the helper confirmed their name.
    """
    code_hash = _hash(cipher, normalize_link_code(raw))
    result = session.execute(
        update(HelperLink)
        .where(
            col(HelperLink.code_hash) == code_hash,
            col(HelperLink.used_at).is_(None),
            col(HelperLink.expires_at) > now,
        )
        .values(used_at=now, used_channel=channel[:32])
    )
    if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return None
    link = session.exec(select(HelperLink).where(HelperLink.code_hash == code_hash)).one()
    helper = session.get(Helper, link.helper_id)
    if helper is None or helper.state != HelperState.ACTIVE:
        return None
    # One chat, one helper: a phone handed on to a successor links the successor only.
    session.execute(
        update(Helper)
        .where(
            col(Helper.chat_channel) == channel,
            col(Helper.chat_external_id) == external_id,
            col(Helper.id) != helper.id,
        )
        .values(chat_channel=None, chat_external_id=None, linked_at=None, updated_at=now)
    )
    helper.chat_channel, helper.chat_external_id = channel, external_id
    helper.linked_at = helper.updated_at = now
    session.add(helper)
    audit.record(
        session, actor=f"helper:{helper.id}", action="helper.chat_linked",
        subject_kind="helper", subject_id=int(helper.id or 0), at=now, data={"channel": channel},
    )  # fmt: skip
    return helper


# --- the same codes for cadre accounts (the daily digest's chat) ---------------------------


@dataclass(frozen=True)
class LinkTarget:
    """Whom a code links: a helper (reminders, the visit log) or a cadre (the digest)."""

    kind: str  # "helper" or "user"
    id: int
    name: str


def new_user_link_code(
    session: Session, cipher: FieldCipher, *, user_id: int, actor: str, now: datetime
) -> str:
    """A code for a cadre's account (``hotline user invite``), as :func:`new_link_code`."""
    link = functools.partial(UserLink, user_id=user_id)
    return _issue(session, cipher, link, "user", user_id, actor=actor, now=now)


def _user_outcome(link: UserLink | None, user: User | None, now: datetime) -> LinkOutcome:
    if link is None or user is None or user.disabled_at is not None:
        return LinkOutcome.UNKNOWN
    if link.used_at is not None:
        return LinkOutcome.USED
    if now >= link.expires_at:
        return LinkOutcome.EXPIRED
    return LinkOutcome.OK


def check_chat_link(
    session: Session, cipher: FieldCipher, raw: str, *, channel: str, external_id: str,
    now: datetime,
) -> tuple[LinkOutcome, LinkTarget | None]:  # fmt: skip
    """:func:`check_link_code` for a code of either kind (one throttle per chat)."""
    code_hash = _hash(cipher, normalize_link_code(raw))
    user_link = session.exec(select(UserLink).where(UserLink.code_hash == code_hash)).first()
    if user_link is None:
        outcome, helper = check_link_code(
            session, cipher, raw, channel=channel, external_id=external_id, now=now
        )
        if helper is None:
            return outcome, None
        return outcome, LinkTarget("helper", int(helper.id or 0), helper.name)
    row = _throttle(session, channel, external_id)
    if _throttled(row, now):
        return LinkOutcome.THROTTLED, None
    user = session.get(User, user_link.user_id)
    outcome = _user_outcome(user_link, user, now)
    if outcome is not LinkOutcome.OK or user is None:
        _fail(session, row, channel, external_id, now)
        return outcome, None
    return outcome, LinkTarget("user", int(user.id or 0), user.display_name)


def redeem_chat_link(
    session: Session, cipher: FieldCipher, raw: str, *, channel: str, external_id: str,
    now: datetime,
) -> LinkTarget | None:  # fmt: skip
    """:func:`redeem_link_code` for a code of either kind; a cadre's chat then gets the
    daily digest."""
    code_hash = _hash(cipher, normalize_link_code(raw))
    if session.exec(select(UserLink.id).where(UserLink.code_hash == code_hash)).first() is None:
        helper = redeem_link_code(
            session, cipher, raw, channel=channel, external_id=external_id, now=now
        )
        return LinkTarget("helper", int(helper.id or 0), helper.name) if helper else None
    result = session.execute(
        update(UserLink)
        .where(
            col(UserLink.code_hash) == code_hash,
            col(UserLink.used_at).is_(None),
            col(UserLink.expires_at) > now,
        )
        .values(used_at=now, used_channel=channel[:32])
    )
    if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return None
    link = session.exec(select(UserLink).where(UserLink.code_hash == code_hash)).one()
    user = session.get(User, link.user_id)
    if user is None or user.disabled_at is not None:
        return None
    user.chat_channel, user.chat_external_id = channel, external_id
    session.add(user)
    audit.record(
        session, actor=f"user:{user.id}", action="user.chat_linked", subject_kind="user",
        subject_id=int(user.id or 0), at=now, data={"channel": channel},
    )  # fmt: skip
    return LinkTarget("user", int(user.id or 0), user.display_name)
