"""Cadre accounts: roles, scopes and Argon2 passwords (logging in: :mod:`intake.logins`).

A user has one role and the scope that role needs:

=============  ==============================  ==========================================
role           scope                           may
=============  ==============================  ==========================================
``village``    one village (``village_code``)  see and act on that village's items
``township``   one township                    every village of it, and the township's own
``county``     one region (policy file)        every township of the region
``operator``   one region                      read the queue (hotline calls), never act
``admin``      everything                      everything
=============  ==============================  ==========================================

:meth:`Scope.where` turns a scope into a SQL condition, so every query of the cadre pages
and exports is filtered in the database; :meth:`Scope.allows` checks one loaded item.

Example::

    >>> scope = Scope(Role.VILLAGE, "gangkou", "gangkou", "gangkou-bailing")
    >>> scope.allows_place("gangkou", "gangkou", "gangkou-hengling")
    False
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, UniqueConstraint, false, true
from sqlmodel import Field, Session, SQLModel, col, select

from intake import audit
from intake.columns import utc_column, utcnow
from intake.policy import Policy
from intake.queue import QueueItem

__all__ = [
    "LoginThrottle",
    "Role",
    "Scope",
    "User",
    "UserError",
    "create_user",
    "disable_user",
    "end_sessions",
    "find_user",
    "link_chat",
    "list_users",
    "needs_rehash",
    "rehash",
    "reset_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10
_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so both paths cost one Argon2 run.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    """What a user is, which decides the scope they need and what they may do."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"
    OPERATOR = "operator"
    ADMIN = "admin"


class UserError(ValueError):
    """A user command that cannot be carried out (unknown place, short password…)."""


class User(SQLModel, table=True):
    """A cadre, an operator or an administrator who logs in to the cadre pages."""

    __tablename__ = "cadre_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    region_code: str | None = Field(default=None, max_length=64)
    township_code: str | None = Field(default=None, max_length=64)
    village_code: str | None = Field(default=None, max_length=64)
    language: str = Field(default="zh_CN", max_length=16)
    #: Bumped by logging out, a password reset or disabling: every older session cookie
    #: stops working.
    session_epoch: int = 0
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    #: A chat account for the daily digest (e.g. ``telegram`` + chat id).
    chat_channel: str | None = Field(default=None, max_length=32)
    chat_external_id: str | None = Field(default=None, max_length=128)
    last_digest_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())

    @property
    def active(self) -> bool:
        """Whether the user may log in."""
        return self.disabled_at is None

    def scope(self) -> Scope:
        """The places this user may see."""
        return Scope(Role(self.role), self.region_code, self.township_code, self.village_code)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per key (``user:<name>``, ``ip:<address>``) in the current run, which
    began at ``window_start``; ``locked_until`` ends the key's wait (see
    :mod:`intake.logins`)."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("key", name="uq_login_throttle_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160)
    failures: int = 0
    window_start: datetime = Field(sa_column=utc_column())
    locked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


@dataclass(frozen=True)
class Scope:
    """The places a user may see; ``None`` parts are not restricted (per the role)."""

    role: Role
    region_code: str | None
    township_code: str | None
    village_code: str | None

    @property
    def can_act(self) -> bool:
        """Operators only read; everyone else may act within their scope."""
        return self.role is not Role.OPERATOR

    def allows_place(self, region: str | None, township: str | None, village: str | None) -> bool:
        """Whether a thing in this region / township / village is inside the scope."""
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.VILLAGE:
            return village is not None and village == self.village_code
        if self.role is Role.TOWNSHIP:
            return township == self.township_code
        return region == self.region_code

    def allows(self, item: QueueItem) -> bool:
        """Whether ``item`` is inside the scope."""
        return self.allows_place(item.region_code, item.township_code, item.village_code)

    def where(self) -> ColumnElement[bool]:
        """A SQL condition on :class:`QueueItem` selecting the scope's items."""
        if self.role is Role.ADMIN:
            return true()
        if self.role is Role.VILLAGE:
            if self.village_code is None:
                return false()
            return col(QueueItem.village_code) == self.village_code
        if self.role is Role.TOWNSHIP:
            return col(QueueItem.township_code) == self.township_code
        return col(QueueItem.region_code) == self.region_code

    def villages(self, policies: dict[str, Policy]) -> list[tuple[str, str]]:
        """``(code, name)`` of the villages in scope, for filters and exports."""
        found: list[tuple[str, str]] = []
        for policy in policies.values():
            for township, village in policy.villages():
                if self.allows_place(policy.region.code, township.code, village.code):
                    found.append((village.code, village.name))
        return found


