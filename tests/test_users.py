"""Accounts: Argon2 passwords, scopes and the ``hotline user`` commands (login limits:
test_logins.py)."""

from __future__ import annotations

import pytest
from cadre_support import PASSWORD, VILLAGE_A, VILLAGE_B, add_user
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import Settings
from bot.services import Services
from intake.audit import AuditEvent
from intake.logins import authenticate
from intake.queue import QueueItem
from intake.users import (
    Role,
    Scope,
    User,
    UserError,
    create_user,
    disable_user,
    find_user,
    reset_password,
)


def _login(services: Services, name: str, password: str, client: str = "1.2.3.4") -> User | str:
    """The user, or why not (``invalid``, ``delayed``, ``locked``)."""
    with services.db.write() as db:
        result = authenticate(db, name, password, client=client, now=services.clock())
    return result if isinstance(result, User) else result.reason


def test_password_is_hashed_with_argon2id(services: Services) -> None:
    user = add_user(services, "Zhang", Role.VILLAGE, VILLAGE_A, display_name="张三")
    assert user.username == "zhang" and user.display_name == "张三"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert isinstance(_login(services, "ZHANG ", PASSWORD), User)
    assert _login(services, "zhang", "wrong password") == "invalid"
    assert _login(services, "nobody", PASSWORD) == "invalid"


@pytest.mark.parametrize(
    ("role", "place", "problem"),
    [
        (Role.VILLAGE, None, "needs a place"),
        (Role.VILLAGE, "gangkou", "no village place"),
        (Role.TOWNSHIP, VILLAGE_A, "no township place"),
        (Role.COUNTY, "nowhere", "no county place"),
    ],
)
def test_a_role_needs_its_kind_of_place(
    services: Services, role: Role, place: str | None, problem: str
) -> None:
    with services.db.write() as db, pytest.raises(UserError, match=problem):
        create_user(
            db, username="x", password=PASSWORD, role=role, place=place, policies=services.policies
        )


def test_short_password_and_duplicate_names_are_refused(services: Services) -> None:
    add_user(services, "li", Role.TOWNSHIP, "gangkou")
    with services.db.write() as db, pytest.raises(UserError, match="at least"):
        create_user(
            db,
            username="wu",
            password="short",
            role=Role.ADMIN,
            place=None,
            policies=services.policies,
        )
    with services.db.write() as db, pytest.raises(UserError, match="exists"):
        create_user(
            db,
            username="LI",
            password=PASSWORD,
            role=Role.ADMIN,
            place=None,
            policies=services.policies,
        )


def test_scopes() -> None:
    def item(village: str | None, township: str = "gangkou", region: str = "gangkou") -> QueueItem:
        return QueueItem(
            kind="application",
            status="submitted",
            tracking_code="x",
            region_code=region,
            township_code=township,
            village_code=village,
        )

    village = Scope(Role.VILLAGE, "gangkou", "gangkou", VILLAGE_A)
    township = Scope(Role.TOWNSHIP, "gangkou", "gangkou", None)
    county = Scope(Role.COUNTY, "boluo", None, None)
    assert village.allows(item(VILLAGE_A)) and not village.allows(item(VILLAGE_B))
    assert not village.allows(item(None)), "a complaint to the township is not the village's"
    assert township.allows(item(None)) and township.allows(item(VILLAGE_B))
    assert not township.allows(item("boluo-x", "boluo-sample", "boluo"))
    assert county.allows(item("boluo-x", "boluo-sample", "boluo")) and not county.allows(
        item(VILLAGE_A)
    )
    assert Scope(Role.ADMIN, None, None, None).allows(item(VILLAGE_B))
    assert not Scope(Role.OPERATOR, "gangkou", None, None).can_act


def test_disable_and_reset(services: Services) -> None:
    user = add_user(services, "chen", Role.VILLAGE, VILLAGE_A)
    with services.db.write() as db:
        disable_user(db, "chen", actor="cli", now=services.clock())
    assert _login(services, "chen", PASSWORD) == "invalid"
    with services.db.write() as db:
        reset_password(db, "chen", "a new long password", actor="cli", now=services.clock())
    assert isinstance(_login(services, "chen", "a new long password"), User)
    with services.db.read() as db:
        again = find_user(db, "chen")
        actions = [
            e.action for e in db.exec(select(AuditEvent).where(AuditEvent.subject_kind == "user"))
        ]
    assert again is not None and again.session_epoch == user.session_epoch + 2
    assert {"user.created", "user.disabled", "user.password_reset", "user.login"} <= set(actions)


def test_cli_add_list_link_disable_reset(cli_env: Settings) -> None:
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli, list(args), input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("user", "add", "cun1", "--role", "village", "--place", VILLAGE_A, "--name", "张村",
        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    out = run("user", "add", "xiang", "--role", "township", "--place", "gangkou", "--generate")
    assert "password: " in out
    run("user", "add", "root", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert "/start h_" in run("user", "invite", "cun1")  # redeemed in the chat: test_cli_users
    listing = run("user", "list")
    assert "cun1\tvillage\tgangkou-bailing\tactive\t张村" in listing
    assert "xiang\ttownship\tgangkou\tactive" in listing and "root\tadmin\t*\tactive" in listing
    run("user", "disable", "cun1")
    assert "cun1\tvillage\tgangkou-bailing\tdisabled" in run("user", "list")
    run("user", "reset-password", "cun1", "--password-stdin", stdin="another long one\n")
    assert "cun1\tvillage\tgangkou-bailing\tactive" in run("user", "list")
    bad = runner.invoke(cli, ["user", "add", "x", "--role", "mayor", "--generate"])
    assert bad.exit_code == 2 and "unknown role" in bad.output
    bad = runner.invoke(cli, ["user", "disable", "ghost"])
    assert bad.exit_code == 2 and "no user" in bad.output
