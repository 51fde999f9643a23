"""The database being away, told apart from our code failing.

A message that cannot be stored because the database is unreachable must not be answered
as if it were kept: the route answers 503 and the sender (Telegram, an integrator, an SMS
gateway) delivers it again. :func:`outage_guard` turns the errors that mean "away" into
:class:`StorageUnavailable`; every other error is left to the caller, for it is ours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["StorageUnavailable", "is_conflict", "is_outage", "outage_guard"]
#: PostgreSQL's SQLSTATEs for a transaction aborted to break a deadlock or a serialization
#: conflict: nothing was committed, and running it again is the remedy.
_CONFLICTS = frozenset({"40P01", "40001"})
log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The database could not be reached: the message was not answered; send it again.

    The message is either not stored at all or stored and still waiting; either way the
    redelivery answers it. Channels turn this into a 503 (Telegram and integrators retry).
    """


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the database is away or overloaded, rather than our code failed.

    Connection refused or dropped, a locked, unreadable or missing SQLite file, an exhausted
    pool, a deadlock or serialization failure: all ``OperationalError`` or ``InterfaceError``
    (or an error that invalidated its connection), and all worth retrying as they are.
    """
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` is the database aborting a transaction to break a deadlock (or a
    serialization conflict) with another one: run it again."""
    orig = getattr(error, "orig", None)
    return isinstance(error, DBAPIError) and getattr(orig, "sqlstate", None) in _CONFLICTS


@contextmanager
def outage_guard() -> Iterator[None]:
    """Turn the database being away into :class:`StorageUnavailable`, logged by kind only.

    Only the exception's class name is logged: a driver's message quotes the statement's
    parameters, and those can hold a sender's phone number.
    """
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as error:
        if not is_outage(error):
            raise
        log.warning("database unavailable: %s", type(error).__name__)
        raise StorageUnavailable(type(error).__name__) from error
