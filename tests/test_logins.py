"""Login limits: a growing delay per username that never keeps a cadre out of their usual
address, a hard limit per address, and every lockout in the audit log. On SQLite and
PostgreSQL, with the fake clock.
"""

from __future__ import annotations

from datetime import timedelta

from cadre_support import PASSWORD, VILLAGE_A, add_user
from conftest import FakeClock
from sqlmodel import select

from bot.services import Services
from intake.audit import AuditEvent
from intake.logins import LoginRefused, Throttle, authenticate, usual_address
from intake.users import Role, User

OFFICE = "10.20.30.40"  # the village office, where the cadre always logs in
ELSEWHERE = "203.0.113.9"
RULES = Throttle()
#: The address limit, lower than the default's 30 so that fewer Argon2 runs test it.
FEW = Throttle(max_address_failures=8)


def _login(
    services: Services, name: str, password: str, client: str, rules: Throttle = RULES
) -> User | LoginRefused:
    with services.db.write() as db:
        return authenticate(db, name, password, client=client, now=services.clock(), rules=rules)


def _guess(services: Services, name: str, n: int, first_address: int = 1) -> None:
    """``n`` wrong passwords for ``name``, each from a fresh address (a botnet)."""
    for i in range(first_address, first_address + n):
        result = _login(services, name, "guess guess", f"198.51.{i // 250}.{i % 250 + 1}")
        assert isinstance(result, LoginRefused), i


def _audit(services: Services, action: str) -> list[AuditEvent]:
    with services.db.read() as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_each_failure_past_the_free_ones_doubles_the_wait(
    services: Services, clock: FakeClock
) -> None:
    add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    for n in range(1, RULES.free_failures):
        assert _login(services, "wang", "typo typo", ELSEWHERE) == LoginRefused("invalid"), n
    waits = []
    for _ in range(10):
        refused = _login(services, "wang", "typo typo", ELSEWHERE)
        assert isinstance(refused, LoginRefused) and refused.reason == "invalid"
        assert refused.retry_at is not None
        waits.append(refused.retry_at - clock.now)
        inside = _login(services, "wang", PASSWORD, ELSEWHERE)
        assert inside == LoginRefused("delayed", refused.retry_at), "refused unchecked"
        clock.now = refused.retry_at
    minute = timedelta(minutes=1)
    assert waits == [minute * m for m in (1, 2, 4, 8, 16, 32)] + [RULES.max_delay] * 4
    assert isinstance(_login(services, "wang", PASSWORD, ELSEWHERE), User), "the wait ended"
    assert _login(services, "wang", "typo typo", ELSEWHERE) == LoginRefused("invalid"), (
        "a success starts the count again"
    )


def test_a_stranger_guessing_cannot_keep_a_cadre_out_of_the_usual_address(
    services: Services,
) -> None:
    add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    assert isinstance(_login(services, "wang", PASSWORD, OFFICE), User)
    _guess(services, "wang", RULES.free_failures)
    assert _login(services, "wang", PASSWORD, ELSEWHERE).reason == "delayed"  # type: ignore[union-attr]
    assert isinstance(_login(services, "wang", PASSWORD, OFFICE), User), "the office still works"
    assert isinstance(_login(services, "wang", PASSWORD, ELSEWHERE), User), "the run was cleared"


def test_the_usual_address_still_needs_the_right_password(
    services: Services, clock: FakeClock
) -> None:
    add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    assert isinstance(_login(services, "wang", PASSWORD, OFFICE), User)
    _guess(services, "wang", RULES.free_failures)
    refused = _login(services, "wang", "still wrong", OFFICE)
    assert isinstance(refused, LoginRefused) and refused.reason == "invalid"
    assert refused.retry_at == clock.now + 2 * RULES.first_delay, "it counted, too"