def _place(
    policies: dict[str, Policy], role: Role, place: str | None
) -> tuple[str | None, str | None, str | None]:
    """``(region, township, village)`` for a role and the code of its place."""
    if role is Role.ADMIN:
        return None, None, None
    if not place:
        raise UserError(f"role {role.value} needs a place (--place)")
    for policy in policies.values():
        region = policy.region.code
        if role in (Role.COUNTY, Role.OPERATOR) and region == place:
            return region, None, None
        for township in policy.townships:
            if role is Role.TOWNSHIP and township.code == place:
                return region, township.code, None
            for village in township.villages:
                if role is Role.VILLAGE and village.code == place:
                    return region, township.code, village.code
    raise UserError(f"no {role.value} place with code {place!r}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def find_user(session: Session, username: str) -> User | None:
    """The user with this (case-insensitive) username."""
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    place: str | None,
    policies: dict[str, Policy],
    display_name: str | None = None,
    language: str = "zh_CN",
    actor: str = audit.SYSTEM,
    now: datetime | None = None,
) -> User:
    """Add a user; ``place`` is the village, township or region code the role needs."""
    name = username.strip().lower()
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError("a username is letters, digits, '-', '_' or '.'")
    if find_user(session, name) is not None:
        raise UserError(f"user {name!r} exists already")
    _check_password(password)
    region, township, village = _place(policies, role, place)
    user = User(
        username=name,
        display_name=(display_name or name)[:64],
        password_hash=_HASHER.hash(password),
        role=role.value,
        region_code=region,
        township_code=township,
        village_code=village,
        language=language,
        created_at=now or utcnow(),
    )
    session.add(user)
    session.flush()
    _audit(session, user, actor, "user.created", now, {"role": role.value, "place": place})
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by username."""
    return list(session.exec(select(User).order_by(col(User.username))))


def disable_user(session: Session, username: str, *, actor: str, now: datetime) -> User:
    """Refuse further logins and end the user's sessions."""
    user = _existing(session, username)
    user.disabled_at = now
    user.session_epoch += 1
    session.add(user)
    _audit(session, user, actor, "user.disabled", now)
    return user


def reset_password(
    session: Session, username: str, password: str, *, actor: str, now: datetime
) -> User:
    """Set a new password, re-enable the user and end their old sessions."""
    user = _existing(session, username)
    _check_password(password)
    user.password_hash = _HASHER.hash(password)
    user.session_epoch += 1
    user.disabled_at = None
    session.add(user)
    _audit(session, user, actor, "user.password_reset", now)
    return user


def end_sessions(session: Session, user_id: int, *, now: datetime) -> User | None:
    """Log the user out everywhere: every session cookie issued so far stops working.

    A cookie is signed, not stored, so logging out cannot forget one cookie; bumping the
    epoch it carries ends them all (a copied cookie too), on every device of the user.
    """
    user = session.get(User, user_id)
    if user is None:
        return None
    user.session_epoch += 1
    session.add(user)
    _audit(session, user, audit.user_actor(user_id), "user.logout", now)
    return user


def link_chat(
    session: Session, username: str, channel: str, external_id: str, *, actor: str, now: datetime
) -> User:
    """Link a chat account where the daily digest is sent."""
    user = _existing(session, username)
    user.chat_channel = channel.strip() or None
    user.chat_external_id = external_id.strip() or None
    session.add(user)
    _audit(session, user, actor, "user.chat_linked", now, {"channel": user.chat_channel})
    return user


def _existing(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _audit(
    session: Session,
    user: User,
    actor: str,
    action: str,
    now: datetime | None,
    data: dict[str, Any] | None = None,
) -> None:
    assert user.id is not None
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_kind="user",
        subject_id=user.id,
        at=now,
        data=data,
    )


def verify_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; with no user, as slow as with one (Argon2 over a
    dummy hash), so the answer's timing does not tell which usernames exist."""
    try:
        return _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(user: User) -> bool:
    """Whether the user's hash was made with weaker Argon2 settings than today's."""
    return _HASHER.check_needs_rehash(user.password_hash)


def rehash(user: User, password: str) -> None:
    """Hash the (just verified) password again with today's settings."""
    user.password_hash = _HASHER.hash(password)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF or similar token."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
