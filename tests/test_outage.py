"""Telling the database's own conflicts apart: a real PostgreSQL deadlock is a conflict
(run the transaction again), a constraint violation is not."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from intake.outage import is_conflict, is_outage


def test_a_real_deadlock_is_a_conflict_to_retry(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: it waits, it never deadlocks")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE pair (id int primary key, n int)"))
        conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    both_hold = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def lock(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :i"), {"i": first})
                both_hold.wait()
                conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :i"), {"i": second})
        except DBAPIError as error:
            errors.append(error)

    threads = [threading.Thread(target=lock, args=order) for order in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(errors) == 1, "PostgreSQL aborts one of the two"
    assert is_conflict(errors[0]) and is_outage(errors[0])
    with pytest.raises(DBAPIError) as duplicate, engine.begin() as conn:
        conn.execute(text("INSERT INTO pair VALUES (1, 0)"))
    assert not is_conflict(duplicate.value)
    engine.dispose()