def test_an_address_is_usual_only_for_the_account_that_logged_in_from_it(
    services: Services, clock: FakeClock
) -> None:
    wang = add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    li = add_user(services, "li", Role.VILLAGE, VILLAGE_A)
    assert isinstance(_login(services, "wang", PASSWORD, OFFICE), User)
    _guess(services, "li", RULES.free_failures)
    assert _login(services, "li", PASSWORD, OFFICE).reason == "delayed"  # type: ignore[union-attr]
    with services.db.read() as db:
        assert usual_address(db, wang, OFFICE, clock.now)
        assert not usual_address(db, li, OFFICE, clock.now)
        assert not usual_address(db, wang, OFFICE, clock.now + RULES.usual_memory * 2)


def test_unknown_usernames_wait_like_real_ones(services: Services) -> None:
    _guess(services, "nobody", RULES.free_failures)
    refused = _login(services, "nobody", PASSWORD, ELSEWHERE)
    assert isinstance(refused, LoginRefused) and refused.reason == "delayed"


def test_one_address_is_locked_after_many_failures_over_many_names(
    services: Services, clock: FakeClock
) -> None:
    add_user(services, "zhou", Role.VILLAGE, VILLAGE_A)
    assert isinstance(_login(services, "zhou", PASSWORD, OFFICE), User)
    for n in range(FEW.max_address_failures):
        refused = _login(services, f"name{n}", "spray spray", OFFICE, FEW)
        assert refused == LoginRefused("invalid"), n
    locked = _login(services, "zhou", PASSWORD, OFFICE, FEW)
    assert locked == LoginRefused("locked", clock.now + FEW.lockout), "even the usual address"
    assert isinstance(_login(services, "zhou", PASSWORD, ELSEWHERE, FEW), User)
    clock.advance(seconds=FEW.lockout.total_seconds())
    assert isinstance(_login(services, "zhou", PASSWORD, OFFICE, FEW), User)


def test_failures_are_forgotten_a_day_after_they_began(
    services: Services, clock: FakeClock
) -> None:
    add_user(services, "zhao", Role.VILLAGE, VILLAGE_A)
    _guess(services, "zhao", RULES.free_failures - 1)
    clock.advance(seconds=RULES.user_memory.total_seconds() + 1)
    refused = _login(services, "zhao", "typo typo", ELSEWHERE)
    assert refused == LoginRefused("invalid"), "a new run: the first failure of it"


def test_lockouts_are_recorded_with_the_address_never_the_password(
    services: Services, clock: FakeClock
) -> None:
    wang = add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    _guess(services, "wang", RULES.free_failures)
    clock.advance(seconds=RULES.first_delay.total_seconds())
    _guess(services, "wang", 1, first_address=99)  # the wait over: a failure that counts
    _guess(services, "pass-word-typed-here", RULES.free_failures)
    for n in range(FEW.max_address_failures):
        _login(services, f"name{n}", "spray spray", ELSEWHERE, FEW)
    delayed = _audit(services, "user.login_delayed")
    assert [(e.subject_kind, e.subject_id, e.actor) for e in delayed] == [
        ("user", wang.id, "system")
    ] * 2
    assert delayed[0].data["failures"] == RULES.free_failures
    assert delayed[0].data["address"].startswith("198.51.")
    locked = _audit(services, "login.address_locked")
    assert len(locked) == 1 and locked[0].data["address"] == ELSEWHERE
    assert locked[0].data["until"] == (clock.now + FEW.lockout).isoformat()
    with services.db.read() as db:
        everything = " ".join(str(e.data) for e in db.exec(select(AuditEvent)))
    assert "guess guess" not in everything and "spray" not in everything
    assert "pass-word-typed-here" not in everything, "an unknown name is not recorded"


def test_a_login_records_its_address(services: Services) -> None:
    user = add_user(services, "wang", Role.VILLAGE, VILLAGE_A)
    assert isinstance(_login(services, "wang", PASSWORD, OFFICE), User)
    logins = _audit(services, "user.login")
    assert [(e.subject_id, e.actor, e.data) for e in logins] == [
        (user.id, f"user:{user.id}", {"address": OFFICE})
    ]
