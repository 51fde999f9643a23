"""Logging in to the cadre pages: a growing delay per username, a limit per address.

Two things slow down guessing, and neither lets a stranger lock a cadre out:

- **Per username, a growing delay.** The first :attr:`Throttle.free_failures` wrong
  passwords cost nothing; each further one makes the next attempt wait twice as long as
  the last (1, 2, 4… minutes, at most an hour). An attempt inside the wait is refused
  unchecked, with the time to come back. But a cadre at their **usual address** (one they
  have logged in from before, as the audit log records) still gets in with the right
  password: someone guessing at their name from elsewhere cannot keep them out.
- **Per client address, a hard limit**: :attr:`Throttle.max_address_failures` failures in
  :attr:`Throttle.window` lock the address for :attr:`Throttle.lockout`. It is high, as a
  whole township office often shares one address, and it stops one machine spraying
  guesses over many names (or at a name from its owner's usual address).

The address is the one the web server reports: forwarded headers count only from trusted
proxies (``HOTLINE_TRUSTED_PROXIES``), so a client cannot pick a fresh one per guess.
A lockout (an address locked, a username delayed) is recorded in the audit log with the
address, never with a password; a username that matches no user is not recorded, since
people type passwords into the name field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from intake import audit
from intake.audit import AuditEvent
from intake.users import LoginThrottle, User, find_user, needs_rehash, rehash, verify_password

__all__ = ["LoginRefused", "Throttle", "authenticate", "usual_address"]

_USER = "user:"
_ADDRESS = "ip:"


@dataclass(frozen=True)
class Throttle:
    """The login limits (see the module's docstring for why each is what it is)."""

    free_failures: int = 5
    first_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=1)
    #: A username's run of failures is forgotten this long after it began (or on success).
    user_memory: timedelta = timedelta(hours=24)
    max_address_failures: int = 30
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    #: Logins older than this, or beyond the last :attr:`usual_logins`, make no usual address.
    usual_memory: timedelta = timedelta(days=90)
    usual_logins: int = 50

    def delay(self, failures: int) -> timedelta | None:
        """The wait after the ``failures``-th failure in a row (None: no wait yet)."""
        if failures < self.free_failures:
            return None
        doublings = min(failures - self.free_failures, 20)
        return min(self.first_delay * (1 << doublings), self.max_delay)


@dataclass(frozen=True)
class LoginRefused:
    """Why a login failed: ``invalid`` (wrong name or password), ``delayed`` (the username
    waits) or ``locked`` (the address waits); ``retry_at`` says until when, if anything waits."""

    reason: str
    retry_at: datetime | None = None


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    client: str,
    now: datetime,
    rules: Throttle = Throttle(),
) -> User | LoginRefused:
    """The user if the password is right and nothing waits; otherwise why not.

    Refused unchecked while the address is locked, or while the username waits and the
    address is not one the user logged in from before. A failure counts for both keys; a
    success clears the username's run only: an address's count runs out with its window,
    so one valid account cannot keep clearing it while guessing at others.
    """
    name = username.strip().lower()[:64]
    user_row = _row(session, f"{_USER}{name}", now)
    address_row = _row(session, f"{_ADDRESS}{client}"[:160], now)
    if _waiting(address_row, now):
        return LoginRefused("locked", address_row.locked_until)
    user = find_user(session, name)
    if _waiting(user_row, now) and not (user and usual_address(session, user, client, now, rules)):
        return LoginRefused("delayed", user_row.locked_until)
    if not verify_password(user, password) or user is None or not user.active:
        _fail_address(session, address_row, client, now, rules)
        _fail_user(session, user_row, user, client, now, rules)
        retry = user_row.locked_until if _waiting(user_row, now) else None
        return LoginRefused("invalid", retry)
    _succeed(session, user_row, user, password, client, now)
    return user


def usual_address(
    session: Session, user: User, client: str, now: datetime, rules: Throttle = Throttle()
) -> bool:
    """Whether ``user`` logged in from ``client`` lately (the audit log's ``user.login``)."""
    assert user.id is not None
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.subject_kind == "user",
            AuditEvent.subject_id == user.id,
            AuditEvent.action == "user.login",
            col(AuditEvent.at) >= now - rules.usual_memory,
        )
        .order_by(col(AuditEvent.at).desc())
        .limit(rules.usual_logins)
    )
    return any(event.data.get("address") == client for event in session.exec(query))


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked for this transaction on PostgreSQL so that concurrent
    failures all count (SQLite's writers queue anyway); a new one if there is none."""
    query = select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    row = session.exec(query).first()
    return row or LoginThrottle(key=key, failures=0, window_start=now)


def _waiting(row: LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _count(session: Session, row: LoginThrottle, now: datetime, memory: timedelta) -> None:
    """One more failure in the row's run (a new run once the old one is past ``memory``)."""
    if now - row.window_start > memory:
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    session.add(row)
    session.flush()  # the row's id, for the audit log


def _fail_address(
    session: Session, row: LoginThrottle, client: str, now: datetime, rules: Throttle
) -> None:
    _count(session, row, now, rules.window)
    if row.failures < rules.max_address_failures:
        return
    row.locked_until = now + rules.lockout
    session.add(row)
    _record(session, "login.address_locked", "login_throttle", row.id, now, row, client)


def _fail_user(
    session: Session,
    row: LoginThrottle,
    user: User | None,
    client: str,
    now: datetime,
    rules: Throttle,
) -> None:
    _count(session, row, now, rules.user_memory)
    wait = rules.delay(row.failures)
    if wait is None:
        return
    row.locked_until = now + wait
    session.add(row)
    if user is not None:  # an unknown name may be a password typed in the wrong field
        _record(session, "user.login_delayed", "user", user.id, now, row, client)


def _succeed(
    session: Session, row: LoginThrottle, user: User, password: str, client: str, now: datetime
) -> None:
    """Clear the username's run, upgrade an old hash, and record the login's address
    (which makes it a usual address for next time)."""
    if row.id is not None:
        row.failures, row.locked_until = 0, None
        session.add(row)
    if needs_rehash(user):
        rehash(user, password)
        session.add(user)
    assert user.id is not None
    audit.record(
        session,
        actor=audit.user_actor(user.id),
        action="user.login",
        subject_kind="user",
        subject_id=user.id,
        at=now,
        data={"address": client},
    )


def _record(
    session: Session,
    action: str,
    subject_kind: str,
    subject_id: int | None,
    now: datetime,
    row: LoginThrottle,
    client: str,
) -> None:
    assert subject_id is not None
    data: dict[str, Any] = {
        "address": client,
        "failures": row.failures,
        "until": row.locked_until.isoformat() if row.locked_until else None,
    }
    audit.record(
        session,
        actor=audit.SYSTEM,
        action=action,
        subject_kind=subject_kind,
        subject_id=subject_id,
        at=now,
        data=data,
    )
