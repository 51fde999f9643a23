"""``hotline user``: add, list, disable and reset cadre accounts; invite a chat for digests.

Examples::

    hotline user add zhang --role village --place gangkou-bailing --name 张三
    hotline user add team1 --role township --place gangkou
    hotline user add county --role county --place gangkou
    hotline user list
    hotline user reset-password zhang
    hotline user invite zhang
    hotline user disable zhang

``invite`` prints a one-time code (72 hours) that the cadre sends to the bot, or a
Telegram deep link that does it: the chat that redeems it and confirms the name is the one
that gets the digest. No chat id typed by someone else is trusted.

Passwords are asked twice without echo (or read from ``--password-stdin`` for scripts);
``--generate`` prints a random one instead. Every change is written to the audit log.
"""

from __future__ import annotations

import secrets
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.config import Settings

if TYPE_CHECKING:
    from bot.services import Services

user_app = typer.Typer(help="Cadre accounts for the web pages.", no_args_is_help=True)

Role = Annotated[
    str, typer.Option(help="village, township, county, operator or admin.", case_sensitive=False)
]
Place = Annotated[
    str | None,
    typer.Option(
        help="Village code (village), township code (township), region (county/operator)."
    ),
]


def _services() -> Services:
    from bot.services import build_services

    return build_services(Settings())


def _password(generate: bool, from_stdin: bool) -> str:
    """The new password; a generated one is printed by the caller once the change holds."""
    if generate:
        return secrets.token_urlsafe(12)
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@user_app.command("add")
def add(
    username: str,
    role: Role,
    place: Place = None,
    name: Annotated[str | None, typer.Option(help="Name shown in the timeline.")] = None,
    language: Annotated[str, typer.Option(help="zh_CN or en.")] = "zh_CN",
    generate: Annotated[bool, typer.Option(help="Print a random password.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a user with a role and the place the role needs."""
    from intake.users import Role as Roles
    from intake.users import UserError, create_user

    try:
        wanted = Roles(role.lower())
    except ValueError:
        _fail(f"unknown role {role!r}")
        return
    services = _services()
    password = _password(generate, password_stdin)
    try:
        with services.db.write() as db:
            user = create_user(
                db,
                username=username,
                password=password,
                role=wanted,
                place=place,
                policies=services.policies,
                display_name=name,
                language=language,
                actor="cli",
                now=services.clock(),
            )
            typer.echo(f"added {user.username} ({user.role})")
    except UserError as error:
        _fail(f"{error}{_places_hint(services, wanted)}")
    if generate:
        typer.echo(f"password: {password}")


def _places_hint(services: Services, role: object) -> str:
    """The codes a village or township account may name, for the error message."""
    kind = getattr(role, "value", "")
    if kind == "village":
        codes = [
            v.code for p in services.policies.values() for t in p.townships for v in t.villages
        ]
    elif kind == "township":
        codes = [t.code for p in services.policies.values() for t in p.townships]
    elif kind in ("county", "operator"):
        codes = sorted(services.policies)
    else:
        return ""
    return f"\n{kind} codes: {', '.join(codes)}" if codes else ""


@user_app.command("list")
def list_() -> None:
    """List every user with role, place and state."""
    from intake.users import list_users

    services = _services()
    with services.db.read() as db:
        users = list_users(db)
        if not users:
            typer.echo("no users yet; add one with: hotline user add NAME --role ROLE --place CODE")
        for user in users:
            place = user.village_code or user.township_code or user.region_code or "*"
            state = "disabled" if user.disabled_at else "active"
            chat = f" chat={user.chat_channel}" if user.chat_channel else ""
            typer.echo(f"{user.username}\t{user.role}\t{place}\t{state}\t{user.display_name}{chat}")


@user_app.command("disable")
def disable(username: str) -> None:
    """Refuse the user's logins and end their sessions."""
    _change(username, "disable")


@user_app.command("reset-password")
def reset(
    username: str,
    generate: Annotated[bool, typer.Option(help="Print a random password.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Set a new password (and re-enable the user); their old sessions end."""
    password = _password(generate, password_stdin)
    _change(username, "reset", password)
    if generate:
        typer.echo(f"password: {password}")


@user_app.command("invite")
def invite(username: str) -> None:
    """Make a one-time link code (72 hours) for the cadre to link their chat for the digest."""
    from sqlmodel import select

    from intake.helpers.links import LINK_LIFETIME, deep_link_payload, new_user_link_code
    from intake.users import User

    services = _services()
    with services.db.write() as db:
        user = db.exec(select(User).where(User.username == username.lower())).first()
        if user is None or user.id is None or user.disabled_at is not None:
            _fail(f"no active user {username!r}")
            return
        code = new_user_link_code(
            db, services.cipher, user_id=user.id, actor="cli", now=services.clock()
        )
    hours = int(LINK_LIFETIME.total_seconds() // 3600)
    typer.echo(f"链接码 / link code: {code}")
    typer.echo(f"{hours}小时内有效，只能用一次 / valid for {hours} hours, once")
    payload = deep_link_payload(code)
    bot = services.settings.telegram_bot_username
    if bot:
        typer.echo(f"Telegram: https://t.me/{bot}?start={payload}")
    typer.echo(f"/start {payload}")


def _change(username: str, what: str, value: str = "") -> None:
    from intake.users import UserError, disable_user, reset_password

    services = _services()
    now = services.clock()
    try:
        with services.db.write() as db:
            if what == "disable":
                disable_user(db, username, actor="cli", now=now)
            else:
                reset_password(db, username, value, actor="cli", now=now)
    except UserError as error:
        _fail(str(error))
    typer.echo(f"{what}: {username.lower()} done")
